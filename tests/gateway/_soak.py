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
the renders get the CPU); every loop is bounded by a request count and a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import random
import secrets
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

MODEL = "local/preview"
NARROW_MODEL = "sora-2"  # the one model the narrow key may use
SIZE = "720x1280"  # the smallest the local engine makes
SECONDS = "1"
TERMINAL = ("completed", "failed")
ENVELOPE_KEYS = {"message", "type", "param", "code"}
# Request kinds whose 4xx body comes from Starlette's Range handling (plain text).
RANGE_ERROR_KINDS = ("bad_range_unsatisfiable", "bad_range_malformed")


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
    created: float  # when the create's answer arrived (monotonic)
    status: str = "queued"  # as last seen
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

    def missing_envelope(self, *, range_errors: bool) -> list[Sample]:
        """4xx answers without the envelope: ``range_errors`` picks the bad-Range kinds only
        (True) or everything else (False)."""
        return [
            s
            for s in self.samples
            if s.envelope is False and (s.kind in RANGE_ERROR_KINDS) == range_errors
        ]

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
class _Reply:
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


def png_bytes(width: int = 72, height: int = 128) -> bytes:
    """A small real PNG for multipart creates (the test conftest's, without pytest)."""
    import struct
    import zlib

    raw = (b"\x00" + bytes((30, 160, 90)) * width) * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + (chunk(b"IEND", b""))
    )


# -- the gateway process, seen from /proc ------------------------------------------------------


def rss_kib(pid: int) -> int:
    """``VmRSS`` of ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def children(pid: int) -> list[tuple[int, str]]:
    """``(pid, state)`` of every direct child of ``pid`` (``Z`` is a zombie: exited, unreaped)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append((int(entry), fields[0]))
    return found


@dataclass(frozen=True)
class Bad:
    """A request that must fail with ``status`` whatever the soak has done so far."""

    kind: str
    method: str
    path: str  # ``{forged}``: a made-up video id
    status: int
    json: Any = None
    data: bytes | None = None
    form: tuple[tuple[str, Any], ...] = ()  # value: a string, or (filename, bytes, type)
    params: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    auth: str = "tenant"  # tenant | narrow (may not use MODEL) | wrong | none


_V = "/v1/videos"
_ONE = "/v1/videos/{forged}"
_OK = {"prompt": "x", "model": MODEL, "seconds": SECONDS}
BAD: tuple[Bad, ...] = (
    Bad(
        "bad_malformed_json",
        "POST",
        _V,
        400,
        data=b'{"prompt": "half a bo',
        headers={"Content-Type": "application/json"},
    ),
    Bad("bad_json_array", "POST", _V, 400, json=["prompt", "x"]),
    Bad("bad_prompt_type", "POST", _V, 400, json={**_OK, "prompt": 42}),
    Bad("bad_empty_prompt", "POST", _V, 400, json={**_OK, "prompt": "  "}),
    Bad("bad_long_prompt", "POST", _V, 400, json={**_OK, "prompt": "x" * 32_001}),
    Bad("bad_seconds", "POST", _V, 400, json={**_OK, "seconds": "abc"}),
    Bad("bad_seconds", "POST", _V, 400, json={**_OK, "seconds": "21"}),
    Bad("bad_seconds", "POST", _V, 400, json={**_OK, "seconds": [1]}),
    Bad("bad_size", "POST", _V, 400, json={**_OK, "size": "13x13"}),
    Bad("bad_size", "POST", _V, 400, json={**_OK, "size": "720*1280"}),
    Bad("bad_size", "POST", _V, 400, json={**_OK, "size": 720}),
    Bad("bad_model", "POST", _V, 400, json={**_OK, "model": "nobody/nothing"}),
    # An unknown field goes to the provider, but never one that changes what is made.
    Bad("bad_reserved_extra", "POST", _V, 400, json={**_OK, "n": 2}),
    Bad(
        "bad_reference_string",
        "POST",
        _V,
        400,
        form=(("prompt", "x"), ("model", MODEL), ("input_reference", "not a file")),
    ),
    Bad(
        "bad_reference_bytes",
        "POST",
        _V,
        400,
        form=(("prompt", "x"), ("input_reference", ("a.png", b"GIF89a no", "image/png"))),
    ),
    Bad("bad_oversized_body", "POST", _V, 413),  # the body is made to measure
    Bad("bad_model_not_allowed", "POST", _V, 403, json=_OK, auth="narrow"),
    Bad("bad_missing_auth", "GET", _V, 401, auth="none"),
    Bad("bad_missing_auth", "POST", _V, 401, json=_OK, auth="none"),
    Bad("bad_wrong_key", "GET", _ONE, 401, auth="wrong"),
    Bad("bad_unknown_id", "GET", _ONE, 404),
    Bad("bad_unknown_id", "GET", _ONE + "/content", 404),
    Bad("bad_unknown_id", "DELETE", _ONE, 404),
    Bad("bad_unknown_id", "POST", _ONE + "/remix", 404, json={"prompt": "y"}),
    Bad("bad_list_params", "GET", _V, 400, params={"limit": "101"}),
    Bad("bad_list_params", "GET", _V, 400, params={"limit": "many"}),
    Bad("bad_list_params", "GET", _V, 400, params={"order": "sideways"}),
    Bad("bad_list_after", "GET", _V, 404, params={"after": "video_" + "e" * 48}),
    Bad("bad_route", "GET", "/v1/videoz", 404),
    Bad("bad_route", "PUT", _V, 405),
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
        self._named = (
            self._foreign_id,
            self._deleted_id,
            self._bad_variant,
            self._range_unsatisfiable,
            self._range_malformed,
            self._remix_bad_prompt,
        )

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

    async def _send(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        key: str | None,
        expected: tuple[int, ...],
        counted: bool = True,
        **kwargs: Any,
    ) -> _Reply | None:
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
        return _Reply(status, body, got, status in expected)

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
            await self._bad()
        elif kind == "list":
            await self._walk(self.rng.choice(self.keys.tenants))
        elif kind == "list_doomed":
            await self._list_doomed()
        elif kind == "download" and (job := self._pick(completed=True)) is not None:
            await self._download(job)
        elif kind == "delete_finished" and (job := self._pick_doomed_completed()) is not None:
            await self._delete(job, "delete_finished")
        elif (job := self._pick()) is not None:
            await self._poll(job)
        else:
            await self._bad()

    def _pick(self, *, completed: bool = False, key: str | None = None) -> Job | None:
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
        if job is not None and doomed and self.rng.random() < DELETE_AT_ONCE:
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
            reply = await self._send(
                "create_multipart", "POST", "/v1/videos", key=key, expected=(200,), data=form
            )
        else:
            body = {"prompt": prompt, "model": MODEL, "seconds": SECONDS, "size": SIZE}
            reply = await self._send(
                "create", "POST", "/v1/videos", key=key, expected=(200,), json=body
            )
        return self._accepted(reply, key)

    async def _remix(self, source: Job) -> None:
        source.busy += 1
        try:
            reply = await self._send(
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

    def _accepted(self, reply: _Reply | None, key: str) -> Job | None:
        if reply is None or not reply.ok:
            return None
        video = reply.json()
        if video.get("status") not in ("queued", "in_progress") or video.get("size") != SIZE:
            self._problem("job", f"create answered {video}")
        job = Job(id=video["id"], key=key, size=video.get("size", SIZE), created=time.monotonic())
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
        reply = await self._send(
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
        job.busy += 1
        try:
            reply = await self._send(
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
        if job.status in TERMINAL and status != job.status:
            self._problem("job", f"{job.id} went from {job.status} back to {status}")
        job.status = status
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
            reply = await self._send(
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
            reply = await self._send(
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
        reply = await self._send(
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

    # -- bad input: a fixed case from BAD, or one that names a video ---------------------------

    async def _bad(self) -> None:
        pick = self.rng.randrange(len(BAD) + len(self._named))
        if pick >= len(BAD):
            await self._named[pick - len(BAD)]()
            return
        bad = BAD[pick]
        if bad.kind == "bad_oversized_body" and self.max_upload_bytes is None:
            return
        key = {
            "tenant": self.rng.choice(self.keys.tenants),
            "narrow": self.keys.narrow,
            "wrong": "sk-" + secrets.token_hex(16),
            "none": None,
        }[bad.auth]
        kwargs: dict[str, Any] = {"params": bad.params, "headers": bad.headers}
        if bad.json is not None:
            kwargs["json"] = bad.json
        elif bad.data is not None:
            kwargs["data"] = bad.data
        elif bad.form:
            form = aiohttp.FormData()
            for name, value in bad.form:
                if isinstance(value, tuple):
                    form.add_field(name, value[1], filename=value[0], content_type=value[2])
                else:
                    form.add_field(name, value)
            kwargs["data"] = form
        if bad.kind == "bad_oversized_body":
            assert self.max_upload_bytes is not None
            kwargs["json"] = {"prompt": "x", "model": MODEL, "pad": "y" * self.max_upload_bytes}
        path = bad.path.format(forged="video_" + secrets.token_hex(24))
        await self._send(bad.kind, bad.method, path, key=key, expected=(bad.status,), **kwargs)

    async def _held(self, job: Job, kind: str, method: str, suffix: str, **kwargs: Any) -> None:
        """A request about ``job`` that must fail (``expected`` in kwargs), job held busy."""
        job.busy += 1
        try:
            await self._send(kind, method, f"/v1/videos/{job.id}{suffix}", **kwargs)
        finally:
            job.busy -= 1

    async def _foreign_id(self) -> None:
        """Another tenant's live video, by every route: a 404, and the video stays."""
        job = self._pick(key=self.rng.choice(self.keys.tenants))
        if job is None:
            return
        other = self.rng.choice([k for k in self.keys.tenants if k != job.key])
        method, suffix = self.rng.choice(
            (("GET", ""), ("GET", "/content"), ("DELETE", ""), ("POST", "/remix"))
        )
        body = {"json": {"prompt": "mine now"}} if method == "POST" else {}
        await self._held(job, "bad_foreign_id", method, suffix, key=other, expected=(404,), **body)

    async def _deleted_id(self) -> None:
        gone = [j for j in self.by_key[self.keys.doomed] if j.deleted]
        if gone:
            job = self.rng.choice(gone)
            method = self.rng.choice(("GET", "DELETE"))
            await self._held(job, "bad_deleted_id", method, "", key=job.key, expected=(404,))

    async def _bad_variant(self) -> None:
        if job := self._pick():  # checked before the job's state: any live job will do
            params = {"variant": "poster"}
            await self._held(
                job, "bad_variant", "GET", "/content", key=job.key, expected=(400,), params=params
            )

    async def _range_unsatisfiable(self) -> None:
        if job := self._pick(completed=True):
            headers = {"Range": "bytes=900000000-"}
            kind = "bad_range_unsatisfiable"
            await self._held(
                job, kind, "GET", "/content", key=job.key, expected=(416,), headers=headers
            )

    async def _range_malformed(self) -> None:
        if job := self._pick(completed=True):
            # RFC 9110 lets a server refuse a malformed range either way (400 or 416).
            headers = {"Range": self.rng.choice(("bytes=abc-def", "bytes=50-10", "bytes=--3"))}
            kind = "bad_range_malformed"
            await self._held(
                job, kind, "GET", "/content", key=job.key, expected=(400, 416), headers=headers
            )

    async def _remix_bad_prompt(self) -> None:
        if job := self._pick(completed=True):
            body = {"prompt": ["not", "a", "string"]}
            await self._held(
                job, "bad_remix_prompt", "POST", "/remix", key=job.key, expected=(400,), json=body
            )

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
            reply = await self._send(
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
            reply = await self._send(
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
            reply = await self._send(
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


@dataclass
class Run:
    """A whole soak: the warm-up and main phases, the end state, and the gateway's process
    figures (RSS in KiB, open fds) after the warm-up and after the run."""

    soak: Soak
    warmup: Tally
    main: Tally
    stuck: list[Job]
    rss_before: int
    rss_after: int
    fds_before: int
    fds_after: int
    zombies: list[int]  # children of the gateway left in state Z
    seconds: float


async def _quiet(pid: int, *, settle: float = 0.5, timeout: float = 10.0) -> tuple[int, int]:
    """RSS and fds once the fd count has stopped moving (closed connections take a moment
    to be closed on the server side too)."""
    deadline = time.monotonic() + timeout
    last, since = open_fds(pid), time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        now = open_fds(pid)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= settle:
            break
    return rss_kib(pid), open_fds(pid)


async def soak_gateway(
    base_url: str,
    master_key: str,
    pid: int,
    *,
    requests: int,
    concurrency: int,
    creates: int,
    warmup_requests: int,
    warmup_creates: int,
    settle_timeout: float,
    timeout: float,
    max_upload_bytes: int | None = None,
    seed: int = 8,
) -> Run:
    """Warm up, measure, run, let every job settle, verify, measure again.

    Both measurements are taken with the driver's connections closed and no render running,
    so they compare like with like. A job not terminal ``settle_timeout`` seconds after its
    phase is stuck (reported in ``Run.stuck``); the whole soak raises ``TimeoutError`` after
    ``timeout`` seconds, so a hung gateway fails the run instead of hanging it."""
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        soak = await Soak.open(base_url, master_key, seed=seed, max_upload_bytes=max_upload_bytes)
        async with soak.connected(concurrency):
            warmup = await soak.run(
                requests=warmup_requests, creates=warmup_creates, concurrency=concurrency
            )
            stuck = await soak.settle(timeout=settle_timeout)
        rss_before, fds_before = await _quiet(pid)
        async with soak.connected(concurrency):
            main = await soak.run(requests=requests, creates=creates, concurrency=concurrency)
            stuck += await soak.settle(timeout=settle_timeout)
            await soak.verify(video_problem)
        rss_after, fds_after = await _quiet(pid)
    zombies = [child for child, state in children(pid) if state == "Z"]
    return Run(
        soak,
        warmup,
        main,
        stuck,
        rss_before,
        rss_after,
        fds_before,
        fds_after,
        zombies,
        time.monotonic() - started,
    )


async def video_problem(data: bytes, size: str) -> str | None:
    """What is wrong with an MP4 that should be ``size`` (``WxH``), or ``None``."""
    import av

    def probe() -> str | None:
        if data[4:8] != b"ftyp":
            return "not an MP4"
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            got = f"{stream.codec_context.width}x{stream.codec_context.height}"
        return None if got == size else f"{got}, asked for {size}"

    return await asyncio.to_thread(probe)


__all__ = [
    "Job",
    "Keys",
    "Run",
    "Sample",
    "Soak",
    "Tally",
    "children",
    "open_fds",
    "png_bytes",
    "rss_kib",
    "soak_gateway",
    "video_problem",
]
