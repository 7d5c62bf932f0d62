"""The retention sweeper: deletes the stored files of expired videos, the records stay.

Every ``interval`` seconds, the gateway that holds the ``sweeper`` lease (one at a time, see
``store/leases.py``) deletes expired content in passes of at most ``batch`` jobs, clearing
each job's ``storage_path`` so none is swept twice, until a pass finds fewer than ``batch``.
The lease is renewed before each pass; a gateway that loses it (it stalled past the lease)
stops. A stopped or dead sweeper strands nothing: its lease expires and another takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from .storage import Storage
from .store import Database

log = logging.getLogger("vidgate.gateway.sweeper")

LEASE_NAME = "sweeper"
SWEEP_INTERVAL = 60.0  # seconds between sweeps
SWEEP_BATCH = 100  # jobs per pass: bounds each transaction and the work between renewals
LEASE_SECONDS = 120.0  # far above one pass; a dead holder's lease ends within this


class Sweeper:
    """One asyncio task per gateway; sweeps only while it holds the lease."""

    def __init__(
        self,
        *,
        db: Database,
        storage: Storage,
        instance: str,
        interval: float = SWEEP_INTERVAL,
        batch: int = SWEEP_BATCH,
        lease: float = LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.storage = storage
        self.instance = instance
        self.interval = interval
        self.batch = batch
        self.lease = lease
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="vidgate-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):  # else the lease just expires
            await self.db.call(self.db.leases.release, LEASE_NAME, holder=self.instance)

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # a database hiccup: try again next time
                log.warning("retention sweep failed", exc_info=True)
            await asyncio.sleep(self.interval)

    async def sweep(self) -> list[int] | None:
        """Sweep now if this gateway gets the lease: the number of jobs swept by each pass,
        or ``None`` if another gateway holds the lease."""
        passes: list[int] = []
        while True:
            held = await self.db.call(
                self.db.leases.acquire,
                LEASE_NAME,
                holder=self.instance,
                now=self.clock(),
                ttl=self.lease,
            )
            if not held:
                return passes or None
            swept = await self.sweep_pass()
            if swept:
                passes.append(swept)
            if swept < self.batch:
                return passes

    async def sweep_pass(self) -> int:
        """Delete the files of up to ``batch`` expired jobs; returns how many."""
        due = await self.db.call(self.db.retention.expired, self.clock(), self.batch)
        for job_id, _location in due:
            await asyncio.to_thread(self.storage.remove, job_id)
        await self.db.call(self.db.retention.mark_swept, [job_id for job_id, _ in due])
        if due:
            log.info("retention: deleted the content of %d expired video(s)", len(due))
        return len(due)
