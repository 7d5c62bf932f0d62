"""The expired-download-link error is made once (issue 9): an adapter marks the request for a
finished video's bytes as a download, declares which statuses of a download mean "expired" and
how long its links last, and the engine turns those statuses into the one
``download_link_expired`` error. Any other status, or any status of a request that is not a
download, stays the provider's own error.

Every registered provider's content flow is driven with canned responses to get its download
request, which an engine over a :class:`MockTransport` then answers. No network: the outbound
URL guard (tested on its own) would look the fictional CDN hosts up, so it is switched off.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import vidgate.providers as registry
from vidgate import _engine
from vidgate._engine import Engine
from vidgate._exceptions import APIStatusError, NotFoundError
from vidgate._models import ContentSource, Credentials, Request, Response
from vidgate._transport import MockTransport, _redirect
from vidgate.providers import Provider

VERTEX_OP = (
    "projects/p1/locations/us-central1/publishers/google/models/veo-3.1-generate-001/operations/op1"
)
# Statuses a download may meet: every provider's expired set is drawn from these, and each
# provider also meets some outside its set.
STATUSES = (400, 401, 403, 404, 410, 422)


def ok(body: Any) -> Response:
    return Response(200, {"content-type": "application/json"}, json.dumps(body).encode())


# provider -> (api_base, video id, model, responses the content flow reads before it names
# the download).
CONTENT: dict[str, tuple[str, str, str, list[Response]]] = {
    "openai": ("https://api.openai.example/v1", "video_1", "sora-2", []),
    "azure": ("https://res.openai.azure.com", "video_1", "sora-2", []),
    "local": ("https://gw.example/v1", "video_1", "preview", []),
    "fal": (
        "https://fal-proxy.example",
        "fal-ai/kling-video/requests/req_1",
        "fal-ai/kling-video/v2.1/master/text-to-video",
        [ok({"video": {"url": "https://cdn.fal.example/files/out.mp4"}})],
    ),
    "replicate": (
        "https://replicate-proxy.example/v1",
        "p1",
        "minimax/hailuo-02",
        [ok({"id": "p1", "status": "succeeded", "output": "https://delivery.example/out.mp4"})],
    ),
    "runway": (
        "https://runway.example",
        "task_1",
        "gen4.5",
        [ok({"id": "task_1", "status": "SUCCEEDED", "output": ["https://cdn.runway.example/o"]})],
    ),
    "xai": (
        "https://xai.example/v1",
        "r1",
        "grok-imagine-video",
        [ok({"status": "done", "video": {"url": "https://cdn.xai.example/v.mp4"}})],
    ),
    "gemini": (
        "https://gemini.example/v1beta",
        "i1",
        "gemini-omni-1.2-flash",
        [
            ok(
                {
                    "id": "i1",
                    "status": "completed",
                    "output_video": {"uri": "https://gemini.example/v1beta/files/abc"},
                }
            )
        ],
    ),
    "vertex": (
        "https://vertex.example/v1/projects/p1/locations/us-central1",
        VERTEX_OP,
        "veo-3.1-generate-001",
        [
            ok(
                {
                    "name": VERTEX_OP,
                    "done": True,
                    "response": {"videos": [{"gcsUri": "gs://bucket/out/v.mp4"}]},
                }
            )
        ],
    ),
}


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    async def allow(url: str, *, trusted_host: str | None) -> None:
        return None

    monkeypatch.setattr(_engine, "check_url", allow)
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    yield


def adapter(name: str) -> Provider:
    cls = registry.get(name)
    assert cls is not None
    # Vertex reads a bare key as an access token: no token exchange in its flows.
    return cls(Credentials(api_key="key-1", api_base=CONTENT[name][0]))


def content(name: str) -> tuple[list[Request], ContentSource]:
    """Drive ``name``'s content flow; return the requests before the download and the source."""
    _, video_id, model, responses = CONTENT[name]
    flow = adapter(name).content(video_id, model=model, variant="video")
    answers = iter(responses)
    sent: list[Request] = []
    try:
        request = next(flow)
        while True:
            sent.append(request)
            answer = next(answers, None)
            assert answer is not None, f"{name}'s content flow wanted more responses"
            request = flow.send(answer)
    except StopIteration as stop:
        source: ContentSource = stop.value
    assert source.request is not None, name
    return sent, source


def error_body(status: int) -> bytes:
    return json.dumps({"error": {"message": f"refused with {status}", "code": "upstream"}}).encode()


async def answer(
    provider: Provider, request: Request, status: int, *, location: str | None = None
) -> APIStatusError:
    """The error the engine raises when the upstream answers ``request`` with ``status``
    (after a redirect from the request's URL to ``location``, if given)."""

    def handler(hop: Request) -> Response:
        if location is not None and hop.url == request.url:
            return Response(302, {"location": location}, b"")
        return Response(status, {"content-type": "application/json"}, error_body(status))

    engine = Engine(transport=MockTransport(handler), max_retries=0, mounts={})
    with pytest.raises(APIStatusError) as info:
        await engine.open(provider, request)
    return info.value


def ordinary(provider: Provider, request: Request, status: int) -> APIStatusError:
    """The provider's own error for ``status``, as its parse_error reads it."""
    headers = {"content-type": "application/json"}
    return provider.parse_error(Response(status, headers, error_body(status), url=request.url))


def test_every_provider_has_a_content_fixture() -> None:
    assert set(CONTENT) == set(registry.names())


@pytest.mark.parametrize("name", sorted(CONTENT))
def test_only_the_download_of_the_content_is_marked(name: str) -> None:
    before, source = content(name)
    assert source.request is not None and source.request.download, name
    assert not any(r.download for r in before), name
    _, video_id, model, _ = CONTENT[name]
    assert not next(adapter(name).retrieve(video_id, model=model)).download


@pytest.mark.parametrize("name", sorted(CONTENT))
@pytest.mark.parametrize("status", STATUSES)
async def test_a_download_refused_with_an_expired_status_is_the_one_error(
    name: str, status: int
) -> None:
    provider = adapter(name)
    _, source = content(name)
    assert source.request is not None
    error = await answer(provider, source.request, status)
    if status in provider.expired_link_statuses:
        assert isinstance(error, NotFoundError)
        assert (error.code, error.status_code) == ("download_link_expired", 404)
        assert provider.link_lifetime in error.message
        assert f"{provider.label}'s download link" in error.message
        assert f"HTTP {status}" in error.message
        assert error.body == json.loads(error_body(status))  # the upstream's JSON is kept
        assert error.headers["content-type"] == "application/json"
    else:
        expected = ordinary(provider, source.request, status)
        assert error.code != "download_link_expired"
        assert type(error) is type(expected)
        assert (error.code, error.status_code, error.message) == (
            expected.code,
            expected.status_code,
            expected.message,
        )


@pytest.mark.parametrize("name", sorted(CONTENT))
async def test_a_call_that_is_not_a_download_keeps_the_providers_404(name: str) -> None:
    provider = adapter(name)
    _, video_id, model, _ = CONTENT[name]
    status_call = next(provider.retrieve(video_id, model=model))
    error = await answer(provider, status_call, 404)
    expected = ordinary(provider, status_call, 404)
    assert error.code != "download_link_expired" and error.status_code == 404
    assert (type(error), error.code, error.message) == (
        type(expected),
        expected.code,
        expected.message,
    )


@pytest.mark.parametrize("name", sorted(n for n in CONTENT if adapter(n).expired_link_statuses))
async def test_the_same_url_is_expired_only_when_fetched_as_a_download(name: str) -> None:
    """The request says it is a download, not its URL: the download's own URL, fetched as
    any other call, is the provider's ordinary 404."""
    provider = adapter(name)
    _, source = content(name)
    assert source.request is not None
    plain = Request(source.request.method, source.request.url, source.request.headers)
    assert (await answer(provider, source.request, 404)).code == "download_link_expired"
    assert (await answer(provider, plain, 404)).code != "download_link_expired"


async def test_a_download_stays_a_download_across_a_redirect() -> None:
    provider = adapter("runway")
    _, source = content("runway")
    assert source.request is not None
    hop = _redirect(source.request, 302, "https://edge.runway.example/o")
    assert hop.download and hop.url == "https://edge.runway.example/o"
    error = await answer(provider, source.request, 410, location="https://edge.runway.example/o")
    assert error.code == "download_link_expired" and "HTTP 410" in error.message


async def test_vertex_storage_403_is_a_missing_permission_not_an_expired_link() -> None:
    provider = adapter("vertex")
    _, source = content("vertex")
    assert source.request is not None and "/storage/v1/b/bucket/o/" in source.request.url
    error = await answer(provider, source.request, 403)
    assert (error.code, error.status_code) == ("storage_permission_denied", 403)
    assert (await answer(provider, source.request, 404)).code == "download_link_expired"


@pytest.mark.parametrize(
    ("name", "statuses"),
    [
        ("fal", {403, 404, 410}),
        ("replicate", {403, 404, 410}),
        ("runway", {401, 403, 404, 410}),
        ("xai", {401, 403, 404, 410}),
        ("gemini", {403, 404, 410}),
        ("vertex", {404, 410}),
        ("openai", set()),
        ("azure", set()),
        ("local", set()),
    ],
)
def test_each_providers_expired_statuses_and_lifetime(name: str, statuses: set[int]) -> None:
    provider = adapter(name)
    assert provider.expired_link_statuses == statuses
    assert provider.label
    if statuses:
        assert provider.link_lifetime.endswith(".")
