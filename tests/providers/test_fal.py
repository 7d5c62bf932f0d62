"""The ``fal`` provider through the SDK against the fake fal queue on loopback (providers.md
§7): request mapping, the short status/response URLs, status mapping, content, errors,
retries and costs."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import av
import pytest

import vidgate
from tests.fakes.clock import Sleeps
from tests.fakes.fal_upstream import REFUSAL, FakeFalState, create_app
from tests.fakes.loopback import serve_on_loopback
from vidgate import (
    AsyncVideoClient,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    UnprocessableEntityError,
    VideoGenerationFailed,
)
from vidgate._engine import Engine
from vidgate._models import Credentials
from vidgate.local.render import render
from vidgate.providers.fal import FalProvider
from vidgate.types.video import Video

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x40" * 2 + b"\x00" * 24  # 64x64
KLING = "fal/fal-ai/kling-video/v2.1/master/text-to-video"
KLING_I2V = "fal/fal-ai/kling-video/v2.1/master/image-to-video"
ENV = ("FAL_KEY", "FAL_API_BASE", "FAL_QUEUE_RUN_HOST")


@pytest.fixture(scope="module")
def _server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeFalState, str]]:
    out = tmp_path_factory.mktemp("fal-video")
    mp4 = render("fal fake", out_dir=out, width=320, height=180, seconds=1).video.read_bytes()
    state = FakeFalState(video_bytes=mp4)
    with serve_on_loopback(create_app(state)) as (base_url, _):
        yield state, base_url


@pytest.fixture
def state(_server: tuple[FakeFalState, str], monkeypatch: pytest.MonkeyPatch) -> FakeFalState:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    _server[0].reset()
    return _server[0]


@pytest.fixture
def client(
    _server: tuple[FakeFalState, str], state: FakeFalState, sleeps: Sleeps
) -> AsyncVideoClient:
    return AsyncVideoClient(
        api_key="fal-test", api_base=_server[1], engine=Engine(sleep=sleeps, rand=lambda: 0.0)
    )


async def _completed(client: AsyncVideoClient, prompt: str = "A fox", **kwargs: Any) -> Video:
    return await client.create_and_poll(prompt, model=KLING, poll_interval=0, **kwargs)


async def test_text_to_video_maps_seconds_size_and_extra_body(
    client: AsyncVideoClient, state: FakeFalState
) -> None:
    video = await client.create(
        "A lighthouse at dusk",
        model=KLING,
        seconds="10",
        size="1080x1920",
        extra_body={"negative_prompt": "blur", "cfg_scale": 0.3},
    )
    [sent] = state.requests_for("POST")
    assert sent.path == "/fal-ai/kling-video/v2.1/master/text-to-video"
    assert sent.headers["authorization"] == "Key fal-test"
    assert sent.json == {
        "prompt": "A lighthouse at dusk",
        "duration": "10",
        "aspect_ratio": "9:16",
        "negative_prompt": "blur",
        "cfg_scale": 0.3,
    }
    assert video.status == "queued" and video.model == KLING
    assert video.id.startswith("video_fal.")
    assert (video.size, video.seconds) == ("1080x1920", "10")
    assert video.usage is not None and video.usage.cost_usd == pytest.approx(2.80)


async def test_image_reference_goes_as_a_data_uri_or_url(
    client: AsyncVideoClient, state: FakeFalState
) -> None:
    await client.create("Wake up", model=KLING_I2V, size="1080x1080", input_reference=PNG)
    await client.create("Wake up", model=KLING_I2V, input_reference="https://example.com/first.png")
    first, second = (r.json for r in state.requests_for("POST"))
    assert first["image_url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert "aspect_ratio" not in first  # an image-to-video app follows the image
    assert second["image_url"] == "https://example.com/first.png"
    assert second["duration"] == "5"


WAN = "fal-ai/wan-25-preview/text-to-video"


@pytest.mark.parametrize(
    ("model", "size", "expected"),
    [
        (WAN, "960x960", {"resolution": "720p", "aspect_ratio": "1:1"}),
        (WAN, "832x480", {"resolution": "480p", "aspect_ratio": "16:9"}),
        ("fal-ai/kling-video/v2/master/text-to-video", "720x1280", {"aspect_ratio": "9:16"}),
    ],
)
async def test_size_becomes_resolution_and_aspect_ratio(
    client: AsyncVideoClient,
    state: FakeFalState,
    model: str,
    size: str,
    expected: dict[str, str],
) -> None:
    await client.create("x", model=f"fal/{model}", size=size)
    [sent] = state.requests_for("POST")
    assert {k: v for k, v in sent.json.items() if k in ("resolution", "aspect_ratio")} == expected


async def test_hailuo_image_to_video_takes_a_resolution_tier(
    client: AsyncVideoClient, state: FakeFalState
) -> None:
    video = await client.create(
        "Pan left",
        model="fal/fal-ai/minimax/hailuo-02/standard/image-to-video",
        seconds="6",
        size="912x512",
        input_reference=PNG,
        extra_body={"end_image_url": "https://example.com/last.png"},
    )
    [sent] = state.requests_for("POST")
    assert sent.json["resolution"] == "512P" and sent.json["duration"] == "6"
    assert sent.json["end_image_url"] == "https://example.com/last.png"
    # No 512P price is known: the cost is unknown rather than wrong.
    assert video.usage is not None and video.usage.cost_usd is None


async def test_polls_the_short_status_url_to_completion(
    client: AsyncVideoClient, state: FakeFalState
) -> None:
    state.queued_polls, state.polls_to_complete = 2, 4
    seen: list[tuple[str, int]] = []
    video = await client.create_and_poll(
        "A fox",
        model=KLING,
        poll_interval=0,
        on_progress=lambda v: seen.append((v.status, v.progress)),
    )
    assert seen == [
        ("queued", 0),
        ("queued", 0),
        ("queued", 0),
        ("in_progress", 50),
        ("completed", 100),
    ]
    [job_id] = state.jobs
    polls = state.requests_for("GET", "/fal-ai/kling-video/requests/")
    # §7: status and response URLs carry only owner/alias, not the full submit path.
    assert {r.path for r in polls} == {
        f"/fal-ai/kling-video/requests/{job_id}/status",
        f"/fal-ai/kling-video/requests/{job_id}",
    }
    assert all(r.headers["authorization"] == "Key fal-test" for r in polls)
    assert video.status == "completed" and (video.size, video.seconds) == ("1920x1080", "5")
    assert video.usage is not None and video.usage.cost_usd == pytest.approx(1.40)
    again = await client.retrieve(video.id)
    assert again.status == "completed" and again.id == video.id


async def test_content_variants(client: AsyncVideoClient, state: FakeFalState) -> None:
    video = await _completed(client)
    content = await client.download_content(video.id)
    assert content.content == state.video_bytes and content.content_type == "video/mp4"
    [cdn] = state.requests_for("GET", "/cdn/")
    assert "authorization" not in cdn.headers  # the CDN URL is signed; no fal key there
    thumb = await client.download_content(video.id, variant="thumbnail")
    sprite = await client.download_content(video.id, variant="spritesheet")
    assert thumb.content_type == "image/webp" and _decodes(thumb.content) == "webp"
    assert sprite.content_type == "image/jpeg" and _decodes(sprite.content) == "mjpeg"


async def test_expired_download_link_is_a_clear_error(
    client: AsyncVideoClient, state: FakeFalState
) -> None:
    video = await _completed(client)
    state.expire_downloads = True
    with pytest.raises(NotFoundError) as info:
        await client.download_content(video.id)
    assert info.value.code == "download_link_expired"
    assert "fal's download link" in info.value.message and "403" in info.value.message
    with pytest.raises(NotFoundError):
        await client.download_content(video.id, variant="thumbnail")


async def test_content_before_completion_is_refused(
    client: AsyncVideoClient, state: FakeFalState
) -> None:
    video = await client.create("A fox", model=KLING)
    with pytest.raises(BadRequestError) as info:
        await client.download_content(video.id)
    assert "still in progress" in info.value.message


async def test_failed_job_carries_fals_reason(
    client: AsyncVideoClient, state: FakeFalState
) -> None:
    with pytest.raises(VideoGenerationFailed) as info:
        await _completed(client, "A fox [fail]")
    assert info.value.code == "runner_server_error"
    assert info.value.video.error is not None
    assert info.value.video.error.message == "Runner crashed while generating the video."
    assert info.value.video.status == "failed"


async def test_moderation_refusal_at_status_is_moderation_blocked(
    client: AsyncVideoClient, state: FakeFalState
) -> None:
    with pytest.raises(VideoGenerationFailed) as info:
        await _completed(client, "A fox [refuse]")
    assert info.value.code == "moderation_blocked"
    assert info.value.video.error is not None and info.value.video.error.message == REFUSAL


async def test_refusal_at_result_fetch_carries_the_reason(
    client: AsyncVideoClient, state: FakeFalState
) -> None:
    # Addenda: fal may refuse only when the result is fetched (422 {"detail": [...]}).
    with pytest.raises(VideoGenerationFailed) as info:
        await _completed(client, "A fox [refuse-late]")
    assert info.value.code == "moderation_blocked"
    assert REFUSAL in str(info.value)


async def test_refusal_at_result_fetch_is_a_failed_video(
    client: AsyncVideoClient, state: FakeFalState
) -> None:
    state.polls_to_complete = 1
    video = await client.create("A fox [refuse-late]", model=KLING)
    failed = await client.retrieve(video.id)
    assert failed.status == "failed"
    assert failed.error is not None and failed.error.code == "moderation_blocked"


async def test_429_on_submit_is_retried_honouring_retry_after(
    client: AsyncVideoClient, state: FakeFalState, sleeps: Sleeps
) -> None:
    body = {"detail": "Too many requests", "error_type": "rate_limited"}
    state.inject("POST", "/fal-ai/", 429, body, headers={"retry-after": "3"})
    await client.create("A fox", model=KLING)
    assert len(state.requests_for("POST")) == 2
    assert sleeps.calls == [3.0]
    assert len(state.jobs) == 1


async def test_auth_error(_server: tuple[FakeFalState, str], state: FakeFalState) -> None:
    client = AsyncVideoClient(api_key="wrong", api_base=_server[1])
    with pytest.raises(AuthenticationError) as info:
        await client.create("A fox", model=KLING)
    assert info.value.message == "Invalid authentication credentials"
    assert state.requests_for("POST")[0].headers["authorization"] == "Key wrong"


async def test_environment_credentials(
    _server: tuple[FakeFalState, str], state: FakeFalState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAL_KEY", "fal-test")
    monkeypatch.setenv("FAL_API_BASE", _server[1])
    video = await vidgate.acreate_video(prompt="A fox", model=KLING, seconds="5", size="1920x1080")
    assert video.status == "queued" and len(state.jobs) == 1


def test_queue_host_without_scheme_is_https() -> None:
    provider = FalProvider(Credentials(api_base="queue.example.test"))
    assert provider.api_base == "https://queue.example.test"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"seconds": "6"}, "seconds"),
        ({"size": "1280x720"}, "size"),  # 2.1 Master renders 1080p
        ({"input_reference": PNG}, "input_reference"),  # a text-only app
        ({"model": KLING_I2V}, "input_reference"),  # an image app without an image
        ({"model": "fal/fal-ai/some-new-app"}, "model"),
        ({"extra_body": {"duration": "10"}}, "duration"),
        ({"extra_body": {"aspect_ratio": "1:1"}}, "aspect_ratio"),
    ],
)
async def test_values_the_model_cannot_honour_are_refused_before_sending(
    client: AsyncVideoClient, state: FakeFalState, kwargs: dict[str, Any], param: str
) -> None:
    args: dict[str, Any] = {"prompt": "A fox", "model": KLING, **kwargs}
    with pytest.raises(BadRequestError) as info:
        await client.create(**args)
    assert info.value.param == param and info.value.status_code == 400
    assert state.requests == []
    if param == "model":
        assert KLING in info.value.message  # names the known models


async def test_upstream_validation_error_names_the_field(
    client: AsyncVideoClient, state: FakeFalState
) -> None:
    detail = [{"loc": ["body", "cfg_scale"], "msg": "must be <= 1", "type": "less_than_equal"}]
    state.inject("POST", "/fal-ai/", 422, {"detail": detail})
    with pytest.raises(UnprocessableEntityError) as info:
        await client.create("A fox", model=KLING)
    assert info.value.param == "cfg_scale" and info.value.code == "less_than_equal"
    assert info.value.message == "cfg_scale: must be <= 1"


async def test_delete_cancels_a_running_job(client: AsyncVideoClient, state: FakeFalState) -> None:
    video = await client.create("A fox", model=KLING)
    deleted = await client.delete(video.id)
    assert deleted.deleted and deleted.id == video.id
    [job_id] = state.jobs
    [cancel] = state.requests_for("PUT")
    assert cancel.path == f"/fal-ai/kling-video/requests/{job_id}/cancel"
    after = await client.retrieve(video.id)
    assert after.status == "failed" and after.error is not None
    assert after.error.code == "cancelled"


async def test_delete_of_a_finished_job_sends_no_cancel(
    client: AsyncVideoClient, state: FakeFalState
) -> None:
    video = await _completed(client)
    assert (await client.delete(video.id)).deleted
    assert state.requests_for("PUT") == []


async def test_list_is_what_this_sdk_made(client: AsyncVideoClient, state: FakeFalState) -> None:
    # fal has no list endpoint (§7): the SDK lists the jobs it made, each fetched from fal.
    assert (await client.list(provider="fal")).data == []
    assert state.requests == []
    video = await client.create("A fox", model=KLING)
    assert [v.id for v in (await client.list(provider="fal")).data] == [video.id]


@pytest.mark.parametrize(
    ("model", "seconds", "size", "cost"),
    [
        ("fal-ai/kling-video/v2/master/text-to-video", "10", "1280x720", 2.80),
        ("fal-ai/minimax/hailuo-02/standard/text-to-video", "6", "1366x768", 0.45),
        ("fal-ai/wan-25-preview/text-to-video", "10", "1920x1080", 1.50),
        ("fal-ai/wan-25-preview/text-to-video", "5", "624x624", 0.25),
    ],
)
async def test_cost_from_the_price_table(
    client: AsyncVideoClient,
    state: FakeFalState,
    model: str,
    seconds: str,
    size: str,
    cost: float,
) -> None:
    video = await client.create("A fox", model=f"fal/{model}", seconds=seconds, size=size)
    assert video.usage is not None and video.usage.cost_usd == pytest.approx(cost)


def test_sync_twin(_server: tuple[FakeFalState, str], state: FakeFalState) -> None:
    with vidgate.VideoClient(api_key="fal-test", api_base=_server[1]) as client:
        video = client.create_and_poll("A fox", model=KLING, poll_interval=0)
        assert client.download_content(video.id).content == state.video_bytes


def _decodes(data: bytes) -> str:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        next(container.decode(stream))
        return str(stream.codec_context.name)
