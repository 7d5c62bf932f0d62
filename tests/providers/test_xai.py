"""The ``xai`` provider through the SDK against the fake xAI video API on loopback
(providers.md §11): request mapping, status mapping, content, errors, retries and costs."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import av
import pytest

import vidgate
from tests.fakes.clock import Sleeps
from tests.fakes.loopback import serve_on_loopback
from tests.fakes.xai_upstream import FakeXAIState, create_app
from vidgate import (
    AsyncVideoClient,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    RateLimitError,
    VideoGenerationFailed,
)
from vidgate._engine import Engine
from vidgate.local.render import render
from vidgate.providers.xai import SIZES

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x40" * 2 + b"\x00" * 24  # 64x64


@pytest.fixture(scope="module")
def _server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeXAIState, str]]:
    out = tmp_path_factory.mktemp("xai-video")
    mp4 = render("xai fake", out_dir=out, width=320, height=180, seconds=1).video.read_bytes()
    state = FakeXAIState(video_bytes=mp4)
    with serve_on_loopback(create_app(state)) as (base_url, _):
        yield state, base_url + "/v1"


@pytest.fixture
def state(_server: tuple[FakeXAIState, str], monkeypatch: pytest.MonkeyPatch) -> FakeXAIState:
    for name in ("XAI_API_KEY", "XAI_BASE_URL", "XAI_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    _server[0].reset()
    return _server[0]


@pytest.fixture
def client(
    _server: tuple[FakeXAIState, str], state: FakeXAIState, sleeps: Sleeps
) -> AsyncVideoClient:
    return AsyncVideoClient(
        api_key="xai-test", api_base=_server[1], engine=Engine(sleep=sleeps, rand=lambda: 0.0)
    )


async def test_request_mapping_and_status_progression(
    client: AsyncVideoClient, state: FakeXAIState
) -> None:
    seen: list[tuple[str, int]] = []
    video = await client.create_and_poll(
        "A comet over the sea",
        model="xai/grok-imagine-video",
        seconds=6,
        size="854x480",
        extra_body={"user": "u-1"},
        on_progress=lambda v: seen.append((v.status, v.progress)),
    )
    [sent] = state.requests_for("POST", "/v1/videos/generations")
    assert sent.json == {
        "model": "grok-imagine-video",
        "prompt": "A comet over the sea",
        "duration": 6,
        "aspect_ratio": "16:9",
        "resolution": "480p",
        "user": "u-1",
    }
    assert sent.headers["authorization"] == "Bearer xai-test"
    assert seen == [
        ("queued", 0),
        ("queued", 0),
        ("in_progress", 33),
        ("in_progress", 66),
        ("completed", 100),
    ]
    assert video.id.startswith("video_xai.") and video.model == "xai/grok-imagine-video"
    assert (video.size, video.seconds) == ("854x480", "6")


@pytest.mark.parametrize(
    ("size", "aspect_ratio", "resolution"),
    [
        ("720x1280", "9:16", "720p"),
        ("1280x720", "16:9", "720p"),
        ("720x720", "1:1", "720p"),
        ("640x480", "4:3", "480p"),
        ("1080x1440", "3:4", "1080p"),
        ("1620x1080", "3:2", "1080p"),
        ("480x720", "2:3", "480p"),
        ("1080x1920", "9:16", "1080p"),
    ],
)
async def test_size_maps_to_aspect_ratio_and_resolution(
    client: AsyncVideoClient, state: FakeXAIState, size: str, aspect_ratio: str, resolution: str
) -> None:
    await client.create("x", model="xai/grok-imagine-video-1.5", size=size)
    [sent] = state.requests_for("POST", "/v1/videos/generations")
    assert (sent.json["aspect_ratio"], sent.json["resolution"]) == (aspect_ratio, resolution)


def test_size_table_covers_every_ratio_and_tier() -> None:
    assert len(SIZES) == 21 and len(set(SIZES.values())) == 21


async def test_image_input_as_data_uri_and_url(
    client: AsyncVideoClient, state: FakeXAIState
) -> None:
    await client.create("x", model="xai/grok-imagine-video", input_reference=PNG)
    await client.create(
        "y", model="xai/grok-imagine-video", input_reference="https://example.com/a.png"
    )
    first, second = state.requests_for("POST", "/v1/videos/generations")
    assert first.json["image"] == {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()}
    assert second.json["image"] == {"url": "https://example.com/a.png"}


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"seconds": "16"}, "seconds"),
        ({"size": "1920x1080"}, "size"),  # 1080p only on the 1.5 models
        ({"size": "1792x1024"}, "size"),
        ({"model": "xai/grok-2-video"}, "model"),
        ({"extra_body": {"resolution": "480p"}}, "resolution"),
        ({"extra_body": {"aspect_ratio": "1:1"}}, "aspect_ratio"),
        ({"input_reference": "http://example.com/a.png"}, "input_reference"),
        (
            {
                "model": "xai/grok-imagine-video-1.5",
                "size": "1920x1080",
                "extra_body": {"reference_images": [{"url": "https://e/r.png"}]},
            },
            "size",
        ),
    ],
)
async def test_values_xai_cannot_honour_are_refused_before_sending(
    client: AsyncVideoClient, state: FakeXAIState, kwargs: dict[str, Any], param: str
) -> None:
    args: dict[str, Any] = {"prompt": "A cat", "model": "xai/grok-imagine-video", **kwargs}
    with pytest.raises(BadRequestError) as info:
        await client.create(**args)
    assert info.value.param == param and info.value.status_code == 400
    assert state.requests == []


async def test_failure_carries_xais_reason(client: AsyncVideoClient, state: FakeXAIState) -> None:
    with pytest.raises(VideoGenerationFailed) as info:
        await client.create_and_poll("FAIL now", model="xai/grok-imagine-video")
    assert info.value.code == "internal_error"
    assert "could not be generated" in info.value.message


async def test_expired_request_fails(client: AsyncVideoClient, state: FakeXAIState) -> None:
    with pytest.raises(VideoGenerationFailed) as info:
        await client.create_and_poll("EXPIRE soon", model="xai/grok-imagine-video")
    assert info.value.code == "expired"


async def test_moderation_refusal_is_moderation_blocked(
    client: AsyncVideoClient, state: FakeXAIState
) -> None:
    with pytest.raises(VideoGenerationFailed) as info:
        await client.create_and_poll("UNSAFE things", model="xai/grok-imagine-video")
    err = info.value.video.error
    assert err is not None and err.code == "moderation_blocked"
    assert "respect_moderation" in err.message
    with pytest.raises(BadRequestError) as refused:
        await client.download_content(info.value.video.id)
    assert refused.value.code == "video_not_ready"


async def test_content_variants(client: AsyncVideoClient, state: FakeXAIState) -> None:
    video = await client.create_and_poll("A fox", model="xai/grok-imagine-video", seconds=1)
    content = await client.download_content(video.id)
    assert content.content == state.video_bytes and content.content_type == "video/mp4"
    [cdn] = state.requests_for("GET", "/cdn/{id}")
    assert "authorization" not in cdn.headers
    thumb = await client.download_content(video.id, variant="thumbnail")
    assert thumb.content_type == "image/webp" and _codec(thumb.content) == "webp"
    sprite = await client.download_content(video.id, variant="spritesheet")
    assert sprite.content_type == "image/jpeg" and _codec(sprite.content) in ("mjpeg", "jpeg")


async def test_expired_download_link_is_a_clear_error(
    client: AsyncVideoClient, state: FakeXAIState
) -> None:
    video = await client.create_and_poll("A fox", model="xai/grok-imagine-video", seconds=1)
    state.expire_links = True
    with pytest.raises(NotFoundError) as info:
        await client.download_content(video.id)
    assert info.value.code == "download_link_expired"
    assert "xAI's download link has expired" in info.value.message


async def test_429_is_retried_honouring_retry_after(
    client: AsyncVideoClient, state: FakeXAIState, sleeps: Sleeps
) -> None:
    body = {"code": "Some resource has been exhausted", "error": "Too many requests."}
    fault = state.inject(
        method="POST",
        path="/v1/videos/generations",
        status=429,
        headers={"retry-after": "2"},
        body=body,
    )
    video = await client.create("A cat", model="xai/grok-imagine-video")
    assert fault.served == 1 and len(state.jobs) == 1 and video.status == "queued"
    assert sleeps.calls == [2.0]
    state.inject(method="POST", path="/v1/videos/generations", status=429, body=body, times=5)
    with pytest.raises(RateLimitError) as info:
        await client.create("A cat", model="xai/grok-imagine-video", max_retries=1)
    assert info.value.message == "Too many requests."
    assert info.value.code == "Some resource has been exhausted"


async def test_wrong_key_answered_with_400_is_an_authentication_error(
    _server: tuple[FakeXAIState, str], state: FakeXAIState
) -> None:
    wrong = AsyncVideoClient(api_key="xai-wrong", api_base=_server[1])
    with pytest.raises(AuthenticationError) as info:
        await wrong.create("A cat", model="xai/grok-imagine-video")
    assert "Incorrect API key" in info.value.message
    assert state.requests_for("POST", "/v1/videos/generations")[0].status == 400
    with pytest.raises(AuthenticationError, match="XAI_API_KEY"):
        await AsyncVideoClient(api_base=_server[1]).create("x", model="xai/grok-imagine-video")
    assert len(state.requests) == 1


async def test_other_400s_stay_bad_requests(client: AsyncVideoClient, state: FakeXAIState) -> None:
    state.inject(
        method="POST",
        path="/v1/videos/generations",
        status=400,
        body={
            "error": {"message": "bad prompt", "type": "invalid_request_error", "param": "prompt"}
        },
    )
    with pytest.raises(BadRequestError) as info:
        await client.create("A cat", model="xai/grok-imagine-video")
    assert not isinstance(info.value, AuthenticationError)
    assert (info.value.message, info.value.param) == ("bad prompt", "prompt")


async def test_environment_credentials(
    _server: tuple[FakeXAIState, str], state: FakeXAIState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XAI_API_KEY", "xai-test")
    monkeypatch.setenv("XAI_BASE_URL", _server[1])
    video = await AsyncVideoClient().create("A cat", model="xai/grok-imagine-video")
    assert video.status == "queued" and len(state.jobs) == 1


async def test_delete_sends_nothing_and_drops_the_video_from_the_list(
    client: AsyncVideoClient, state: FakeXAIState
) -> None:
    video = await client.create("A cat", model="xai/grok-imagine-video")
    deleted = await client.delete(video.id)
    assert deleted.deleted and deleted.id == video.id
    # xAI has no list endpoint (§11): the SDK lists what it made, and this one is gone.
    assert (await client.list(provider="xai")).data == []
    assert len(state.requests) == 1  # only the create


@pytest.mark.parametrize(
    ("model", "seconds", "size", "cost"),
    [
        ("grok-imagine-video", 5, "854x480", 0.25),
        ("grok-imagine-video", 10, "1280x720", 0.70),
        ("grok-imagine-video-1.5", 4, "1920x1080", 1.00),
        ("grok-imagine-video-1.5", 15, "720x720", 2.10),
        ("grok-imagine-video-1.5-lite", 8, "480x480", 0.16),
        ("grok-imagine-video-1.5-lite", 2, "1080x1080", 0.28),
    ],
)
async def test_cost_from_the_price_table(
    client: AsyncVideoClient,
    state: FakeXAIState,
    model: str,
    seconds: int,
    size: str,
    cost: float,
) -> None:
    video = await client.create_and_poll("A cat", model=f"xai/{model}", seconds=seconds, size=size)
    assert video.usage is not None and video.usage.cost_usd == pytest.approx(cost)
    # What xAI reported charging (cost_in_usd_ticks), kept next to our estimate.
    assert getattr(video, "upstream_cost_usd", None) == pytest.approx(cost)


def _codec(data: bytes) -> str:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        next(container.decode(stream))
        return str(stream.codec_context.name)


async def test_seed_api_functions(_server: tuple[FakeXAIState, str], state: FakeXAIState) -> None:
    creds: dict[str, Any] = {"api_key": "xai-test", "api_base": _server[1]}
    video = await vidgate.acreate_video("A cat", model="xai/grok-imagine-video", seconds=1, **creds)
    while video.status != "completed":
        video = await vidgate.avideo_retrieve(video.id, **creds)
    content = await vidgate.avideo_content(video.id, **creds)
    assert content.content == state.video_bytes
    assert (await vidgate.avideo_delete(video.id, **creds)).deleted


def test_sync_twin(_server: tuple[FakeXAIState, str], state: FakeXAIState) -> None:
    video = vidgate.create_video(
        "A cat", model="xai/grok-imagine-video", api_key="xai-test", api_base=_server[1]
    )
    assert video.status == "queued" and len(state.jobs) == 1
