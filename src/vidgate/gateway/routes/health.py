"""Liveness, readiness and Prometheus metrics (no key needed: they reveal no videos)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from ..state import State

router = APIRouter(tags=["health"])


@router.get("/health/liveliness")
@router.get("/health/liveness")
async def liveliness() -> JSONResponse:
    """The process is up and its event loop answers."""
    return JSONResponse({"status": "healthy"})


@router.get("/health/readiness")
async def readiness(state: State) -> JSONResponse:
    """Ready to serve: started, and the database answers."""

    def ping() -> None:
        with state.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    try:
        await state.db.call(ping)
    except Exception as exc:  # any database failure means "not ready", never a 500
        return JSONResponse(
            {"status": "unhealthy", "db": f"error: {type(exc).__name__}"}, status_code=503
        )
    if not state.ready:
        return JSONResponse({"status": "starting", "db": "connected"}, status_code=503)
    return JSONResponse({"status": "healthy", "db": "connected"})


@router.get("/metrics")
async def metrics(state: State) -> Response:
    """Requests, latency, poller outcomes, jobs by status and spend, for Prometheus."""
    body = await state.db.call(generate_latest, state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
