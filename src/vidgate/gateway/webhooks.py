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
from collections.abc import Awaitable, Callable
from typing import Literal

import httpx
from pydantic import BaseModel, Field

log = logging.getLogger("vidgate.gateway.webhooks")

Event = Literal["video.completed", "video.failed"]
ALL_EVENTS: tuple[Event, ...] = ("video.completed", "video.failed")
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0)
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


class Webhooks:
    """Sends events to every subscribed target, in the background, with retries."""

    def __init__(
        self,
        targets: list[WebhookTarget],
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.targets = targets
        self._sleep = sleep
        self._pending: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

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
        if self._client is None:
            # Targets come from the operator's config, so they are trusted destinations.
            self._client = httpx.AsyncClient(timeout=DELIVERY_TIMEOUT)
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
            if delay:
                await self._sleep(delay)
            try:
                # The whole attempt is bounded (a subscriber that answers a byte at a time would
                # otherwise hold it past every per-read timeout), and only the status is read.
                async with (
                    asyncio.timeout(DELIVERY_TIMEOUT),
                    self._client.stream(
                        "POST", target.url, content=body, headers=headers
                    ) as response,
                ):
                    pass
            except (httpx.HTTPError, TimeoutError) as exc:
                log.info("webhook %s to %s failed: %s", event_id, target.url, exc or "timeout")
                continue
            if response.status_code < 300:
                return
            if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
                log.warning(
                    "webhook %s refused by %s: %s", event_id, target.url, response.status_code
                )
                return
            log.info(
                "webhook %s to %s: HTTP %s (attempt %d)",
                event_id,
                target.url,
                response.status_code,
                attempt + 1,
            )
        log.warning(
            "webhook %s to %s dropped after %d attempts",
            event_id,
            target.url,
            len(RETRY_DELAYS) + 1,
        )

    async def aclose(self) -> None:
        for task in list(self._pending):
            task.cancel()
        for task in list(self._pending):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()
