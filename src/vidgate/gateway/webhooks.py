"""Webhooks: ``video.completed`` and ``video.failed`` events POSTed to the URLs in
``general_settings.webhooks`` when a job reaches its final state.

The payload is OpenAI's (spec §2.10): ``{"id": "evt_…", "object": "event", "created_at": …,
"type": "video.completed", "data": {"id": "video_…"}}``. Deliveries are signed the way
OpenAI's webhooks are (the Standard Webhooks scheme): headers ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">``, keyed by the target's ``secret`` (a ``whsec_`` prefix means the
rest is base64). A delivery that fails is retried with backoff; deliveries still pending
when the gateway stops are dropped (the job record, not the webhook, is the source of truth).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
from typing import ClassVar, Literal

from pydantic import BaseModel, Field

from .._engine import Engine
from .._exceptions import APIError, APIStatusError
from .._models import Credentials, Request
from ..providers import Provider

log = logging.getLogger("vidgate.gateway.webhooks")

Event = Literal["video.completed", "video.failed"]
ALL_EVENTS: tuple[Event, ...] = ("video.completed", "video.failed")
# Retries after the first attempt, paced by the engine's backoff (0.5 s doubling, at most 8 s
# each, or the subscriber's Retry-After).
DELIVERY_RETRIES = 5
DELIVERY_TIMEOUT = 10.0


class WebhookTarget(BaseModel):
    """One subscriber: where to POST, how to sign, which events."""

    url: str = Field(pattern=r"^https?://")
    secret: str | None = None
    events: list[Event] = Field(default_factory=lambda: list(ALL_EVENTS))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one delivery."""
    key = (
        base64.b64decode(secret.removeprefix("whsec_"))
        if secret.startswith("whsec_")
        else secret.encode()
    )
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class _Subscriber(Provider):
    """A webhook target as the engine sees it: the operator named it in the config, so its
    host is trusted the way a deployment's ``api_base`` is; a redirect elsewhere still passes
    the outbound URL guard."""

    name: ClassVar[str] = "webhook"


class Webhooks:
    """Sends events to every subscribed target, in the background, through the engine: its
    retries (5xx, 408/409/429 with ``Retry-After``, connection errors; backoff from
    ``_retry``), its timeouts and its outbound URL guard."""

    def __init__(self, targets: list[WebhookTarget], *, engine: Engine | None = None) -> None:
        self.targets = targets
        self._engine = engine
        self._pending: set[asyncio.Task[None]] = set()

    def emit(self, video_id: str, event: Event) -> None:
        """Queue ``event`` for ``video_id``; returns at once."""
        subscribed = [t for t in self.targets if event in t.events]
        if not subscribed:
            return
        now = int(time.time())
        payload = {
            "id": "evt_" + secrets.token_hex(16),
            "object": "event",
            "created_at": now,
            "type": event,
            "data": {"id": video_id},
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        for target in subscribed:
            task = asyncio.create_task(self._deliver(target, str(payload["id"]), now, body))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _deliver(self, target: WebhookTarget, event_id: str, ts: int, body: bytes) -> None:
        headers = {
            "content-type": "application/json",
            "user-agent": "vidgate-webhooks",
            "webhook-id": event_id,
            "webhook-timestamp": str(ts),
        }
        if target.secret:
            headers["webhook-signature"] = sign(target.secret, event_id, ts, body)
        if self._engine is None:
            self._engine = Engine(network="aiohttp")
        subscriber = _Subscriber(Credentials(api_base=target.url))
        request = Request("POST", target.url, headers, content=body)
        try:
            await self._engine.send(
                subscriber, request, timeout=DELIVERY_TIMEOUT, max_retries=DELIVERY_RETRIES
            )
        except APIError as exc:
            status = f" (HTTP {exc.status_code})" if isinstance(exc, APIStatusError) else ""
            log.warning("webhook %s to %s dropped%s: %s", event_id, target.url, status, exc.message)

    async def aclose(self) -> None:
        """Cancel deliveries still in flight (the engine is closed by its owner)."""
        for task in list(self._pending):
            task.cancel()
        for task in list(self._pending):
            with contextlib.suppress(asyncio.CancelledError):
                await task
