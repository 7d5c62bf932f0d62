"""Adapters hold no state that grows (issue 9): what a flow does and how an error reads follow
from the flow's inputs and the responses it gets, never from what the same adapter instance saw
before. Flows are driven here with canned responses, errors through an engine over a
MockTransport; no network."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

import vidgate.providers as registry
from vidgate._engine import Engine
from vidgate._exceptions import APIStatusError
from vidgate._models import Credentials, Request, Response
from vidgate._transport import MockTransport
from vidgate.providers import _google_auth
from vidgate.providers.fal import FalProvider
from vidgate.providers.replicate import ReplicateProvider
from vidgate.types.params import CreateParams

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


async def status_of(provider: Any, request: Request, status: int) -> APIStatusError:
    """The error an engine raises when the upstream answers ``request`` with ``status``."""

    def handler(hop: Request) -> Response:
        return gone(hop.url, status)

    engine = Engine(transport=MockTransport(handler), max_retries=0, mounts={})
    with pytest.raises(APIStatusError) as info:
        await engine.open(provider, request)
    return info.value


async def test_fal_download_on_the_queue_host_is_recognised_by_a_fresh_adapter() -> None:
    """A proxy may serve fal's files from the queue's own host: the request itself says it is
    a download, so an adapter that never handed the URL out still reads a 403 as expiry."""
    first = FalProvider(Credentials(api_key="fk", api_base=FAL_BASE))
    cdn = f"{FAL_BASE}/cdn/req_1/output.mp4"
    _, source = drive(
        first.content(FAL_JOB, model="m", variant="video"), ok({"video": {"url": cdn}})
    )
    assert source.request.url == cdn and "Authorization" not in source.request.headers
    assert vars(first) == {"credentials": first.credentials}
    fresh = FalProvider(Credentials(api_key="fk", api_base=FAL_BASE))
    assert (await status_of(fresh, source.request, 403)).code == "download_link_expired"
    # Only the engine's one place reads expiry; the adapter's parse_error does not guess it.
    assert fresh.parse_error(gone(cdn, 403)).code != "download_link_expired"


@pytest.mark.parametrize(
    "path",
    [
        FAL_JOB,
        f"{FAL_JOB}/status",
        f"{FAL_JOB}/cancel",
        "fal-ai/kling-video/v2.1/master/text-to-video",
    ],
)
async def test_fal_queue_calls_are_not_downloads(path: str) -> None:
    fal = FalProvider(Credentials(api_key="fk", api_base=FAL_BASE))
    error = await status_of(fal, Request("GET", f"{FAL_BASE}/{path}"), 404)
    assert error.code != "download_link_expired" and error.status_code == 404


async def test_replicate_file_served_by_the_api_is_recognised_by_a_fresh_adapter() -> None:
    first = ReplicateProvider(Credentials(api_key="rk", api_base=REPLICATE_BASE))
    served = f"{REPLICATE_BASE}/files/abc/download"
    prediction = {"id": "p1", "status": "succeeded", "output": served, "input": {}}
    _, source = drive(first.content("p1", model="m", variant="video"), ok(prediction))
    # A file on the API's own host gets the token; the adapter remembers nothing about it.
    assert source.request.headers["Authorization"] == "Bearer rk"
    assert vars(first) == {"credentials": first.credentials}
    fresh = ReplicateProvider(Credentials(api_key="rk", api_base=REPLICATE_BASE))
    error = await status_of(fresh, source.request, 404)
    assert error.code == "download_link_expired" and "1 hour" in error.message
    assert fresh.parse_error(gone(served)).code != "download_link_expired"


@pytest.mark.parametrize(
    "path",
    [
        "predictions",
        "predictions/p1",
        "predictions/p1/cancel",
        "models/minimax/hailuo-02/predictions",
    ],
)
async def test_replicate_api_calls_are_not_downloads(path: str) -> None:
    replicate = ReplicateProvider(Credentials(api_key="rk", api_base=REPLICATE_BASE))
    error = await status_of(replicate, Request("GET", f"{REPLICATE_BASE}/{path}"), 404)
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


# -- a flow's output is a function of its inputs and responses ---------------------------------

RECEIVED_AT = 1_750_000_000.5  # when every canned response "arrived"
VERTEX_OP = "projects/p1/locations/us-central1/publishers/google/models/veo-3.1-generate-001"


def _at(body: Any) -> Response:
    """A canned 200 JSON response with a fixed arrival time."""
    content = json.dumps(body).encode()
    return Response(200, {"content-type": "application/json"}, content, received_at=RECEIVED_AT)


def _params(model: str, seconds: str, size: str) -> CreateParams:
    return CreateParams(prompt="A fox", model=model, seconds=seconds, size=size)


_OPENAI_VIDEO = {"id": "video_1", "status": "in_progress", "model": "m", "progress": 5}
# provider -> (api_base, create params, create response, retrieve id, retrieve response). No
# response names a creation time, so each flow has to take one from somewhere.
FLOWS: dict[str, tuple[str, CreateParams, Any, str, Any]] = {
    "openai": (
        "https://gw.example/v1",
        _params("sora-2", "4", "720x1280"),
        _OPENAI_VIDEO,
        "video_1",
        _OPENAI_VIDEO,
    ),
    "azure": (
        "https://res.openai.azure.com",
        _params("sora-2", "4", "720x1280"),
        _OPENAI_VIDEO,
        "video_1",
        _OPENAI_VIDEO,
    ),
    "local": (
        "https://gw.example/v1",
        _params("preview", "4", "720x1280"),
        _OPENAI_VIDEO,
        "video_1",
        _OPENAI_VIDEO,
    ),
    "fal": (
        FAL_BASE,
        _params("fal-ai/kling-video/v2.1/master/text-to-video", "5", "1920x1080"),
        {"request_id": "req_1", "response_url": f"{FAL_BASE}/{FAL_JOB}"},
        FAL_JOB,
        {"status": "IN_PROGRESS"},
    ),
    "replicate": (
        REPLICATE_BASE,
        _params("minimax/hailuo-02", "6", "1366x768"),
        {"id": "p1", "status": "starting", "input": {"prompt": "A fox", "duration": 6}},
        "p1",
        {"id": "p1", "status": "processing", "logs": " 40%|####", "input": {"duration": 6}},
    ),
    "runway": (
        "https://runway.example",
        _params("gen4.5", "5", "1280x720"),
        {"id": "task_1"},
        "task_1",
        {"id": "task_1", "status": "RUNNING", "progress": 0.25},
    ),
    "xai": (
        "https://xai.example/v1",
        _params("grok-imagine-video", "5", "1280x720"),
        {"request_id": "r1"},
        "r1",
        {"status": "pending", "progress": 30},
    ),
    "gemini": (
        "https://gemini.example/v1beta",
        _params("gemini-omni-1.2-flash", "8", "1280x720"),
        {"id": "i1", "status": "in_progress"},
        "i1",
        {"id": "i1", "status": "in_progress"},
    ),
    # An access token, not a service account: minting one signs a JWT stamped with the clock
    # before any request is sent (see _google_auth.access_token).
    "vertex": (
        "https://vertex.example/v1/projects/p1/locations/us-central1",
        _params("veo-3.1-generate-001", "8", "1280x720"),
        {"name": f"{VERTEX_OP}/operations/op1"},
        f"{VERTEX_OP}/operations/op1",
        {"name": f"{VERTEX_OP}/operations/op1", "done": False},
    ),
}


def _run(name: str) -> tuple[list[Request], Any, list[Request], Any]:
    api_base, params, created, video_id, polled = FLOWS[name]
    cls = registry.get(name)
    assert cls is not None
    adapter = cls(Credentials(api_key="key-1", api_base=api_base))
    create_sent, video = drive(adapter.create(params), _at(created))
    model = params.model
    retrieve_sent, status = drive(adapter.retrieve(video_id, model=model), _at(polled))
    return create_sent, video, retrieve_sent, status


def test_every_provider_has_a_determinism_fixture() -> None:
    assert set(FLOWS) == set(registry.names())


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_create_and_retrieve_depend_only_on_inputs_and_responses(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Driven twice with the same responses under two absurd clocks, a flow sends the same
    requests and returns the same videos, dated by the responses' ``received_at``."""
    runs = []
    for absurd in (0.0, 9_999_999_999.0):
        monkeypatch.setattr(time, "time", lambda absurd=absurd: absurd)
        runs.append(_run(name))
    first, second = runs
    assert first == second
    _, video, _, status = first
    assert video.created_at == int(RECEIVED_AT), name
    assert status.created_at == int(RECEIVED_AT), name
    assert video.status in ("queued", "in_progress") and status.status in ("queued", "in_progress")


def test_response_is_stamped_when_built() -> None:
    before = time.time()
    stamped = Response(200, {}, b"")
    assert before <= stamped.received_at <= time.time()
    assert Response(200, {}, b"", received_at=5.0).received_at == 5.0
