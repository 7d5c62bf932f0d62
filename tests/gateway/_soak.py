"""The soak driver (issue 8): many mixed requests from many concurrent clients, one gateway.

``tests/gateway/test_soak.py`` runs it with CI's numbers and ``bench/soak.py`` with any. Each
request is chosen together with the statuses it may get, decided *before* it is sent from what
the driver itself did (it made every job, knows whose it is, and deletes only its own), so any
other answer is a finding. The mix: creates (JSON and multipart) and remixes, bounded in number
because every one is a render; polls of known ids; list walks page by page; downloads (whole,
``Range``, every variant); deletes of finished and unfinished jobs; and bad input of many kinds.

Keys keep the checks exact: the ``tenants`` keys are never deleted from, so a list walk over one
of them must see every video the key made before the walk began, in order, once; the ``doomed``
key's videos are the ones deleted (half at once after their create, while the render is
queued or running, the rest once seen completed); the ``narrow`` key may not use the model the
soak creates with. Requests run on one aiohttp session (cheap per request, so the gateway and
the renders get the CPU); every loop is bounded by a request count, and a whole run
(``_soak_run.soak_gateway``) by a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ._soak_bad import MODEL, SECONDS, send_bad
from .conftest import png_bytes

NARROW_MODEL = "sora-2"  # the one model the narrow key may use
SIZE = "720x1280"  # the smallest the local engine makes
TERMINAL = ("completed", "failed")
ENVELOPE_KEYS = {"message", "type", "param", "code"}


def _loopback(url: str) -> str:
    host = urlsplit(url).hostname or ""
    if host not in ("localhost", "::1") and not host.startswith("127."):
        raise ValueError(f"the soak only runs against loopback, not {url}")
    return url.rstrip("/")


# -- what the driver knows ----------------------------------------------------------------------


@dataclass
class Job:
    """A video the driver created (its create answered 200)."""

    id: str
    key: str
    size: str
    status: str = "queued"  # as last seen
    # When an answer saying completed or failed arrived (monotonic): from then on the job
    # must stay so, but answers to polls sent *before* then may still arrive, and say less.
    terminal_at: float | None = None
    busy: int = 0  # requests in flight that name this video
    deleting: bool = False
    deleted: bool = False
    sizes: dict[str, int] = field(default_factory=dict)  # variant -> bytes, once downloaded
    error_code: str | None = None


@dataclass(frozen=True)
class Sample:
    """One request: what came back, against what had to."""

    kind: str
    status: int  # 0: no HTTP answer (connection error or timeout)
    expected: tuple[int, ...]
    seconds: float
    envelope: bool | None  # for a 4xx: whether the body was OpenAI's error envelope
    detail: str = ""


@dataclass
class Tally:
    """The samples of one phase, and the consistency problems seen during it."""

    samples: list[Sample]
    problems: list[tuple[str, str]]  # (category, what)
    elapsed: float

    @property
    def server_errors(self) -> list[Sample]:
        return [s for s in self.samples if s.status >= 500]

    @property
    def transport_errors(self) -> list[Sample]:
        return [s for s in self.samples if s.status == 0]

    @property
    def unexpected(self) -> list[Sample]:
        return [s for s in self.samples if s.status not in s.expected]

    def durations(self) -> dict[str, list[float]]:
        found: dict[str, list[float]] = defaultdict(list)
        for s in self.samples:
            found[s.kind].append(s.seconds)
        return dict(found)

    @property
    def requests_per_second(self) -> float:
        return len(self.samples) / self.elapsed if self.elapsed else 0.0


@dataclass(frozen=True)
class Keys:
    tenants: tuple[str, ...]
    doomed: str
    narrow: str


@dataclass
class Reply:
    status: int
    body: bytes
    headers: Any
    ok: bool  # the status was one of the expected ones

    def json(self) -> Any:
        return json.loads(self.body)


def _is_envelope(body: bytes) -> bool:
    try:
        data = json.loads(body)
    except ValueError:
        return False
    error = data.get("error") if isinstance(data, dict) else None
    return (
        isinstance(error, dict)
        and set(error) >= ENVELOPE_KEYS
        and isinstance(error["message"], str)
        and isinstance(error["type"], str)
    )


# -- the driver ---------------------------------------------------------------------------------

# Relative weights of the non-create steps. Creates are spread evenly over a phase on their own
# budget; a step whose precondition is not met yet (nothing completed to download) polls instead.
_MIX: tuple[tuple[str, int], ...] = (
    ("poll", 34),
    ("list", 14),
    ("download", 17),
    ("delete_finished", 3),
    ("list_doomed", 2),
    ("bad", 30),
)
REMIX_SHARE = 0.12  # of creates, once a tenant has a completed video
DOOMED_SHARE = 0.3  # of creates, made by the doomed key
DELETE_AT_ONCE = 0.5  # of the doomed key's creates: deleted straight after, unfinished
MULTIPART_SHARE = 0.2  # of creates: multipart with a reference image
MAX_WALK_PAGES = 8


class Soak:
    """Drives one gateway; create it with :meth:`open`, then :meth:`run` phases, then
    :meth:`settle` and :meth:`verify`."""

    def __init__(
        self, base_url: str, keys: Keys, *, seed: int = 8, max_upload_bytes: int | None = None
    ) -> None:
        self.base = _loopback(base_url)
        self.keys = keys
        self.rng = random.Random(seed)
        self.max_upload_bytes = max_upload_bytes
        self.jobs: dict[str, Job] = {}
        self.by_key: dict[str, list[Job]] = {k: [] for k in (*keys.tenants, keys.doomed)}
        self.png = png_bytes()
        self.session: aiohttp.ClientSession | None = None
        self.samples: list[Sample] = []
        self.problems: list[tuple[str, str]] = []
        self.walks = 0
        self.pages = 0
        self.deleted_unfinished = 0
        self.deleted_finished = 0
        self._budget = 0
        self._issued = 0
        self._creates_left = 0

    @classmethod
    async def open(cls, base_url: str, master_key: str, *, tenants: int = 4, **kwargs: Any) -> Soak:
        """Make the soak's keys with the master key."""
        made = []
        async with aiohttp.ClientSession() as session:
            for alias, models in [(f"soak-tenant-{i}", []) for i in range(tenants)] + [
                ("soak-doomed", []),
                ("soak-narrow", [NARROW_MODEL]),
            ]:
                async with session.post(
                    _loopback(base_url) + "/key/generate",
                    json={"key_alias": alias, "models": models},
                    headers={"Authorization": f"Bearer {master_key}"},
                ) as resp:
                    body = await resp.json()
                    if resp.status != 200:
                        raise RuntimeError(f"/key/generate: {resp.status} {body}")
                    made.append(body["key"])
        keys = Keys(tenants=tuple(made[:tenants]), doomed=made[tenants], narrow=made[-1])
        return cls(base_url, keys, **kwargs)

    # -- sessions and requests --------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def connected(self, concurrency: int) -> AsyncIterator[None]:
        """One session (at most ``concurrency`` connections) for the phases run inside."""
        connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            self.session = session
            try:
                yield
            finally:
                self.session = None

    def _ticket(self) -> bool:
        if self._issued >= self._budget:
            return False
        self._issued += 1
        return True

    async def send(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        key: str | None,
        expected: tuple[int, ...],
        counted: bool = True,
        **kwargs: Any,
    ) -> Reply | None:
        """One request, recorded as a :class:`Sample`; ``None`` when the phase's budget is
        spent (nothing sent) or nothing came back."""
        if counted and not self._ticket():
            return None
        assert self.session is not None, "use `async with soak.connected(...)`"
        headers = dict(kwargs.pop("headers", None) or {})
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        started = time.perf_counter()
        try:
            async with self.session.request(
                method, self.base + path, headers=headers, **kwargs
            ) as resp:
                body = await resp.read()
                status, got = resp.status, resp.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            sample = Sample(kind, 0, expected, time.perf_counter() - started, None, repr(exc))
            self.samples.append(sample)
            return None
        envelope = _is_envelope(body) if 400 <= status < 500 else None
        detail = "" if status in expected else f"{method} {path}: {body[:300]!r}"
        self.samples.append(
            Sample(kind, status, expected, time.perf_counter() - started, envelope, detail)
        )
        return Reply(status, body, got, status in expected)

    def _problem(self, category: str, text: str) -> None:
        """A consistency problem: ``job`` (lost, stuck, wrong state), ``content`` or ``list``."""
        self.problems.append((category, text))

    # -- phases -----------------------------------------------------------------------------

    async def run(self, *, requests: int, creates: int, concurrency: int) -> Tally:
        """``requests`` counted requests (``creates`` of them creates or remixes) from
        ``concurrency`` workers."""
        first_sample, first_problem = len(self.samples), len(self.problems)
        self._budget, self._issued, self._creates_left = requests, 0, creates
        started = time.monotonic()
        await asyncio.gather(*(self._worker() for _ in range(concurrency)))
        return Tally(
            self.samples[first_sample:],
            self.problems[first_problem:],
            time.monotonic() - started,
        )

    async def _worker(self) -> None:
        while self._issued < self._budget:
            await self._step()

    async def _step(self) -> None:
        left = self._budget - self._issued
        if self._creates_left > 0 and self.rng.random() < self._creates_left / left:
            self._creates_left -= 1
            await self._create_step()
            return
        kinds, weights = zip(*_MIX, strict=True)
        kind = self.rng.choices(kinds, weights)[0]
        if kind == "bad":
            await send_bad(self)
        elif kind == "list":
            await self._walk(self.rng.choice(self.keys.tenants))
        elif kind == "list_doomed":
            await self._list_doomed()
        elif kind == "download" and (job := self.pick(completed=True)) is not None:
            await self._download(job)
        elif kind == "delete_finished" and (job := self._pick_doomed_completed()) is not None:
            await self._delete(job, "delete_finished")
        elif (job := self.pick()) is not None:
            await self._poll(job)
        else:
            await send_bad(self)

    def pick(self, *, completed: bool = False, key: str | None = None) -> Job | None:
        """A live job to read: mostly unfinished ones when polling (as clients do)."""
        pool = self.by_key[key] if key else None
        candidates = [
            j
            for j in (pool if pool is not None else self.jobs.values())
            if not j.deleting and (j.status == "completed" or not completed)
        ]
        if not candidates:
            return None
        if not completed:
            waiting = [j for j in candidates if j.status not in TERMINAL]
            if waiting and self.rng.random() < 0.7:
                candidates = waiting
        return self.rng.choice(candidates)

    def _pick_doomed_completed(self) -> Job | None:
        found = [
            j
            for j in self.by_key[self.keys.doomed]
            if j.status == "completed" and not j.deleting and j.busy == 0
        ]
        # Keep about a third of them to the end, to check they survive the others' deletes.
        if len(found) <= len(self.by_key[self.keys.doomed]) // 3:
            return None
        return self.rng.choice(found) if found else None

    # -- creates, remixes and deletes ---------------------------------------------------------

    async def _create_step(self) -> None:
        tenant = self.rng.choice(self.keys.tenants)
        sources = [j for j in self.by_key[tenant] if j.status == "completed"]
        if sources and self.rng.random() < REMIX_SHARE:
            await self._remix(self.rng.choice(sources))
            return
        doomed = self.rng.random() < DOOMED_SHARE
        job = await self._create(self.keys.doomed if doomed else tenant)
        # (Never with the last tickets, which are kept for the creates still to come.)
        spare = self._budget - self._issued > self._creates_left
        if job is not None and doomed and spare and self.rng.random() < DELETE_AT_ONCE:
            await self._delete(job, "delete_unfinished")

    async def _create(self, key: str) -> Job | None:
        prompt = f"soak {secrets.token_hex(4)}: a lighthouse at dusk"
        if self.rng.random() < MULTIPART_SHARE:
            form = aiohttp.FormData()
            for name, value in (
                ("prompt", prompt),
                ("model", MODEL),
                ("seconds", SECONDS),
                ("size", SIZE),
            ):
                form.add_field(name, value)
            form.add_field(
                "input_reference", self.png, filename="start.png", content_type="image/png"
            )
            reply = await self.send(
                "create_multipart", "POST", "/v1/videos", key=key, expected=(200,), data=form
            )
        else:
            body = {"prompt": prompt, "model": MODEL, "seconds": SECONDS, "size": SIZE}
            reply = await self.send(
                "create", "POST", "/v1/videos", key=key, expected=(200,), json=body
            )
        return self._accepted(reply, key)

    async def _remix(self, source: Job) -> None:
        source.busy += 1
        try:
            reply = await self.send(
                "remix",
                "POST",
                f"/v1/videos/{source.id}/remix",
                key=source.key,
                expected=(200,),
                json={"prompt": f"remix {secrets.token_hex(3)}: now at night"},
            )
        finally:
            source.busy -= 1
        job = self._accepted(reply, source.key)
        if job is not None and reply is not None:
            remixed_from = reply.json().get("remixed_from_video_id")
            if remixed_from != source.id:
                self._problem("job", f"remix of {source.id} says remixed_from={remixed_from}")

    def _accepted(self, reply: Reply | None, key: str) -> Job | None:
        if reply is None or not reply.ok:
            return None
        video = reply.json()
        if video.get("status") not in ("queued", "in_progress") or video.get("size") != SIZE:
            self._problem("job", f"create answered {video}")
        job = Job(id=video["id"], key=key, size=video.get("size", SIZE))
        if job.id in self.jobs:
            self._problem("job", f"create returned an existing id {job.id}")
        self.jobs[job.id] = job
        self.by_key[key].append(job)
        return job

    async def _delete(self, job: Job, kind: str) -> None:
        if job.busy or job.deleting:
            return
        job.deleting = True  # from here no other request names it (it may be gone any time)
        unfinished = job.status not in TERMINAL
        reply = await self.send(
            kind, "DELETE", f"/v1/videos/{job.id}", key=job.key, expected=(200,)
        )
        if reply is None:
            job.deleting = False  # budget spent before it was sent; nothing happened
            return
        if reply.ok:
            body = reply.json()
            if body != {"id": job.id, "object": "video.deleted", "deleted": True}:
                self._problem("job", f"delete of {job.id} answered {body}")
            job.deleted = True
            if unfinished:
                self.deleted_unfinished += 1
            else:
                self.deleted_finished += 1

    # -- reads ------------------------------------------------------------------------------

    async def _poll(self, job: Job, *, counted: bool = True) -> None:
        sent = time.monotonic()
        job.busy += 1
        try:
            reply = await self.send(
                "poll" if counted else "settle_poll",
                "GET",
                f"/v1/videos/{job.id}",
                key=job.key,
                expected=(200,),
                counted=counted,
            )
        finally:
            job.busy -= 1
        if reply is None or not reply.ok:
            return
        video = reply.json()
        if video.get("id") != job.id or video.get("object") != "video":
            self._problem("job", f"poll of {job.id} answered {video}")
            return
        status = video.get("status")
        if job.terminal_at is not None:
            if sent > job.terminal_at and status != job.status:
                self._problem("job", f"{job.id} was {job.status}, then {status} again")
            return
        job.status = status
        if status in TERMINAL:
            job.terminal_at = time.monotonic()
        if status == "failed":
            job.error_code = (video.get("error") or {}).get("code")

    async def _download(self, job: Job) -> None:
        variant = self.rng.choice(("video", "video", "video", "thumbnail", "spritesheet"))
        path = f"/v1/videos/{job.id}/content"
        params = {} if variant == "video" and self.rng.random() < 0.5 else {"variant": variant}
        known = job.sizes.get(variant)
        ranged = known is not None and known > 200 and self.rng.random() < 0.4
        headers: dict[str, str] = {}
        if ranged:
            assert known is not None
            start = self.rng.randrange(0, known - 100)
            end = start + self.rng.randrange(1, 100)
            headers["Range"] = f"bytes={start}-{end}"
        job.busy += 1
        try:
            reply = await self.send(
                "download_range" if ranged else f"download_{variant}",
                "GET",
                path,
                key=job.key,
                expected=(206,) if ranged else (200,),
                params=params,
                headers=headers,
            )
        finally:
            job.busy -= 1
        if reply is None or not reply.ok:
            return
        if ranged:
            want = f"bytes {start}-{end}/{known}"
            if reply.headers.get("content-range") != want or len(reply.body) != end - start + 1:
                self._problem(
                    "content",
                    f"Range {start}-{end} of {job.id}: {reply.headers.get('content-range')}, "
                    f"{len(reply.body)} bytes",
                )
            return
        size = len(reply.body)
        if int(reply.headers.get("content-length", -1)) != size or size == 0:
            self._problem("content", f"{variant} of {job.id}: {size} bytes, {reply.headers}")
        if variant == "video" and reply.body[4:8] != b"ftyp":
            self._problem("content", f"video of {job.id} is not an MP4: {reply.body[:16]!r}")
        if known is not None and known != size:
            self._problem("content", f"{variant} of {job.id} changed size: {known} then {size}")
        job.sizes[variant] = size

    async def _walk(self, key: str) -> None:
        """Page through ``key``'s list (a tenant's: nothing of it is ever deleted)."""
        order = self.rng.choice(("desc", "desc", "asc"))
        limit = self.rng.choice((1, 3, 7, 20, 50, 100))
        before = {j.id for j in self.by_key[key]}  # answered before the walk starts
        others = {j.id for j in self.jobs.values() if j.key != key}
        seen: list[tuple[str, int]] = []  # (id, created_at)
        after: str | None = None
        complete = False
        self.walks += 1
        for _ in range(MAX_WALK_PAGES):
            params: dict[str, str] = {"limit": str(limit), "order": order}
            if after:
                params["after"] = after
            reply = await self.send(
                "list_page", "GET", "/v1/videos", key=key, expected=(200,), params=params
            )
            if reply is None or not reply.ok:
                return
            self.pages += 1
            page = reply.json()
            ids = [v["id"] for v in page["data"]]
            if ids and (page["first_id"], page["last_id"]) != (ids[0], ids[-1]):
                self._problem("list", f"list page first/last ids wrong: {page['first_id']}")
            if len(ids) > limit:
                self._problem("list", f"list page of {len(ids)} > limit {limit}")
            seen += [(v["id"], v["created_at"]) for v in page["data"]]
            if not page["has_more"]:
                complete = True
                break
            after = page["last_id"]
        self._check_walk(key, seen, order, before, others, complete=complete)

    def _check_walk(
        self,
        key: str,
        seen: list[tuple[str, int]],
        order: str,
        before: set[str],
        others: set[str],
        *,
        complete: bool,
    ) -> None:
        ids = [i for i, _ in seen]
        if len(ids) != len(set(ids)):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            self._problem("list", f"list walk ({order}) saw ids twice: {dupes[:5]}")
        if leaked := set(ids) & others:
            self._problem(
                "list", f"list walk of one key saw another key's videos: {sorted(leaked)[:5]}"
            )
        times = [t for _, t in seen]
        if times != sorted(times, reverse=order == "desc"):
            self._problem("list", f"list walk ({order}) out of order: {times[:20]}")
        if complete and (missing := before - set(ids)):
            self._problem(
                "list",
                f"a full list walk ({order}) missed {len(missing)} videos: {sorted(missing)[:5]}",
            )

    async def _list_doomed(self) -> None:
        """One page of the doomed key's list: no cursor, so deletes cannot race it."""
        reply = await self.send(
            "list_doomed",
            "GET",
            "/v1/videos",
            key=self.keys.doomed,
            expected=(200,),
            params={"limit": "100"},
        )
        if reply is not None and reply.ok:
            ids = [v["id"] for v in reply.json()["data"]]
            if len(ids) != len(set(ids)):
                self._problem("list", "the doomed key's list page holds an id twice")
            foreign = {i for i in ids if i in self.jobs and self.jobs[i].key != self.keys.doomed}
            if foreign:
                self._problem("list", f"the doomed key's list shows others' videos: {foreign}")

    # -- the end: every job settles, and each is what it should be ----------------------------

    async def settle(self, *, timeout: float, concurrency: int = 16) -> list[Job]:
        """Poll every live unfinished job until it is terminal; returns the ones still not
        terminal after ``timeout`` seconds (stuck jobs)."""
        deadline = time.monotonic() + timeout
        while True:
            waiting = [j for j in self.jobs.values() if not j.deleted and j.status not in TERMINAL]
            if not waiting or time.monotonic() > deadline:
                return waiting
            for start in range(0, len(waiting), concurrency):
                batch = waiting[start : start + concurrency]
                await asyncio.gather(*(self._poll(j, counted=False) for j in batch))
            await asyncio.sleep(0.2)

    async def verify(self, check_video: Callable[[bytes, str], Awaitable[str | None]]) -> None:
        """Every job the driver made is where it should be: a deleted one is a 404 (and in no
        list), a completed one downloads whole (``check_video(data, size)`` returns what is
        wrong, or ``None``), a failed one names its error; each key's full list is exactly
        its live videos."""
        for job in self.jobs.values():
            reply = await self.send(
                "verify_get",
                "GET",
                f"/v1/videos/{job.id}",
                key=job.key,
                expected=(404,) if job.deleted else (200,),
                counted=False,
            )
            if reply is None or not reply.ok:
                self._problem("job", f"{job.id} ({'deleted' if job.deleted else job.status}) lost")
                continue
            if job.deleted:
                continue
            video = reply.json()
            job.status = video["status"]
            if job.status == "failed":
                job.error_code = (video.get("error") or {}).get("code")
                if not job.error_code:
                    self._problem("job", f"{job.id} failed without an error code: {video}")
            elif job.status == "completed":
                await self._verify_content(job, check_video)
            else:
                self._problem("job", f"{job.id} still {job.status} at the end")
        for key in self.by_key:
            await self._verify_list(key)

    async def _verify_content(
        self, job: Job, check_video: Callable[[bytes, str], Awaitable[str | None]]
    ) -> None:
        for variant in ("video", "thumbnail", "spritesheet"):
            reply = await self.send(
                "verify_content",
                "GET",
                f"/v1/videos/{job.id}/content",
                key=job.key,
                expected=(200,),
                counted=False,
                params={"variant": variant},
            )
            if reply is None or not reply.ok:
                self._problem("content", f"{variant} of completed {job.id} not downloadable")
                continue
            size = len(reply.body)
            if int(reply.headers.get("content-length", -1)) != size:
                self._problem("content", f"{variant} of {job.id}: content-length wrong")
            if variant in job.sizes and job.sizes[variant] != size:
                self._problem(
                    "content", f"{variant} of {job.id}: {size} bytes, earlier {job.sizes[variant]}"
                )
            if variant == "video" and (wrong := await check_video(reply.body, job.size)):
                self._problem("content", f"video of {job.id}: {wrong}")

    async def _verify_list(self, key: str) -> None:
        live = {j.id for j in self.by_key[key] if not j.deleted}
        seen: list[str] = []
        after: str | None = None
        for _ in range(len(self.by_key[key]) // 100 + 2):
            params = {"limit": "100", **({"after": after} if after else {})}
            reply = await self.send(
                "verify_list",
                "GET",
                "/v1/videos",
                key=key,
                expected=(200,),
                counted=False,
                params=params,
            )
            if reply is None or not reply.ok:
                self._problem("list", "final list walk failed")
                return
            page = reply.json()
            seen += [v["id"] for v in page["data"]]
            if not page["has_more"]:
                break
            after = page["last_id"]
        if len(seen) != len(set(seen)) or set(seen) != live:
            self._problem(
                "list",
                f"final list of a key: {len(seen)} ids ({len(set(seen))} distinct), "
                f"missing {sorted(live - set(seen))[:3]}, extra {sorted(set(seen) - live)[:3]}",
            )


__all__ = ["Job", "Keys", "Reply", "Sample", "Soak", "Tally"]
