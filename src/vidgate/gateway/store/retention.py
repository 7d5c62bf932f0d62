"""Retention: when a finished video's content expires, and which expired content to sweep.

A completed job's ``expires_at`` is its ``completed_at`` plus its key's ``retention_seconds``,
else the gateway's retention; with neither it stays ``null`` and the video is kept forever.
Once expired, its content answers 404 ``video_expired`` while the record stays; the sweeper
(``gateway/sweeper.py``) deletes the stored files and clears ``storage_path``, so a job is
swept once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, select, update

from .schema import api_keys, jobs

if TYPE_CHECKING:  # ``jobs`` imports this module
    from .jobs import JobRecord


def set_expiry(conn: Connection, job: JobRecord, *, completed_at: int, default: int | None) -> None:
    """Set the just-completed ``job``'s ``expires_at`` (inside the completing transaction)."""
    retention = conn.execute(
        select(api_keys.c.retention_seconds).where(api_keys.c.id == job.owner_key_id)
    ).scalar()
    if retention is None:
        retention = default
    if retention is not None:
        conn.execute(
            update(jobs).where(jobs.c.id == job.id).values(expires_at=completed_at + retention)
        )


class RetentionStore:
    """The sweeper's queries."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def expired(self, now: float, limit: int) -> list[tuple[str, str]]:
        """Up to ``limit`` ``(job id, storage path)`` of jobs past ``expires_at`` whose files
        are not yet swept, oldest expiry first (deleted jobs too: files may remain)."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(jobs.c.id, jobs.c.storage_path)
                .where(jobs.c.expires_at <= now, jobs.c.storage_path.is_not(None))
                .order_by(jobs.c.expires_at, jobs.c.seq)
                .limit(limit)
            ).all()
        return [(row[0], row[1]) for row in rows]

    def mark_swept(self, job_ids: list[str]) -> None:
        """These jobs' files are deleted: clear ``storage_path`` so none is swept twice (the
        record stays, ``expires_at`` and all)."""
        if job_ids:
            with self._engine.begin() as conn:
                conn.execute(update(jobs).where(jobs.c.id.in_(job_ids)).values(storage_path=None))
