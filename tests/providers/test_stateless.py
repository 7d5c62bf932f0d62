"""Adapters hold no state that grows (issue 9): what a flow does and how an error reads follow
from the flow's inputs and the responses it gets, never from what the same adapter instance saw
before. Flows are driven here with canned responses; no engine, no network."""

from __future__ import annotations

import json
from typing import Any

import pytest

import vidgate.providers as registry
from vidgate.providers import _google_auth
from vidgate.providers._base import Credentials, Request, Response
from vidgate.providers.fal import FalProvider
from vidgate.providers.replicate import ReplicateProvider

FAL_BASE = "https://fal-proxy.example"
FAL_JOB = "fal-ai/kling-video/requests/req_1"
REPLICATE_BASE = "https://replicate-proxy.example/v1"


def drive(flow: Any, *responses: Response) -> tuple[list[Request], Any]:
    """Run a flow against canned responses; return the requests it made and its result."""
    sent = [next(flow)]
    for response in responses:
        try:
            sent.append(flow.send(response))
        except StopIteration as stop:
            return sent, stop.value
    raise AssertionError("the flow wanted more responses than the fixture has")


def ok(body: Any, *, url: str = "") -> Response:
    return Response(200, {"content-type": "application/json"}, json.dumps(body).encode(), url=url)


def gone(url: str, status: int = 404) -> Response:
    return Response(status, {"content-type": "application/json"}, b'{"detail": "nope"}', url=url)


def test_no_adapter_keeps_anything_but_its_credentials() -> None:
    creds = Credentials(api_key="k", api_base="https://upstream.example/v1")
    for name in registry.names():
        cls = registry.get(name)
        assert cls is not None
        assert vars(cls(creds)) == {"credentials": creds}, name


def test_fal_download_on_the_queue_host_is_recognised_by_a_fresh_adapter() -> None:
    """A proxy may serve fal's files from the queue's own host: the URL alone says it is a
    download, so an adapter that never handed the URL out still reads a 403 as expiry."""
    first = FalProvider(Credentials(api_key="fk", api_base=FAL_BASE))
    cdn = f"{FAL_BASE}/cdn/req_1/output.mp4"
    _, source = drive(
        first.content(FAL_JOB, model="m", variant="video"), ok({"video": {"url": cdn}})
    )
    assert source.request.url == cdn and "Authorization" not in source.request.headers
    assert vars(first) == {"credentials": first.credentials}
    fresh = FalProvider(Credentials(api_key="fk", api_base=FAL_BASE))
    assert fresh.parse_error(gone(cdn, 403)).code == "download_link_expired"
    assert fresh.parse_error(gone("https://v3.fal.media/files/x.mp4")).code == (
        "download_link_expired"
    )


@pytest.mark.parametrize(
    "path",
    [
        FAL_JOB,
        f"{FAL_JOB}/status",
        f"{FAL_JOB}/cancel",
        "fal-ai/kling-video/v2.1/master/text-to-video",
    ],
)
def test_fal_queue_calls_are_not_downloads(path: str) -> None:
    fal = FalProvider(Credentials(api_key="fk", api_base=FAL_BASE))
    error = fal.parse_error(gone(f"{FAL_BASE}/{path}"))
    assert error.code != "download_link_expired" and error.status_code == 404


def test_replicate_file_served_by_the_api_is_recognised_by_a_fresh_adapter() -> None:
    first = ReplicateProvider(Credentials(api_key="rk", api_base=REPLICATE_BASE))
    served = f"{REPLICATE_BASE}/files/abc/download"
    prediction = {"id": "p1", "status": "succeeded", "output": served, "input": {}}
    _, source = drive(first.content("p1", model="m", variant="video"), ok(prediction))
    # A file on the API's own host gets the token; the adapter remembers nothing about it.
    assert source.request.headers["Authorization"] == "Bearer rk"
    assert vars(first) == {"credentials": first.credentials}
    fresh = ReplicateProvider(Credentials(api_key="rk", api_base=REPLICATE_BASE))
    error = fresh.parse_error(gone(served))
    assert error.code == "download_link_expired" and "1 hour" in error.message
    assert fresh.parse_error(gone("https://replicate.delivery/x/out.mp4")).code == (
        "download_link_expired"
    )


@pytest.mark.parametrize(
    "path",
    [
        "predictions",
        "predictions/p1",
        "predictions/p1/cancel",
        "models/minimax/hailuo-02/predictions",
    ],
)
def test_replicate_api_calls_are_not_downloads(path: str) -> None:
    replicate = ReplicateProvider(Credentials(api_key="rk", api_base=REPLICATE_BASE))
    error = replicate.parse_error(gone(f"{REPLICATE_BASE}/{path}"))
    assert error.code != "download_link_expired" and error.status_code == 404


def test_google_token_cache_forgets_spent_tokens() -> None:
    """The one cache adapters share: one entry per service account, none once unusable."""
    cache = _google_auth.TokenCache()
    cache.put(("a", "s"), "t", expires_at=1000.0)
    cache.put(("a", "s"), "t2", expires_at=1100.0)
    cache.put(("b", "s"), "u", expires_at=5000.0)
    assert len(cache._tokens) == 2
    assert cache.get(("b", "s"), now=900.0) == "u"
    assert set(cache._tokens) == {("b", "s")}  # a's token is past use: dropped, not kept
