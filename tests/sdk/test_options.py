"""The per-call options as one bundle, and ``with_options`` as in openai-python."""

from __future__ import annotations

from typing import Any

import pytest

from vidgate import AsyncVideoClient, VideoClient
from vidgate._engine import Engine
from vidgate._models import Request, Response
from vidgate._options import RequestOptions, call_options
from vidgate.providers import Provider


class Recorder(Engine):
    """Records each request with the limits it was sent with, and answers a queued video."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[Request, float | None, int | None]] = []

    async def send(
        self,
        provider: Provider,
        request: Request,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Response:
        self.sent.append((request, timeout, max_retries))
        body = (
            b'{"id": "video_1", "object": "video", "model": "sora-2", "status": "queued",'
            b' "progress": 0, "created_at": 1, "size": "720x1280", "seconds": "4"}'
        )
        return Response(200, {"content-type": "application/json"}, body)


def test_call_options_override_client_defaults_and_headers_merge() -> None:
    defaults = call_options("k1", "https://a.test/v1", "org", 30.0, 1, {"X-A": "1", "X-B": "1"})
    call = call_options(None, "https://b.test/v1", None, None, 0, {"X-B": "2"})
    merged = call.over(defaults)
    assert merged == RequestOptions(
        api_key="k1",
        api_base="https://b.test/v1",
        organization="org",
        timeout=30.0,
        max_retries=0,  # 0 is a value, not "unset"
        extra_headers={"X-A": "1", "X-B": "2"},
    )


async def test_with_options_makes_a_client_with_new_defaults_sharing_the_engine() -> None:
    engine = Recorder()
    base = AsyncVideoClient(api_key="k1", api_base="https://a.test/v1", timeout=30, engine=engine)
    fast = base.with_options(timeout=5, max_retries=0, default_headers={"X-Team": "blue"})
    assert fast is not base and fast._engine is engine
    assert base.options.timeout == 30 and fast.options.timeout == 5
    assert fast.options.api_key == "k1"  # kept from the original
    await fast.create("A fox", model="sora-2")
    await base.create("A fox", model="sora-2", timeout=7)
    (first, t1, r1), (second, t2, r2) = engine.sent
    assert (t1, r1) == (5, 0) and first.headers["X-Team"] == "blue"
    assert first.url == "https://a.test/v1/videos"
    assert (t2, r2) == (7, None) and "X-Team" not in second.headers
    assert first.headers["Authorization"] == "Bearer k1"


def test_sync_client_with_options() -> None:
    engine = Recorder()
    with VideoClient(api_base="https://a.test/v1", api_key="k", engine=engine) as client:
        other = client.with_options(api_base="https://b.test/v1")
        assert isinstance(other, VideoClient)
        other.create("A fox", model="sora-2")
    assert engine.sent[0][0].url == "https://b.test/v1/videos"


@pytest.mark.parametrize(
    "name", ["create", "retrieve", "download_content", "delete", "list", "remix", "wait"]
)
def test_every_call_takes_the_six_options(name: str) -> None:
    import inspect

    params: dict[str, Any] = dict(inspect.signature(getattr(AsyncVideoClient, name)).parameters)
    assert {
        "api_key",
        "api_base",
        "organization",
        "timeout",
        "max_retries",
        "extra_headers",
    } <= set(params)
