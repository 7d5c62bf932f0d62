"""Gateway-wide leases: work that one gateway at a time does (the retention sweeper).

A lease is a row of ``leases``: its ``name``, the ``holder`` (a gateway's instance id) and
``until`` when (unix seconds). :meth:`LeaseStore.acquire` takes or renews it with one
conditional ``UPDATE`` (free when expired, or already ours), which SQLite runs one at a time
and PostgreSQL re-checks on the locked row, so of several gateways racing exactly one wins.
A gateway that dies holding a lease strands nothing: it expires and another takes it.
"""

from __future__ import annotations

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.exc import IntegrityError

from .schema import leases


class LeaseStore:
    """Take, renew and give back named leases."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def acquire(self, name: str, *, holder: str, now: float, ttl: float) -> bool:
        """Hold ``name`` until ``now + ttl`` if it is free or ours; ``False`` if another
        gateway holds it."""
        if self._take(name, holder=holder, now=now, ttl=ttl):
            return True
        with self._engine.connect() as conn:
            exists = conn.execute(select(leases.c.name).where(leases.c.name == name)).first()
        if exists is not None:
            return False
        try:  # the first use of this name: make its row (free), then race for it
            with self._engine.begin() as conn:
                conn.execute(leases.insert().values(name=name, holder=None, until=0.0))
        except IntegrityError:
            pass  # another gateway made it meanwhile
        return self._take(name, holder=holder, now=now, ttl=ttl)

    def _take(self, name: str, *, holder: str, now: float, ttl: float) -> bool:
        with self._engine.begin() as conn:
            result = conn.execute(
                update(leases)
                .where(leases.c.name == name, or_(leases.c.until < now, leases.c.holder == holder))
                .values(holder=holder, until=now + ttl)
            )
        return result.rowcount > 0

    def release(self, name: str, *, holder: str) -> None:
        """Give ``name`` back, if ``holder`` still has it."""
        with self._engine.begin() as conn:
            conn.execute(
                update(leases)
                .where(leases.c.name == name, leases.c.holder == holder)
                .values(holder=None, until=0.0)
            )

    def holder(self, name: str, *, now: float) -> str | None:
        """Who holds ``name`` at ``now`` (``None``: nobody)."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(leases.c.holder).where(leases.c.name == name, leases.c.until >= now)
            ).first()
        return row[0] if row else None
