"""The gateway's database: job records, API keys and spend, through SQLAlchemy 2.x Core.

SQLite (WAL) by default; PostgreSQL (``postgresql+psycopg://user:pass@host/db``, psycopg 3)
for several gateways on one database, with the same schema, migrations and queries. Store
methods are synchronous and short; async code calls them through :meth:`Database.call`, which
runs them in a worker thread so the event loop never waits on the disk or the network.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import anyio.to_thread
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from .jobs import JobRecord, JobStore
from .keys import KeyRecord, KeyStore
from .leases import LeaseStore
from .migrations import migrate
from .retention import RetentionStore

P = ParamSpec("P")
T = TypeVar("T")

__all__ = ["Database", "JobRecord", "JobStore", "KeyRecord", "KeyStore", "LeaseStore"]


class Database:
    """One SQLAlchemy engine, migrated on open, with the job, key and lease stores on top.

    ``retention_seconds`` is the gateway's retention (see :class:`JobStore`)."""

    def __init__(self, url: str, *, retention_seconds: int | None = None) -> None:
        self.url = url
        self.engine = _make_engine(url)
        self.jobs = JobStore(self.engine, retention_seconds=retention_seconds)
        self.keys = KeyStore(self.engine)
        self.leases = LeaseStore(self.engine)
        self.retention = RetentionStore(self.engine)

    def migrate(self) -> int:
        """Bring the schema up to date; returns its version."""
        return migrate(self.engine)

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a store method in a worker thread."""
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))

    def close(self) -> None:
        self.engine.dispose()


# Connections per gateway: API requests and the poller share them (each call holds one briefly).
PG_POOL_SIZE = 10
PG_MAX_OVERFLOW = 20


def _make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        # A bare PostgreSQL URL (as hosting platforms hand out) means psycopg 3, the driver
        # this package depends on (SQLAlchemy's own default would be psycopg2).
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "sqlite":
        return create_engine(
            parsed, pool_pre_ping=True, pool_size=PG_POOL_SIZE, max_overflow=PG_MAX_OVERFLOW
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        # WAL: readers never block the writer, and a killed process loses no committed row.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine
