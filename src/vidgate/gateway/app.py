"""The app factory: ``create_app(settings)`` builds a FastAPI app that owns its state.

Nothing lives at module level: two apps in one process (a test running a gateway in front
of another) share nothing. The lifespan opens the database (migrating it), storage and the
HTTP engine, resubmits or fails jobs a killed gateway left half-created, and starts the
poller and the retention sweeper; on shutdown it stops them and closes the rest.
"""

from __future__ import annotations

import itertools
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import local
from .._engine import Engine
from .._log import install_access_log_redaction
from ..local import LOCAL_BASE
from . import errors, openapi
from .auth import weak_master_key
from .body import BodyLimitMiddleware
from .config import Settings
from .limits import Limiter, RateLimiter
from .metrics import Metrics, MetricsMiddleware
from .pg_wake import PgWake, is_postgres
from .policy import LoopbackOnlyMiddleware
from .poller import Poller
from .redis_state import SharedState
from .router import ModelRouter
from .routes import health, keys, models, spend, videos
from .service import ReferencePolicy, VideoService
from .state import GatewayState
from .storage import Storage
from .store import Database
from .sweeper import Sweeper
from .webhooks import Webhooks

log = logging.getLogger("vidgate.gateway")


def build_state(settings: Settings, *, engine: Engine | None = None) -> GatewayState:
    """Every piece of one gateway, wired but not yet opened.

    Raises:
        ConfigError: a deployment names an unknown provider or model.
    """
    router = ModelRouter(settings)
    db = Database(settings.database_url, retention_seconds=settings.general_settings.retention)
    storage = Storage(settings.storage_dir)
    # aiohttp: measured faster than httpx on the hot path (see vidgate._transport). The
    # built-in engine is a transport made from this gateway's settings, not the environment.
    local_settings = settings.local
    engine = engine or Engine(
        network="aiohttp", mounts={LOCAL_BASE: lambda: local.transport(local_settings)}
    )
    metrics = Metrics(collect_jobs=db.jobs.counts_by_status, collect_spend=db.jobs.spend_by_model)
    webhooks = Webhooks(settings.general_settings.webhooks, engine=engine)
    poller = Poller(
        db=db,
        router=router,
        engine=engine,
        storage=storage,
        metrics=metrics,
        concurrency=settings.general_settings.poll_concurrency,
        webhooks=webhooks,
    )
    limiter = RateLimiter()
    general = settings.general_settings
    # With Redis, rate limits and wake-ups are shared by all replicas (this limiter is the
    # fallback while Redis is down); without it they stay in process.
    shared: Limiter = limiter
    wake_poller = poller.wake
    listener: PgWake | None = None
    if not general.redis_url and is_postgres(settings.database_url):
        # Replicas on one PostgreSQL without Redis wake each other through LISTEN/NOTIFY.
        listener = PgWake(settings.database_url, instance=poller.instance, wake=poller.wake)
        wake_poller = listener.wake
    if general.redis_url:
        shared = redis = SharedState(
            general.redis_url, fallback=limiter, wake=lambda: poller.wake()
        )
        wake_poller = redis.wake
    service = VideoService(
        db=db,
        router=router,
        engine=engine,
        storage=storage,
        limiter=shared,
        wake_poller=wake_poller,
        instance=poller.instance,
        webhooks=webhooks,
        references=ReferencePolicy(
            allow_http=general.allow_http_references,
            hosts=frozenset(host.lower() for host in general.reference_hosts),
            timeout=general.reference_timeout,
        ),
    )
    poller.recover = service.recover
    return GatewayState(
        settings=settings,
        db=db,
        router=router,
        engine=engine,
        storage=storage,
        limiter=limiter,
        metrics=metrics,
        poller=poller,
        videos=service,
        wakes=listener,
    )


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """A gateway app for ``settings`` (zero-config defaults when ``None``).

    Example:
        >>> app = create_app(load_settings("config.yaml"))  # doctest: +SKIP
        >>> uvicorn.run(app, host="127.0.0.1", port=4000)   # doctest: +SKIP
    """
    state = build_state(settings or Settings(), engine=engine)
    general = state.settings.general_settings
    sweeper = Sweeper(
        db=state.db,
        storage=state.storage,
        instance=state.poller.instance,
        interval=general.sweep_interval,
        batch=general.sweep_batch,
    )
    # Whatever server runs the app, its access log never shows a key sent in a query.
    install_access_log_redaction()

    role = state.settings.general_settings.role
    # Workers (and all-in-one replicas) poll providers, copy videos and sweep; api replicas
    # only answer clients.
    works = role in ("all", "worker")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.db.call(state.db.migrate)
        await state.db.call(state.storage.open)
        if works:
            await state.videos.recover()
            state.poller.start()
            sweeper.start()
            if state.wakes is not None:
                state.wakes.start()
        redis = state.videos.limiter
        if isinstance(redis, SharedState):
            redis.start()
        state.ready = True
        try:
            yield
        finally:
            state.ready = False
            if isinstance(redis, SharedState):
                await redis.aclose()
            if state.wakes is not None:
                await state.wakes.aclose()
            await sweeper.stop()
            await state.poller.stop()
            await state.poller.webhooks.aclose()
            await state.engine.aclose()
            state.db.close()

    app = FastAPI(
        title="vidgate",
        summary="OpenAI-compatible Videos API gateway",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.gateway = state
    app.state.sweeper = sweeper
    errors.install(app)
    if role != "worker":
        for prefix in ("", "/v1"):
            app.include_router(videos.router, prefix=prefix)
            app.include_router(models.router, prefix=prefix)
        app.include_router(keys.router)
        app.include_router(spend.router)
    app.include_router(health.router)
    # Outermost first when the app runs: request id, metrics, then the body cap.
    app.add_middleware(BodyLimitMiddleware, limit=state.settings.general_settings.max_upload_bytes)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    app.add_middleware(RequestIdMiddleware)
    # Outermost: without a strong master key nothing but loopback reaches the app at all,
    # whichever server runs it.
    weak = weak_master_key(state.settings.master_key)
    if weak is not None:
        app.add_middleware(LoopbackOnlyMiddleware, reason=weak)
    openapi.install(app)
    return app


class RequestIdMiddleware:
    """Adds ``x-request-id`` to every response (the ``openai`` SDK shows it on errors)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # A random prefix per process and a counter: unique, and cheaper than fresh
        # randomness on every request (this runs on every poll).
        self._prefix = secrets.token_hex(6)
        self._counter = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req_{self._prefix}{next(self._counter):012x}"
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapper)
