"""Webhooks: ``video.completed`` / ``video.failed`` events, signed as OpenAI's webhooks are
(Standard Webhooks), POSTed to the targets in ``general_settings.webhooks``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.loopback import serve_on_loopback
from tests.gateway.conftest import Gateway, standard_config, wait_done
from vidgate.gateway.webhooks import sign

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


class Receiver:
    """A subscriber on loopback that records deliveries and can refuse the first few."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.refuse = 0
        self.lock = threading.Lock()

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            if self.refuse > 0:
                self.refuse -= 1
                return Response(status_code=503)
            self.deliveries.append((dict(request.headers), body))
        return Response(status_code=204)

    def wait_for(self, video_id: str, timeout: float = 30.0) -> tuple[dict[str, str], Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for headers, body in self.deliveries:
                    event = json.loads(body)
                    if event["data"]["id"] == video_id:
                        return headers, event
            time.sleep(0.05)
        raise TimeoutError(f"no webhook for {video_id}")


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = Receiver()
    app = Starlette(routes=[Route("/hook", rec.hook, methods=["POST"])])
    with serve_on_loopback(app) as (base, _server):
        yield rec, f"{base}/hook"


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, receiver: tuple[Receiver, str]
) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("webhooks")
    config = standard_config(home, webhooks=[{"url": receiver[1], "secret": SECRET}])
    gateway = Gateway(home, config).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def _verify(headers: dict[str, str], body: bytes) -> bool:
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return headers["webhook-signature"] == f"v1,{expected}"


def test_completed_event_is_signed_and_names_the_video(
    gw: Gateway, receiver: tuple[Receiver, str]
) -> None:
    rec, _ = receiver
    client = gw.openai(gw.new_key())
    video = client.videos.create(prompt="A kite", model="local/preview", seconds="1")
    assert wait_done(client, video.id).status == "completed"
    headers, event = rec.wait_for(video.id)
    assert event["type"] == "video.completed" and event["object"] == "event"
    assert event["id"] == headers["webhook-id"] and event["id"].startswith("evt_")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 600
    body = next(b for h, b in rec.deliveries if h["webhook-id"] == event["id"])
    assert _verify(headers, body)


def test_failed_event_and_retries_after_refusals(
    gw: Gateway, receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    rec, _ = receiver
    rec.refuse = 1  # the first delivery gets a 503; the retry must arrive
    client = gw.openai(gw.new_key())
    broken = tmp_path / "broken.png"
    # A header that passes the create's check (64x64), then nothing the renderer can decode.
    broken.write_bytes(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x40" * 2 + b"\x00" * 40
    )
    video = client.videos.create(
        prompt="x", model="local/preview", seconds="1", input_reference=broken
    )
    assert wait_done(client, video.id).status == "failed"
    headers, event = rec.wait_for(video.id)
    assert event["type"] == "video.failed" and rec.refuse == 0
    assert headers["webhook-signature"].startswith("v1,")


def test_signature_matches_the_standard_webhooks_reference_vector() -> None:
    # The example from the Standard Webhooks specification.
    assert (
        sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            b'{"test": 2432232314}',
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


async def test_deliveries_go_through_the_engine_retried_and_guarded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Webhooks use the engine: its retries (a 503 is tried again after its backoff, taken
    from ``_retry``), and its outbound URL guard on every redirect hop."""
    import asyncio

    from vidgate._engine import Engine
    from vidgate._models import Request as WireRequest
    from vidgate._models import Response as WireResponse
    from vidgate._transport import MockTransport
    from vidgate.gateway.webhooks import Webhooks, WebhookTarget

    seen: list[WireRequest] = []
    waits: list[float] = []

    def handler(request: WireRequest) -> WireResponse:
        seen.append(request)
        if request.url.endswith("/flaky") and len(seen) == 1:
            return WireResponse(503, {}, b"")
        if request.url.endswith("/moved"):
            return WireResponse(307, {"location": "http://169.254.169.254/latest/"}, b"")
        return WireResponse(204, {}, b"")

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    engine = Engine(transport=MockTransport(handler), sleep=sleep, rand=lambda: 0.0)
    hooks = Webhooks(
        [
            WebhookTarget(url="https://hooks.example/flaky", secret=SECRET),
            WebhookTarget(url="https://hooks.example/moved"),
        ],
        engine=engine,
    )
    with caplog.at_level("WARNING", logger="vidgate.gateway.webhooks"):
        hooks.emit("video_1", "video.completed")
        while hooks._pending:
            await asyncio.sleep(0.01)
    flaky = [r for r in seen if r.url.endswith("/flaky")]
    assert len(flaky) == 2 and waits == [0.5]  # the engine's first backoff step
    body = flaky[1].content
    assert body is not None and json.loads(body)["data"]["id"] == "video_1"
    headers = flaky[1].headers
    expected = sign(SECRET, headers["webhook-id"], int(headers["webhook-timestamp"]), body)
    assert headers["webhook-signature"] == expected
    # The redirect to a metadata address was never followed.
    assert [r.url for r in seen if "169.254" in r.url] == []
    assert any("169.254.169.254" in m for m in caplog.messages)
