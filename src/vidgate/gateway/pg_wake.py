"""Poller wake-ups between replicas through PostgreSQL ``LISTEN/NOTIFY``, for replicas that
share a PostgreSQL database but no Redis.

A create on one replica sends ``NOTIFY`` on :data:`CHANNEL` (its instance name as payload);
every replica keeps one connection listening and wakes its own poller when another replica
speaks. Never on the critical path: a lost notification only means the poller finds the job
on its own cadence, and a listener that loses its connection reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import make_url

log = logging.getLogger("vidgate.gateway.pg_wake")

CHANNEL = "vidgate_wake"
RECONNECT_WAIT = 1.0


def libpq_url(database_url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://...``) as libpq takes it."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def is_postgres(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


class PgWake:
    """``wake()`` wakes this replica's poller and tells the others; ``start``/``aclose`` run
    the listener."""

    def __init__(self, database_url: str, *, instance: str, wake: Callable[[], None]) -> None:
        self._url = libpq_url(database_url)
        self._instance = instance
        self._wake_local = wake
        self._task: asyncio.Task[None] | None = None
        self._sender: psycopg.AsyncConnection[object] | None = None
        # A burst of creates shares one sending connection: opened once, used in turn.
        self._sending = asyncio.Lock()
        self._pending: set[asyncio.Task[None]] = set()
        self.received = 0  # notifications from other replicas (for tests and metrics)

    def wake(self) -> None:
        self._wake_local()
        task = asyncio.create_task(self._notify())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _notify(self) -> None:
        try:
            async with self._sending:
                if self._sender is None or self._sender.closed:
                    self._sender = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
                await self._sender.execute("SELECT pg_notify(%s, %s)", (CHANNEL, self._instance))
        except psycopg.Error as exc:
            log.info("wake-up not sent (the others poll on their own cadence): %s", exc)
            self._sender = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="vidgate-pg-wake")

    async def _listen(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    async for note in conn.notifies():
                        if note.payload != self._instance:
                            self.received += 1
                            self._wake_local()
            except asyncio.CancelledError:
                raise
            except psycopg.Error as exc:
                log.info("wake-up listener lost its connection (%s); reconnecting", exc)
            await asyncio.sleep(RECONNECT_WAIT)

    async def aclose(self) -> None:
        for task in [self._task, *self._pending]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = None
        if self._sender is not None:
            await self._sender.close()
            self._sender = None
