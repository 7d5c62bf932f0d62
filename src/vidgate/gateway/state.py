"""The gateway's state, made once per app and handed to routes as FastAPI dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from .._engine import Engine
from .auth import Caller, bearer_token, check_key, master_caller
from .config import Settings
from .limits import RateLimiter
from .metrics import Metrics
from .pg_wake import PgWake
from .poller import Poller
from .router import ModelRouter
from .service import VideoService
from .storage import Storage
from .store import Database


@dataclass
class GatewayState:
    """Everything one app owns: settings, database, engine, storage, poller, metrics."""

    settings: Settings
    db: Database
    router: ModelRouter
    engine: Engine
    storage: Storage
    limiter: RateLimiter
    metrics: Metrics
    poller: Poller
    videos: VideoService
    # Wake-ups between replicas on PostgreSQL without Redis (``pg_wake``), else ``None``.
    wakes: PgWake | None = None
    ready: bool = False


def get_state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


State = Annotated[GatewayState, Depends(get_state)]


async def authenticate(request: Request, state: State) -> Caller:
    """The caller of this request (401 if its key is missing, unknown, revoked or expired)."""
    token = bearer_token(request)
    master_key = state.settings.master_key
    # The master key needs no database: answer it here, without a thread hop.
    master = master_caller(token, master_key)
    if master is not None:
        return master
    return await state.db.call(check_key, token, master_key=master_key, find=state.db.keys.by_hash)


CallerDep = Annotated[Caller, Depends(authenticate)]
