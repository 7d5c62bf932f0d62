"""``GET /spend/logs``: what each video cost, filtered by key, model and date.

One entry per job (deleted ones included: they were charged, or refunded, and the history
should say so). The master key sees every key; any other key sees its own entries.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from ..._exceptions import BadRequestError, PermissionDeniedError
from ..state import CallerDep, State
from ..store import JobRecord

router = APIRouter(tags=["spend"])


def _day(text: str | None, param: str, *, end: bool = False) -> int | None:
    """``YYYY-MM-DD`` (UTC) → unix seconds; an end date includes its whole day."""
    if text is None:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise BadRequestError(
            f"Invalid value for '{param}': '{text}'; expected a date like 2026-01-31.",
            param=param,
            code="invalid_value",
        ) from None
    if end:
        day += dt.timedelta(days=1)
    return int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp())


def spend_entry(job: JobRecord) -> dict[str, Any]:
    return {
        "request_id": job.id,
        "key_id": job.owner_key_id,
        "model": job.model,
        "provider": job.provider,
        "status": "failed" if job.status == "cancelled" else job.status,
        "seconds": job.seconds,
        "size": job.size,
        "spend": round(job.cost, 4),
        "estimated_cost": round(job.estimated_cost, 4),
        "settled_cost": None if job.settled_cost is None else round(job.settled_cost, 4),
        "refunded": job.settled_cost == 0 and job.estimated_cost > 0,
        "deleted": job.deleted_at is not None,
        "created_at": job.created_at,
        "completed_at": job.completed_at,
    }


@router.get("/spend/logs")
async def spend_logs(
    state: State,
    caller: CallerDep,
    key_id: str | None = Query(default=None, max_length=64),
    model: str | None = Query(default=None, max_length=200),
    start_date: str | None = Query(default=None, max_length=10),
    end_date: str | None = Query(default=None, max_length=10),
    limit: int = Query(default=100, ge=1, le=1000),
) -> JSONResponse:
    """Spend entries, newest first."""
    owner = key_id
    if not caller.admin:
        if key_id is not None and key_id != caller.owner:
            raise PermissionDeniedError(
                "Only the master key may read another key's spend.", code="master_key_required"
            )
        owner = caller.owner
    jobs = await state.db.call(
        state.db.jobs.spend_logs,
        owner=owner,
        model=model,
        start=_day(start_date, "start_date"),
        end=_day(end_date, "end_date", end=True),
        limit=limit,
    )
    return JSONResponse([spend_entry(j) for j in jobs])
