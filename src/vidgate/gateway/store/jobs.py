"""Job records: every video the gateway accepted, owned by the key that made it.

Life of a record: inserted (``queued``, no ``upstream_id``) *before* the upstream create, with
its estimated cost charged to the key in the same transaction; given its ``upstream_id`` once
the provider accepted it; moved by the poller to ``completed`` (after the files are stored)
or ``failed`` (cost refunded). Deleting is soft (``deleted_at``) so spend history survives.

Several gateways may share one database, and every one runs a poller. A poller polls a job
only while it holds the job's *lease* (``claimed_by``, ``claimed_until``): :meth:`JobStore.claim`
takes it with one atomic ``UPDATE`` that succeeds only if the lease is free (never taken,
released, or expired), so no two instances poll, or copy the content of, one job at once. The
holder renews it while a long copy runs and releases it when done; a gateway that dies holding
it strands nothing: the lease expires and another instance (or the restarted one) takes over.
Leases are judged by the gateways' clocks (like ``next_poll_at``), so hosts should keep them
synchronized (NTP); a lease is many seconds long, far above ordinary skew.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, Engine, and_, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from .keys import adjust, charge
from .retention import set_expiry
from .schema import jobs

ACTIVE = ("queued", "in_progress")


class BudgetExceeded(Exception):
    """The key's ``max_budget`` cannot cover this job's estimated cost."""


@dataclass
class JobRecord:
    """One row of ``jobs`` (see the module docstring for its life)."""

    id: str
    owner_key_id: str
    model: str
    deployment: str
    provider: str
    upstream_model: str
    request: dict[str, Any]
    size: str
    seconds: str
    prompt: str | None
    estimated_cost: float
    created_at: int
    status: str = "queued"
    progress: int = 0
    upstream_id: str | None = None
    remixed_from: str | None = None
    updated_at: int = 0
    completed_at: int | None = None
    expires_at: int | None = None
    error: dict[str, Any] | None = None
    settled_cost: float | None = None
    storage_path: str | None = None
    idempotency_key: str | None = None
    idempotency_fingerprint: str | None = None
    next_poll_at: float = 0.0
    attempts: int = 0
    deleted_at: int | None = None
    # False when no price is known: cost_usd is then null, and counts as 0 against budgets.
    priced: bool = True
    # The poll lease (see the module docstring): who holds it and until when.
    claimed_by: str | None = None
    claimed_until: float | None = None
    seq: int | None = field(default=None, compare=False)

    @property
    def cost(self) -> float:
        """What the job costs now: settled if terminal, else the estimate."""
        return self.settled_cost if self.settled_cost is not None else self.estimated_cost

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "owner_key_id": self.owner_key_id,
            "model": self.model,
            "deployment": self.deployment,
            "provider": self.provider,
            "upstream_model": self.upstream_model,
            "upstream_id": self.upstream_id,
            "request_json": json.dumps(self.request),
            "prompt": self.prompt,
            "size": self.size,
            "seconds": self.seconds,
            "remixed_from": self.remixed_from,
            "status": self.status,
            "progress": self.progress,
            "created_at": self.created_at,
            "updated_at": self.updated_at or self.created_at,
            "completed_at": self.completed_at,
            "expires_at": self.expires_at,
            "error_json": json.dumps(self.error) if self.error else None,
            "estimated_cost": self.estimated_cost,
            "settled_cost": self.settled_cost,
            "storage_path": self.storage_path,
            "idempotency_key": self.idempotency_key,
            "idempotency_fingerprint": self.idempotency_fingerprint,
            "next_poll_at": self.next_poll_at,
            "attempts": self.attempts,
            "deleted_at": self.deleted_at,
            "priced": self.priced,
            "claimed_by": self.claimed_by,
            "claimed_until": self.claimed_until,
        }


def _pollable() -> tuple[ColumnElement[bool], ...]:
    """Accepted by the provider, not finished, not deleted: what the poller works on."""
    return (
        jobs.c.status.in_(ACTIVE),
        jobs.c.upstream_id.is_not(None),
        jobs.c.deleted_at.is_(None),
    )


def _unclaimed(now: float) -> ColumnElement[bool]:
    """Nobody holds the job's lease at ``now`` (never taken, released, or expired)."""
    return or_(jobs.c.claimed_until.is_(None), jobs.c.claimed_until < now)


def _record(row: Any) -> JobRecord:
    m = row._mapping
    return JobRecord(
        id=m["id"],
        owner_key_id=m["owner_key_id"],
        model=m["model"],
        deployment=m["deployment"],
        provider=m["provider"],
        upstream_model=m["upstream_model"],
        request=json.loads(m["request_json"]),
        size=m["size"],
        seconds=m["seconds"],
        prompt=m["prompt"],
        estimated_cost=float(m["estimated_cost"]),
        priced=bool(m["priced"]),
        created_at=m["created_at"],
        status=m["status"],
        progress=m["progress"],
        upstream_id=m["upstream_id"],
        remixed_from=m["remixed_from"],
        updated_at=m["updated_at"],
        completed_at=m["completed_at"],
        expires_at=m["expires_at"],
        error=json.loads(m["error_json"]) if m["error_json"] else None,
        settled_cost=m["settled_cost"],
        storage_path=m["storage_path"],
        idempotency_key=m["idempotency_key"],
        idempotency_fingerprint=m["idempotency_fingerprint"],
        next_poll_at=m["next_poll_at"],
        attempts=m["attempts"],
        deleted_at=m["deleted_at"],
        claimed_by=m["claimed_by"],
        claimed_until=m["claimed_until"],
        seq=m["seq"],
    )


class JobStore:
    """Queries and state changes on job records. Each method is one short transaction."""

    def __init__(self, engine: Engine, *, retention_seconds: int | None = None) -> None:
        self._engine = engine
        self.retention_seconds = retention_seconds  # the gateway's (see ``set_expiry``)

    # -- create ------------------------------------------------------------------------------

    def insert(self, job: JobRecord) -> tuple[JobRecord, bool]:
        """Insert ``job`` and charge its estimate to the owner; returns ``(record, created)``.

        With an idempotency key already used by this owner, nothing is inserted or charged
        and the existing record comes back with ``created=False`` (the unique index makes
        concurrent duplicates collapse to one row).

        Raises:
            BudgetExceeded: the owner's budget cannot cover the estimate.
        """
        try:
            with self._engine.begin() as conn:
                # The write that takes the lock goes first (see ``keys.charge``).
                conn.execute(jobs.insert().values(**job.row()))
                if not charge(conn, job.owner_key_id, job.estimated_cost):
                    raise BudgetExceeded
        except IntegrityError:
            if job.idempotency_key is None:
                raise
            existing = self.by_idempotency_key(job.owner_key_id, job.idempotency_key)
            if existing is None:  # the other insert was rolled back meanwhile: try again
                return self.insert(job)
            return existing, False
        stored = self.get(job.id)
        assert stored is not None
        return stored, True

    def by_idempotency_key(self, owner: str, key: str) -> JobRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(jobs).where(jobs.c.owner_key_id == owner, jobs.c.idempotency_key == key)
            ).first()
        return _record(row) if row else None

    def release_idempotency_key(self, job_id: str) -> None:
        """Free the job's idempotency key (it expired, or the job was deleted)."""
        with self._engine.begin() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(idempotency_key=None, idempotency_fingerprint=None)
            )

    def set_upstream(
        self, job_id: str, upstream_id: str, *, status: str, progress: int
    ) -> JobRecord | None:
        """Record the provider's id once it accepted the job (polling starts now); returns
        the job as it now is (``None`` if it is gone).

        A job that ended meanwhile (deleted, or failed by another gateway's start-up recovery)
        keeps its final status and refund: only the id is recorded."""
        now = time.time()
        still_active = jobs.c.status.in_(ACTIVE)
        with self._engine.begin() as conn:
            row = conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(
                    upstream_id=upstream_id,
                    status=case((still_active, status), else_=jobs.c.status),
                    progress=case((still_active, progress), else_=jobs.c.progress),
                    updated_at=int(now),
                    next_poll_at=now,
                    # The submit lease ends here: the poller may take the job now.
                    claimed_by=None,
                    claimed_until=None,
                )
                .returning(*jobs.c)
            ).first()
        return _record(row) if row is not None else None

    def discard(self, job_id: str) -> None:
        """Remove a job the provider refused at create, refunding its estimate: the caller
        got an error, not a video, so there is nothing to keep."""
        with self._engine.begin() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
            if row is None:
                return
            job = _record(row)
            conn.execute(jobs.delete().where(jobs.c.id == job_id))
            adjust(conn, job.owner_key_id, -job.estimated_cost)

    # -- read --------------------------------------------------------------------------------

    def get(self, job_id: str, *, owner: str | None = None) -> JobRecord | None:
        """A live (not deleted) job; with ``owner``, only if that key owns it."""
        query = select(jobs).where(jobs.c.id == job_id, jobs.c.deleted_at.is_(None))
        if owner is not None:
            query = query.where(jobs.c.owner_key_id == owner)
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return _record(row) if row else None

    def page(
        self, owner: str, *, after_seq: int | None, order: Literal["asc", "desc"], limit: int
    ) -> tuple[list[JobRecord], bool]:
        """One page of the owner's live jobs and whether more follow."""
        query = select(jobs).where(jobs.c.owner_key_id == owner, jobs.c.deleted_at.is_(None))
        if after_seq is not None:
            query = query.where(
                jobs.c.seq > after_seq if order == "asc" else jobs.c.seq < after_seq
            )
        query = query.order_by(jobs.c.seq.asc() if order == "asc" else jobs.c.seq.desc())
        with self._engine.connect() as conn:
            rows = conn.execute(query.limit(limit + 1)).all()
        return [_record(r) for r in rows[:limit]], len(rows) > limit

    def due(self, now: float, limit: int) -> list[JobRecord]:
        """Accepted, unfinished, unclaimed jobs whose next poll is due, oldest due first.

        A read only: the poller then :meth:`claim` s each job before polling it."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(jobs)
                .where(*_pollable(), jobs.c.next_poll_at <= now, _unclaimed(now))
                .order_by(jobs.c.next_poll_at)
                .limit(limit)
            ).all()
        return [_record(r) for r in rows]

    def next_due_at(self) -> float | None:
        """When the next poll falls due: a claimed job's not before its lease ends."""
        due_at = case(
            (jobs.c.claimed_until > jobs.c.next_poll_at, jobs.c.claimed_until),
            else_=jobs.c.next_poll_at,
        )
        with self._engine.connect() as conn:
            value = conn.execute(select(func.min(due_at)).where(*_pollable())).scalar()
        return float(value) if value is not None else None

    # -- poll leases (several gateways on one database) --------------------------------------

    def claim(self, job_id: str, *, holder: str, now: float, lease: float) -> JobRecord | None:
        """Take the poll lease of a due job until ``now + lease``; returns the job as it is
        now, or ``None`` if another poller holds it, it is not due, or it has finished.

        One ``UPDATE`` whose condition is re-checked on the row it changes, so of several
        pollers racing for a job exactly one wins: SQLite runs writes one at a time, and
        PostgreSQL locks the row (``FOR UPDATE SKIP LOCKED``: a row another claim is taking
        is skipped, not waited for).
        """
        free = (*_pollable(), jobs.c.next_poll_at <= now, _unclaimed(now))
        pick = (
            select(jobs.c.seq)
            .where(jobs.c.id == job_id, *free)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        with self._engine.begin() as conn:
            row = conn.execute(
                update(jobs)
                .where(jobs.c.seq == pick, *free)
                .values(claimed_by=holder, claimed_until=now + lease)
                .returning(*jobs.c)
            ).first()
        return _record(row) if row else None

    def renew(self, job_id: str, *, holder: str, now: float, lease: float) -> bool:
        """Extend a lease ``holder`` still has; ``False`` if it lost it (it expired and
        another poller took the job) or released it."""
        with self._engine.begin() as conn:
            result = conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.claimed_by == holder)
                .values(claimed_until=now + lease)
            )
        return result.rowcount > 0

    def release(self, job_id: str, *, holder: str) -> None:
        """Give the lease back (if ``holder`` still has it): the job is free to poll again."""
        with self._engine.begin() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.claimed_by == holder)
                .values(claimed_by=None, claimed_until=None)
            )

    def unsubmitted(self) -> list[JobRecord]:
        """Jobs written but never given an upstream id: a gateway died in between."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(jobs).where(
                    jobs.c.status.in_(ACTIVE),
                    jobs.c.upstream_id.is_(None),
                    jobs.c.deleted_at.is_(None),
                )
            ).all()
        return [_record(r) for r in rows]

    def spend_logs(
        self,
        *,
        owner: str | None,
        model: str | None,
        start: int | None,
        end: int | None,
        limit: int,
    ) -> list[JobRecord]:
        """Jobs (deleted ones too: they were charged) for the spend report, newest first."""
        conditions = []
        if owner is not None:
            conditions.append(jobs.c.owner_key_id == owner)
        if model is not None:
            conditions.append(jobs.c.model == model)
        if start is not None:
            conditions.append(jobs.c.created_at >= start)
        if end is not None:
            conditions.append(jobs.c.created_at < end)
        query = select(jobs).where(and_(*conditions)) if conditions else select(jobs)
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(jobs.c.seq.desc()).limit(limit)).all()
        return [_record(r) for r in rows]

    def counts_by_status(self) -> dict[str, int]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(jobs.c.status, func.count())
                .where(jobs.c.deleted_at.is_(None))
                .group_by(jobs.c.status)
            ).all()
        return {status: int(count) for status, count in rows}

    def spend_by_model(self) -> dict[str, float]:
        cost = func.coalesce(jobs.c.settled_cost, jobs.c.estimated_cost)
        with self._engine.connect() as conn:
            rows = conn.execute(select(jobs.c.model, func.sum(cost)).group_by(jobs.c.model)).all()
        return {model: float(total or 0.0) for model, total in rows}

    def release_all(self, *, holder: str) -> int:
        """Give back every lease ``holder`` has (a gateway stopping); returns how many."""
        with self._engine.begin() as conn:
            result = conn.execute(
                update(jobs)
                .where(jobs.c.claimed_by == holder)
                .values(claimed_by=None, claimed_until=None)
            )
        return result.rowcount

    # -- poller updates ----------------------------------------------------------------------

    def update_progress(
        self, job_id: str, *, status: str, progress: int, next_poll_at: float, attempts: int
    ) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status.in_(ACTIVE))
                .values(
                    status=status,
                    progress=progress,
                    next_poll_at=next_poll_at,
                    attempts=attempts,
                    updated_at=int(time.time()),
                )
            )

    def complete(self, job_id: str, *, storage_path: str, settled_cost: float) -> bool:
        """Mark completed with its files stored; settles the cost. ``False`` if it was
        deleted or finished meanwhile."""
        now = int(time.time())
        with self._engine.begin() as conn:
            result = conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status.in_(ACTIVE))
                .values(
                    status="completed",
                    progress=100,
                    completed_at=now,
                    updated_at=now,
                    storage_path=storage_path,
                    settled_cost=settled_cost,
                )
            )
            if result.rowcount == 0:
                return False
            job = _record(conn.execute(select(jobs).where(jobs.c.id == job_id)).one())
            adjust(conn, job.owner_key_id, settled_cost - job.estimated_cost)
            set_expiry(conn, job, completed_at=now, default=self.retention_seconds)
        return True

    def fail(self, job_id: str, error: dict[str, Any]) -> bool:
        """Mark failed with the provider's error and refund the estimate."""
        now = int(time.time())
        with self._engine.begin() as conn:
            result = conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status.in_(ACTIVE))
                .values(
                    status="failed",
                    error_json=json.dumps(error),
                    completed_at=now,
                    updated_at=now,
                    settled_cost=0.0,
                )
            )
            if result.rowcount == 0:
                return False
            job = _record(conn.execute(select(jobs).where(jobs.c.id == job_id)).one())
            adjust(conn, job.owner_key_id, -job.estimated_cost)
        return True

    def delete(self, job_id: str) -> JobRecord | None:
        """Soft-delete; an unfinished job is refunded (it will never be delivered)."""
        now = int(time.time())
        with self._engine.begin() as conn:
            result = conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.deleted_at.is_(None))
                .values(deleted_at=now, updated_at=now, idempotency_key=None)
            )
            if result.rowcount == 0:
                return None
            job = _record(conn.execute(select(jobs).where(jobs.c.id == job_id)).one())
            if job.status in ACTIVE:
                conn.execute(
                    update(jobs)
                    .where(jobs.c.id == job_id)
                    .values(settled_cost=0.0, status="cancelled")
                )
                adjust(conn, job.owner_key_id, -job.estimated_cost)
        return job
