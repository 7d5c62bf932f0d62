"""What the video routes do: create, remix, delete, scoped to the caller, on job records.

A create writes the record (and charges the estimate) *before* asking the provider, then
stores the provider's id. If the process dies in between, :meth:`VideoService.recover` runs
at the next start: a job whose provider takes an idempotency key is sent again with the same
key (the record's id), so at most one upstream job exists; for any other provider a second
send could start and bill a duplicate, so the job is marked ``failed`` (code
``gateway_interrupted``) and refunded instead. An upstream job that might have started in
that window is then never polled: that possible orphan is the honest cost of never paying twice.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .. import _prepare
from .._engine import Engine
from .._exceptions import (
    APIError,
    APIStatusError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from .._log import redact_url
from .._validation import (
    MAX_REFERENCE_BYTES,
    load_input_reference,
    reference_scheme,
)
from ..types.params import CreateParams
from ..types.video import Video
from .auth import Caller
from .body import CreateBody
from .errors import from_upstream
from .limits import Limiter, retry_after_header
from .poller import holder_alive
from .router import ModelRouter, Route
from .storage import Storage
from .store import Database, JobRecord
from .store.jobs import BudgetExceeded
from .webhooks import Webhooks

log = logging.getLogger("vidgate.gateway")

IDEMPOTENCY_TTL = 24 * 3600


def new_video_id() -> str:
    """``video_`` + 48 random hex digits, the shape OpenAI uses (spec §3.1)."""
    return "video_" + secrets.token_hex(24)


@dataclass
class VideoService:
    db: Database
    router: ModelRouter
    engine: Engine
    storage: Storage
    limiter: Limiter
    wake_poller: Callable[[], None]
    # This gateway's name on leases: a job being submitted is held by it, so another
    # gateway's start-up recovery does not take an in-flight create for a crashed one.
    instance: str = "local"
    # Subscribers told when recovery fails a job (the poller tells them about the rest).
    webhooks: Webhooks = field(default_factory=lambda: Webhooks([]))
    references: ReferencePolicy = field(default_factory=lambda: ReferencePolicy())

    # -- create ------------------------------------------------------------------------------

    async def create(
        self, caller: Caller, body: CreateBody, *, idempotency_key: str | None
    ) -> JobRecord:
        model = body.model or self.router.default_model
        if not model:
            raise BadRequestError("'model' is required.", param="model", code="missing_required")
        route = self.router.pick(model)
        self._check_model_access(caller, route.public_model)
        # A reference URL is fetched last, once the request is known good, is not a replay
        # and is within the key's rate: a caller cannot make the gateway fetch for free.
        fetch = self._fetchable(body.reference, route)
        params = _prepare.create_params(
            route.provider,
            model=model,
            upstream_model=route.upstream_model,
            prompt=body.prompt,
            seconds=body.seconds,
            size=body.size,
            input_reference=None if fetch else body.reference,
            extra_body=body.extra,
            defaults=route.default_extra,
            local_caller=False,
        )
        fingerprint = body.fingerprint
        if idempotency_key:
            existing = await self._replay(caller, idempotency_key, fingerprint)
            if existing is not None:
                return existing
        await self._check_rate(caller)
        if fetch:
            fetched = await self.references.fetch(self.engine, fetch)
            params.input_reference = load_input_reference(fetched, route.capabilities(), model)
        job = JobRecord(
            id=new_video_id(),
            owner_key_id=caller.owner,
            model=route.public_model,
            deployment=route.deployment_id,
            provider=route.provider_name,
            upstream_model=route.upstream_model,
            request=_request_json(params),
            size=params.size,
            seconds=params.seconds,
            prompt=params.prompt,
            estimated_cost=route.estimate(params.size, params.seconds, params.extra_body),
            priced=route.priced(params.size, params.seconds),
            created_at=int(time.time()),
            idempotency_key=idempotency_key or None,
            idempotency_fingerprint=fingerprint if idempotency_key else None,
            claimed_by=self.instance,
            claimed_until=time.time() + self._submit_window(route),
        )
        ref = params.input_reference
        if ref is not None and ref.data is not None:
            # Kept with the job so a restarted gateway can send the create again.
            await self.db.call(self.storage.save_reference, job.id, ref.data)
        stored, created = await self._insert(job)
        if not created:
            if stored.idempotency_fingerprint != fingerprint:
                raise _idempotency_mismatch()
            return stored
        if route.capabilities().idempotency:
            params.idempotency_key = job.id
        return await self._submit(job, route, params)

    @staticmethod
    def _fetchable(value: tuple[str, bytes, str] | str | None, route: Route) -> str | None:
        """The reference URL the gateway fetches itself (``https:``, or ``http:`` where the
        operator allows it), so the image is checked at create, before any job exists, and a
        restart can resend it; ``None`` for an upload or a ``data:`` URL (used as sent) and
        for anything else (refused when the params are prepared: never read as a path)."""
        if not isinstance(value, str) or not route.capabilities().image_input:
            return None
        return value if reference_scheme(value) in ("https", "http") else None

    async def _replay(self, caller: Caller, key: str, fingerprint: str) -> JobRecord | None:
        existing = await self.db.call(self.db.jobs.by_idempotency_key, caller.owner, key)
        if existing is None:
            return None
        if time.time() - existing.created_at > IDEMPOTENCY_TTL:
            await self.db.call(self.db.jobs.release_idempotency_key, existing.id)
            return None
        if existing.idempotency_fingerprint != fingerprint:
            raise _idempotency_mismatch()
        return existing

    async def _insert(self, job: JobRecord) -> tuple[JobRecord, bool]:
        try:
            return await self.db.call(self.db.jobs.insert, job)
        except BudgetExceeded:
            self.storage.remove(job.id)
            raise BadRequestError(
                f"Budget exceeded: this video would cost ${job.estimated_cost:.4f}, more than "
                "is left of this key's max_budget. No job was started.",
                type="budget_exceeded",
                code="budget_exceeded",
            ) from None

    async def _submit(self, job: JobRecord, route: Route, params: CreateParams) -> JobRecord:
        provider = route.provider
        try:
            video: Video = await self.engine.run(
                provider,
                provider.create(params),
                timeout=route.timeout,
                max_retries=route.max_retries,
            )
        except APIError as exc:
            await self.db.call(self.db.jobs.discard, job.id)
            self.storage.remove(job.id)
            raise from_upstream(exc, provider.name) from exc
        return await self._accepted(job.id, video)

    async def _accepted(self, job_id: str, video: Video) -> JobRecord:
        # A provider may answer a create with a finished job: the poller settles it at once.
        status = video.status if video.status in ("queued", "in_progress") else "in_progress"
        progress = min(video.progress, 99)
        stored = await self.db.call(
            self.db.jobs.set_upstream, job_id, video.id, status=status, progress=progress
        )
        self.wake_poller()
        if stored is None:
            raise NotFoundError(
                f"Video '{job_id}' was removed while it was being created.",
                param="video_id",
                code="not_found",
            )
        return stored

    # -- remix -------------------------------------------------------------------------------

    async def remix(self, caller: Caller, video_id: str, prompt: str) -> JobRecord:
        source = await self.get(caller, video_id)
        route = self._route_of(source)
        self._check_model_access(caller, source.model)
        _prepare.remix_prompt(route.provider, route.upstream_model, source.model, prompt)
        if source.status != "completed" or source.upstream_id is None:
            raise BadRequestError(
                f"Video '{video_id}' is {source.status}; only completed videos can be remixed.",
                param="video_id",
                code="video_not_ready",
            )
        await self._check_rate(caller)
        job = JobRecord(
            id=new_video_id(),
            owner_key_id=caller.owner,
            model=source.model,
            deployment=route.deployment_id,
            provider=route.provider_name,
            upstream_model=route.upstream_model,
            request={"remix_of": source.upstream_id, "prompt": prompt},
            size=source.size,
            seconds=source.seconds,
            prompt=prompt,
            remixed_from=source.id,
            estimated_cost=route.estimate(source.size, source.seconds),
            priced=route.priced(source.size, source.seconds),
            created_at=int(time.time()),
            claimed_by=self.instance,
            claimed_until=time.time() + self._submit_window(route),
        )
        await self._insert(job)
        provider = route.provider
        try:
            video: Video = await self.engine.run(
                provider,
                provider.remix(source.upstream_id, model=route.upstream_model, prompt=prompt),
                timeout=route.timeout,
                max_retries=route.max_retries,
            )
        except APIError as exc:
            await self.db.call(self.db.jobs.discard, job.id)
            raise from_upstream(exc, provider.name) from exc
        return await self._accepted(job.id, video)

    # -- read and delete ---------------------------------------------------------------------

    async def get(self, caller: Caller, video_id: str) -> JobRecord:
        """The caller's job; another key's, a deleted or a made-up id are all the same 404."""
        job = await self.db.call(self.db.jobs.get, video_id, owner=caller.owner)
        if job is None:
            raise NotFoundError(
                f"No video found with id '{video_id}'.", param="video_id", code="not_found"
            )
        return job

    async def delete(self, caller: Caller, video_id: str) -> JobRecord:
        job = await self.get(caller, video_id)
        if job.upstream_id is not None:
            route = self._find_route(job)
            if route is not None:
                await self._delete_upstream(route, job.upstream_id)
        deleted = await self.db.call(self.db.jobs.delete, job.id)
        if deleted is None:  # deleted by a concurrent request
            raise NotFoundError(
                f"No video found with id '{video_id}'.", param="video_id", code="not_found"
            )
        await self.db.call(self.storage.remove, job.id)
        return deleted

    async def _delete_upstream(self, route: Route, upstream_id: str) -> None:
        # Best effort: our copy is what callers download; the provider's copy expires anyway,
        # and a provider that refuses (or cannot) delete must not block deleting ours.
        try:
            await self.engine.run(
                route.provider,
                route.provider.delete(upstream_id, model=route.upstream_model),
                timeout=route.timeout,
                max_retries=0,
            )
        except APIError as exc:
            log.info("upstream delete of %s failed: %s", upstream_id, exc)

    # -- recovery ----------------------------------------------------------------------------

    def _submit_window(self, route: Route) -> float:
        """How long a create may take, every retry included: the submit lease's length."""
        timeout = route.timeout or self.engine.timeout
        retries = self.engine.max_retries if route.max_retries is None else route.max_retries
        return timeout * (retries + 1) + 60.0

    async def recover(self) -> None:
        """Finish what a killed gateway left between "record written" and "upstream id
        saved" (see the module docstring). A job still held by a live gateway is being
        submitted right now and is left alone; a dead holder's job is recovered at once if
        it ran on this host, else once its lease runs out."""
        now = time.time()
        for job in await self.db.call(self.db.jobs.unsubmitted):
            held = job.claimed_until is not None and job.claimed_until > now
            if held and holder_alive(job.claimed_by) is not False:
                continue
            route = self._find_route(job)
            resend = (
                route is not None
                and "remix_of" not in job.request
                and route.capabilities().idempotency
            )
            if route is None or not resend:
                failed = await self.db.call(
                    self.db.jobs.fail,
                    job.id,
                    {
                        "code": "gateway_interrupted",
                        "message": "The gateway stopped before the provider confirmed this "
                        "job, and this provider cannot safely be asked again. It was not "
                        "charged; please create it again.",
                    },
                )
                if failed:
                    self.webhooks.emit(job.id, "video.failed")
                continue
            params = self._params_from_record(job)
            params.idempotency_key = job.id
            try:
                await self._submit(job, route, params)
            except APIError as exc:
                log.warning("could not resubmit %s after restart: %s", job.id, exc)

    def _params_from_record(self, job: JobRecord) -> CreateParams:
        request = job.request
        reference = None
        path = self.storage.reference(job.id)
        if request.get("reference") == "file" and path.exists():
            reference = (path.name, path.read_bytes())
        elif isinstance(request.get("reference"), str) and request["reference"] != "file":
            reference = request["reference"]
        caps = self._route_of(job).capabilities()
        return CreateParams(
            prompt=request["prompt"],
            model=job.upstream_model,
            seconds=job.seconds,
            size=job.size,
            input_reference=load_input_reference(reference, caps, job.model),
            extra_body=dict(request.get("extra_body") or {}),
        )

    # -- helpers -----------------------------------------------------------------------------

    def _find_route(self, job: JobRecord) -> Route | None:
        return self.router.by_id(
            job.deployment, provider=job.provider, upstream_model=job.upstream_model
        )

    def _route_of(self, job: JobRecord) -> Route:
        route = self._find_route(job)
        if route is None:
            raise BadRequestError(
                f"The deployment that made '{job.id}' is no longer configured.",
                param="video_id",
                code="deployment_unavailable",
            )
        return route

    def _check_model_access(self, caller: Caller, model: str) -> None:
        if not caller.may_use(model):
            raise PermissionDeniedError(
                f"This API key may not use the model '{model}'.",
                param="model",
                code="model_not_allowed",
            )

    async def _check_rate(self, caller: Caller) -> None:
        limit = caller.key.rpm_limit if caller.key else None
        if limit is None:
            return
        wait = await self.limiter.take(caller.owner, limit)
        if wait is not None:
            raise RateLimitError(
                f"Rate limit reached: this key may start {limit} videos per minute. "
                f"Try again in {wait:.1f} s.",
                code="rate_limit_exceeded",
                headers=retry_after_header(wait),
            )


@dataclass(frozen=True)
class ReferencePolicy:
    """How the gateway fetches a caller's ``input_reference`` URL (``general_settings``)."""

    allow_http: bool = False
    hosts: frozenset[str] = frozenset()
    timeout: float = 15.0

    async def fetch(self, engine: Engine, url: str) -> tuple[str, bytes, str]:
        parts = urlsplit(url)
        if parts.scheme.lower() == "http" and not self.allow_http:
            raise _bad_url(url, "only https: URLs are fetched (http: is off on this gateway)")
        host = (parts.hostname or "").lower()
        try:
            data, content_type = await engine.fetch(
                url,
                max_bytes=MAX_REFERENCE_BYTES,
                timeout=self.timeout,
                trusted_host=host if host in self.hosts else None,
            )
        except PermissionDeniedError as exc:
            raise _bad_url(url, exc.message) from None
        except APIStatusError as exc:
            raise _bad_url(url, f"it answered HTTP {exc.status_code}") from None
        except APIError as exc:  # connection failed or timed out
            raise _bad_url(url, exc.message) from None
        except ValueError as exc:  # over the size cap
            raise _bad_url(url, f"the image {exc}") from None
        name = parts.path.rsplit("/", 1)[-1] or "reference"
        return name, data, content_type or "application/octet-stream"


def _bad_url(url: str, reason: str) -> BadRequestError:
    shown = redact_url(url)
    if len(shown) > 200:
        shown = shown[:200] + "…"
    return BadRequestError(
        f"Invalid 'input_reference': could not fetch {shown}: {reason}",
        param="input_reference",
        code="invalid_image_url",
    )


def _request_json(params: CreateParams) -> dict[str, Any]:
    ref = params.input_reference
    reference: str | None = None
    if ref is not None:
        reference = "file" if ref.data is not None else ref.url
    return {
        "prompt": params.prompt,
        "model": params.model,
        "seconds": params.seconds,
        "size": params.size,
        "reference": reference,
        "extra_body": params.extra_body,
    }


def _idempotency_mismatch() -> UnprocessableEntityError:
    return UnprocessableEntityError(
        "This Idempotency-Key was already used with a different request body.",
        param="Idempotency-Key",
        code="idempotency_key_reused",
    )
