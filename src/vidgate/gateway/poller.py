"""The background poller: moves accepted jobs to their terminal state, server side.

Clients' ``GET /videos/{id}`` read the record only; this task is the one that asks providers,
at each provider's cadence (``Provider.poll_interval``, or the provider's
``openai-poll-after-ms`` hint). When a job completes, its video, thumbnail and spritesheet are
copied to storage (streamed; the images made locally with PyAV where the provider has none)
*before* the record says ``completed``, so a download never races the copy.

Every gateway on a shared database runs one of these. A poller polls a job only while it holds
the job's lease (see ``store/jobs.py``): taken just before the poll, renewed every
``LEASE_RENEW_EVERY`` seconds while a long copy runs, released when the poll is recorded. A
gateway killed mid-poll leaves a lease that ends within ``LEASE_SECONDS``; then another
instance polls the job and finishes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from .._engine import Engine
from .._exceptions import APIError, APIStatusError
from .._poll import next_poll_interval
from .._retry import backoff
from ..types.video import Video, VideoContentVariant
from .metrics import Metrics
from .mp4 import whole_mp4
from .router import ModelRouter, Route
from .storage import Storage
from .store import Database, JobRecord
from .store.jobs import ACTIVE
from .webhooks import Webhooks

log = logging.getLogger("vidgate.gateway.poller")

# How long stop() waits for cancelled polls to end.
STOP_GRACE = 10.0
# How often a live gateway looks for creates a dead one left half-done (seconds).
RECOVER_EVERY = 30.0
IDLE_WAIT = 1.0  # seconds between checks for due jobs when nothing wakes the poller
MAX_BACKOFF = 60.0
# Consecutive failed polls (network down, provider 5xx) before a job is given up as failed.
MAX_POLL_ERRORS = 40
# Errors that asking again will not mend: an answer vidgate cannot read, or a link (or a
# redirect) to an address the gateway may not fetch. A job gets a few tries at them (a deploy
# in progress can garble an answer or two), then fails with that error's code.
PERMANENT_CODES = frozenset({"upstream_protocol_error", "outbound_url_refused"})
MAX_PERMANENT_ERRORS = 3
# The poll lease: long enough that a live poller renews it many times over before it ends (a
# renewal is one short UPDATE), short enough that a dead gateway's jobs wait little.
LEASE_SECONDS = 15.0
WAKE_COALESCE = 0.02
LEASE_RENEW_EVERY = 5.0


def instance_id() -> str:
    """This gateway process's name on leases: host, pid and a random tag (<= 64 chars)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


def holder_alive(holder: str | None) -> bool | None:
    """Whether the gateway named ``holder`` still runs: known only for this host (its pid is
    checked); ``None`` for another host, whose lease must simply run out."""
    if not holder:
        return False
    host, _, rest = holder.partition(":")
    if host != socket.gethostname()[:40]:
        return None
    pid = rest.partition(":")[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Poller:
    """One asyncio task per gateway. ``wake()`` makes it look for due jobs now."""

    def __init__(
        self,
        *,
        db: Database,
        router: ModelRouter,
        engine: Engine,
        storage: Storage,
        metrics: Metrics,
        concurrency: int,
        webhooks: Webhooks | None = None,
    ) -> None:
        self.webhooks = webhooks or Webhooks([])
        self.db = db
        self.router = router
        self.engine = engine
        self.storage = storage
        self.metrics = metrics
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._wake = asyncio.Event()
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self.instance = instance_id()
        # Set by the app: finishes creates a dead gateway left half-done (the video service's
        # ``recover``). Every live gateway runs it now and then, not only at its own start, so
        # a replica that dies for good is covered by the others once its leases run out.
        self.recover: Callable[[], Awaitable[None]] | None = None
        self.recover_every = RECOVER_EVERY
        self._recovered_at = time.monotonic()
        self._recovering: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="vidgate-poller")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, self._recovering, *self._busy.values()) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a poll stuck where cancellation cannot reach (a worker thread) must not
            # hold up a shutdown; its lease runs out and another gateway takes the job.
            _done, stuck = await asyncio.wait(tasks, timeout=STOP_GRACE)
            if stuck:
                log.warning("%d poll(s) did not stop within %.0f s", len(stuck), STOP_GRACE)
        # Hand back any lease a cancelled poll could not, so other gateways (or this one,
        # restarted) need not wait for it to end.
        try:
            await self.db.call(self.db.jobs.release_all, holder=self.instance)
        except Exception:
            log.warning("could not release this gateway's leases", exc_info=True)

    def wake(self) -> None:
        self._wake.set()

    def _maybe_recover(self) -> None:
        """Start a recovery run when one is due. It runs beside the polls, not in their way
        (it may resend a create, which takes as long as the provider takes to answer), and
        one at a time."""
        due = time.monotonic() - self._recovered_at >= self.recover_every
        running = self._recovering is not None and not self._recovering.done()
        if self.recover is not None and due and not running:
            self._recovered_at = time.monotonic()
            self._recovering = asyncio.create_task(self._recover(self.recover))

    @staticmethod
    async def _recover(recover: Callable[[], Awaitable[None]]) -> None:
        try:
            await recover()
        except Exception:  # a database hiccup: the next run tries again
            log.warning("recovery of half-created jobs failed", exc_info=True)

    async def _run(self) -> None:
        while True:
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bad tick (database hiccup) must not end polling
                log.exception("poller tick failed")
                await asyncio.sleep(IDLE_WAIT)

    async def _tick(self) -> None:
        self._maybe_recover()
        due, next_at = await self.db.call(self._scan, time.time(), self._concurrency * 4)
        for job in due:
            if job.id not in self._busy:
                task = asyncio.create_task(self._guarded(job))
                self._busy[job.id] = task
                task.add_done_callback(self._forget(job.id))
        wait = IDLE_WAIT if next_at is None else min(IDLE_WAIT, max(0.01, next_at - time.time()))
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=wait)
        # Every create wakes the poller; a short pause lets a burst of them share one scan
        # instead of each paying for its own (they compete with the requests for the database).
        await asyncio.sleep(WAKE_COALESCE)

    def _scan(self, now: float, limit: int) -> tuple[list[JobRecord], float | None]:
        """The due jobs and when the next one falls due, in one trip to a database thread."""
        return self.db.jobs.due(now, limit), self.db.jobs.next_due_at()

    def _forget(self, job_id: str) -> Callable[[asyncio.Task[None]], None]:
        def forget(_task: asyncio.Task[None]) -> None:
            self._busy.pop(job_id, None)

        return forget

    async def _guarded(self, job: JobRecord) -> None:
        async with self._slots:
            # ``due`` was read before this job's previous poll may have finished, and another
            # gateway may be polling it: take its lease, which re-reads it too, so a job is
            # never polled (and copied) twice at once, nor again once it completed.
            fresh = await self.db.call(
                self.db.jobs.claim,
                job.id,
                holder=self.instance,
                now=time.time(),
                lease=LEASE_SECONDS,
            )
            if fresh is None or fresh.status not in ACTIVE:
                return
            try:
                async with self._leased(fresh.id):
                    await self.poll(fresh)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("polling %s failed unexpectedly", job.id)
                await self._retry_later(fresh, None)
            finally:
                # Shielded: when the gateway stops, the release must still reach the database.
                await asyncio.shield(self._release(fresh.id))

    async def _release(self, job_id: str) -> None:
        try:
            await self.db.call(self.db.jobs.release, job_id, holder=self.instance)
        except Exception:  # the lease then just expires
            log.warning("could not release the lease on %s", job_id, exc_info=True)
        self.wake()  # its next poll may be due sooner than the lease would have ended

    @contextlib.asynccontextmanager
    async def _leased(self, job_id: str) -> AsyncIterator[None]:
        """Renew the job's lease while the body runs; if the lease is lost (this process
        stalled past it and another gateway took the job), stop the body: the other one
        polls it now."""
        body = asyncio.current_task()
        assert body is not None
        lost = False

        async def renew() -> None:
            nonlocal lost
            while True:
                await asyncio.sleep(LEASE_RENEW_EVERY)
                try:
                    held = await self.db.call(
                        self.db.jobs.renew,
                        job_id,
                        holder=self.instance,
                        now=time.time(),
                        lease=LEASE_SECONDS,
                    )
                except Exception:  # a database hiccup: the lease has time left, try again
                    log.warning("could not renew the lease on %s", job_id, exc_info=True)
                    continue
                if not held:
                    lost = True
                    body.cancel()
                    return

        renewer = asyncio.create_task(renew(), name=f"vidgate-lease-{job_id}")
        try:
            yield
        except asyncio.CancelledError:
            if not lost:
                raise
            body.uncancel()
            log.warning("lost the lease on %s to another gateway; left it to that one", job_id)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer

    # -- one job -----------------------------------------------------------------------------

    async def poll(self, job: JobRecord) -> None:
        """Check one job upstream and record what changed."""
        route = self.router.by_id(
            job.deployment, provider=job.provider, upstream_model=job.upstream_model
        )
        if route is None or job.upstream_id is None:
            await self._fail(
                job.id,
                {"code": "deployment_unavailable", "message": "Its deployment was removed."},
            )
            return
        try:
            video, headers = await self._retrieve(route, job.upstream_id)
        except APIError as exc:
            self.metrics.polls.labels(route.provider_name, "error").inc()
            if isinstance(exc, APIStatusError) and exc.status_code == 404:
                await self._fail(
                    job.id,
                    {"code": "upstream_not_found", "message": "The provider lost this job."},
                )
                return
            await self._retry_later(job, route, exc)
            return
        self.metrics.polls.labels(route.provider_name, video.status).inc()
        if video.status == "failed":
            error = video.error.model_dump() if video.error else None
            await self._fail(
                job.id,
                error or {"code": "generation_failed", "message": "The provider failed."},
            )
            return
        if video.status == "completed":
            await self._finish(job, route)
            return
        interval = next_poll_interval(headers, requested=None, default=route.poll_every())
        await self.db.call(
            self.db.jobs.update_progress,
            job.id,
            status=video.status,
            progress=max(job.progress, min(video.progress, 99)),
            next_poll_at=time.time() + interval,
            attempts=0,
        )

    async def _fail(self, job_id: str, error: dict[str, Any]) -> None:
        """Record the failure (refunding the estimate) and tell the subscribers."""
        if await self.db.call(self.db.jobs.fail, job_id, error):
            self.webhooks.emit(job_id, "video.failed")

    async def _retrieve(self, route: Route, upstream_id: str) -> tuple[Video, Mapping[str, str]]:
        return await self.engine.run_with_headers(
            route.provider,
            route.provider.retrieve(upstream_id, model=route.upstream_model),
            timeout=route.timeout,
            max_retries=0,
        )

    async def _retry_later(
        self, job: JobRecord, route: Route | None, exc: Exception | None = None
    ) -> None:
        attempts = job.attempts + 1
        if isinstance(exc, APIError) and exc.code in PERMANENT_CODES:
            if attempts >= MAX_PERMANENT_ERRORS:
                await self._fail(job.id, {"code": exc.code, "message": exc.message})
                return
        elif attempts >= MAX_POLL_ERRORS:
            await self._fail(
                job.id,
                {"code": "upstream_unavailable", "message": f"Polling kept failing: {exc}"},
            )
            return
        base = route.poll_every() if route else IDLE_WAIT
        delay = backoff(attempts - 1, base=base, cap=MAX_BACKOFF)
        log.info("poll of %s failed (%s); retrying in %.1f s", job.id, exc, delay)
        await self.db.call(
            self.db.jobs.update_progress,
            job.id,
            status=job.status,
            progress=job.progress,
            next_poll_at=time.time() + delay,
            attempts=attempts,
        )

    # -- completion --------------------------------------------------------------------------

    async def _finish(self, job: JobRecord, route: Route) -> None:
        assert job.upstream_id is not None
        location = self.storage.location(job.id)
        missing: list[VideoContentVariant] = []
        try:
            await self._copy(route, job.upstream_id, location, "video")
            for variant in ("thumbnail", "spritesheet"):
                if not await self._copy(route, job.upstream_id, location, variant):
                    missing.append(variant)
        except APIError as exc:
            await self._retry_later(job, route, exc)
            return
        if missing:
            await self._derive(location, missing)
        settled = route.estimate(job.size, job.seconds, job.request.get("extra_body"))
        if await self.db.call(
            self.db.jobs.complete, job.id, storage_path=location, settled_cost=settled
        ):
            self.webhooks.emit(job.id, "video.completed")
        else:
            # Deleted while we copied: drop the files we just wrote. (A job that another
            # poll completed meanwhile keeps them: they are its stored content.)
            current = await self.db.call(self.db.jobs.get, job.id)
            if current is None or current.status != "completed":
                self.storage.remove(job.id)

    async def _copy(
        self, route: Route, upstream_id: str, location: str, variant: VideoContentVariant
    ) -> bool:
        """Stream one variant to storage; ``False`` if the provider has none to give."""
        provider = route.provider
        try:
            source = await self.engine.run(
                provider,
                provider.content(upstream_id, model=route.upstream_model, variant=variant),
                timeout=route.timeout,
                max_retries=route.max_retries,
            )
            if source.derive is not None:
                return False
            if source.data is not None:  # returned inline (base64 in the status JSON)
                await self.storage.write(self.storage.file(location, variant), _once(source.data))
                return True
            if source.request is None:
                return False
            opened = await self.engine.open(
                provider, source.request, timeout=route.timeout, max_retries=route.max_retries
            )
        except APIStatusError as exc:
            if variant != "video" and 400 <= exc.status_code < 500:
                return False  # no such variant upstream: made locally instead
            raise
        try:
            # A body cut short at a wrong Content-Length still ends cleanly on the wire; an
            # MP4 whose boxes do not add up is caught here, before it is stored as complete.
            await self.storage.write(self.storage.file(location, variant), whole_mp4(opened.chunks))
        except OSError as exc:
            raise APIError(f"could not store {variant}: {exc}") from exc
        except Exception as exc:  # a connection lost mid-body: try the whole copy again later
            raise APIError(f"copying {variant} failed: {exc}") from exc
        finally:
            await opened.aclose()
        return True

    async def _derive(self, location: str, missing: list[VideoContentVariant]) -> None:
        video = self.storage.file(location, "video")
        try:
            made = await asyncio.to_thread(_make_variants, video)
        except Exception as exc:  # not a decodable video: serve it without images
            log.warning("could not make thumbnail/spritesheet for %s: %s", location, exc)
            return
        for variant, path in zip(("thumbnail", "spritesheet"), made, strict=True):
            if variant in missing:
                shutil.move(str(path), self.storage.file(location, variant))
        shutil.rmtree(made[0].parent, ignore_errors=True)


def _make_variants(video: Path) -> tuple[Path, Path]:
    from .._media import make_variants  # PyAV is loaded only when a provider needs it

    out = Path(tempfile.mkdtemp(prefix=".variants-", dir=video.parent))
    return make_variants(video, out)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
