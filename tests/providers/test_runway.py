"""The ``runway`` provider through the SDK against the fake Runway API on loopback
(providers.md §5): request mapping, status mapping, content, errors, retries and costs."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest

import vidgate
from tests.fakes.clock import Sleeps
from tests.fakes.loopback import serve_on_loopback
from tests.fakes.runway_upstream import FakeRunwayState, create_app
from vidgate import (
    AsyncVideoClient,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    VideoGenerationFailed,
)
from vidgate._engine import Engine
from vidgate.local.render import render
from vidgate.types.video import Video

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x40" * 2 + b"\x00" * 24  # 64x64


@pytest.fixture(scope="module")
def _server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeRunwayState, str]]:
    out = tmp_path_factory.mktemp("runway-video")
    mp4 = render("runway fake", out_dir=out, width=320, height=180, seconds=1).video.read_bytes()
    state = FakeRunwayState(video_bytes=mp4)
    with serve_on_loopback(create_app(state)) as (base_url, _):
        yield state, base_url


@pytest.fixture
def state(_server: tuple[FakeRunwayState, str], monkeypatch: pytest.MonkeyPatch) -> FakeRunwayState:
    for name in ("RUNWAYML_API_SECRET", "RUNWAY_API_KEY", "RUNWAYML_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    _server[0].reset()
    return _server[0]


@pytest.fixture
def client(
    _server: tuple[FakeRunwayState, str], state: FakeRunwayState, sleeps: Sleeps
) -> AsyncVideoClient:
    return AsyncVideoClient(
        api_key="key_test", api_base=_server[1], engine=Engine(sleep=sleeps, rand=lambda: 0.0)
    )


async def test_text_to_video_maps_the_request_and_polls_to_completion(
    client: AsyncVideoClient, state: FakeRunwayState
) -> None:
    seen: list[tuple[str, int]] = []
    video = await client.create_and_poll(
        "A lighthouse at dusk",
        model="runway/gen4.5",
        seconds=5,
        size="1280x720",
        extra_body={"seed": 42, "contentModeration": {"publicFigureThreshold": "low"}},
        on_progress=lambda v: seen.append((v.status, v.progress)),
    )
    [sent] = state.requests_for("POST", "/v1/text_to_video")
    assert sent.json == {
        "model": "gen4.5",
        "promptText": "A lighthouse at dusk",
        "ratio": "1280:720",
        "duration": 5,
        "seed": 42,
        "contentModeration": {"publicFigureThreshold": "low"},
    }
    assert sent.headers["authorization"] == "Bearer key_test"
    assert sent.headers["x-runway-version"] == "2024-11-06"
    assert [s for s, _ in seen] == ["queued", "queued", "in_progress", "in_progress", "completed"]
    assert [p for _, p in seen] == [0, 0, 0, 50, 100]
    assert video.id.startswith("video_runway.") and video.model == "runway/gen4.5"
    assert (video.size, video.seconds) == ("1280x720", "5")
    [task_id] = state.tasks
    assert video.created_at == _epoch(state.tasks[task_id].created_at)


async def test_throttled_is_queued(client: AsyncVideoClient, state: FakeRunwayState) -> None:
    state.throttle_first = True
    video = await client.create("x", model="runway/veo3.1_fast", seconds=4, size="1080x1920")
    polled = await client.retrieve(video.id)
    assert polled.status == "queued"
    [task] = state.tasks.values()
    assert task.status == "THROTTLED"


async def test_image_to_video_sends_bytes_as_a_data_uri(
    client: AsyncVideoClient, state: FakeRunwayState
) -> None:
    await client.create(
        "Waves", model="runway/gen4_turbo", seconds=10, size="1584x672", input_reference=PNG
    )
    [sent] = state.requests_for("POST", "/v1/image_to_video")
    assert sent.json["promptImage"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert (sent.json["model"], sent.json["ratio"], sent.json["duration"]) == (
        "gen4_turbo",
        "1584:672",
        10,
    )


async def test_veo_takes_a_url_first_frame_and_a_last_frame(
    client: AsyncVideoClient, state: FakeRunwayState
) -> None:
    await client.create(
        "Sunrise",
        model="runway/veo3.1",
        seconds=8,
        size="1920x1080",
        input_reference="https://example.com/first.png",
        extra_body={"last_frame": "https://example.com/last.png", "audio": False},
    )
    [sent] = state.requests_for("POST", "/v1/image_to_video")
    assert sent.json["promptImage"] == [
        {"uri": "https://example.com/first.png", "position": "first"},
        {"uri": "https://example.com/last.png", "position": "last"},
    ]
    assert sent.json["audio"] is False and "last_frame" not in sent.json
    assert sent.json["ratio"] == "1920:1080"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"model": "runway/gen4.5", "seconds": "12"}, "seconds"),
        ({"model": "runway/veo3.1", "seconds": "5"}, "seconds"),
        ({"model": "runway/gen4.5", "size": "1920x1080"}, "size"),
        ({"model": "runway/veo3.1_fast", "size": "960x960"}, "size"),
        ({"model": "runway/gen4.5", "size": "960x960"}, "size"),  # text-to-video: 720p only
        ({"model": "runway/gen4_turbo"}, "input_reference"),  # image-to-video only
        ({"model": "runway/gen3a_turbo"}, "model"),
        ({"model": "runway/gen4.5", "prompt": "x" * 1001}, "prompt"),
        ({"model": "runway/gen4.5", "prompt": "😀" * 501}, "prompt"),  # 1002 UTF-16 units
        ({"model": "runway/gen4.5", "extra_body": {"ratio": "1280:720"}}, "ratio"),
        (
            {"model": "runway/gen4.5", "input_reference": "http://example.com/a.png"},
            "input_reference",
        ),
        (
            {
                "model": "runway/gen4.5",
                "input_reference": PNG,
                "extra_body": {"last_frame": "https://e/x.png"},
            },
            "last_frame",
        ),
        ({"model": "runway/veo3.1", "extra_body": {"last_frame": "https://e/x.png"}}, "last_frame"),
    ],
)
async def test_values_runway_cannot_honour_are_refused_before_sending(
    client: AsyncVideoClient, state: FakeRunwayState, kwargs: dict[str, Any], param: str
) -> None:
    args: dict[str, Any] = {"prompt": "A cat", **kwargs}
    with pytest.raises(BadRequestError) as info:
        await client.create(**args)
    assert info.value.param == param and info.value.status_code == 400
    assert state.requests == []


async def test_wider_ratios_are_accepted_with_an_image(
    client: AsyncVideoClient, state: FakeRunwayState
) -> None:
    await client.create("x", model="runway/gen4.5", size="960x960", input_reference=PNG)
    [sent] = state.requests_for("POST", "/v1/image_to_video")
    assert sent.json["ratio"] == "960:960"


async def test_failure_carries_runways_reason(
    client: AsyncVideoClient, state: FakeRunwayState
) -> None:
    with pytest.raises(VideoGenerationFailed) as info:
        await client.create_and_poll("FAIL please", model="runway/gen4.5")
    assert info.value.code == "INTERNAL.BAD_OUTPUT.CODE01"
    assert "quality reasons" in info.value.message
    assert info.value.video.status == "failed"


async def test_moderation_refusal_is_moderation_blocked(
    client: AsyncVideoClient, state: FakeRunwayState
) -> None:
    with pytest.raises(VideoGenerationFailed) as info:
        await client.create_and_poll("UNSAFE things", model="runway/gen4.5")
    err = info.value.video.error
    assert err is not None and err.code == "moderation_blocked"
    assert "SAFETY.INPUT.TEXT" in err.message and "moderation" in err.message


async def _completed(client: AsyncVideoClient, **kwargs: Any) -> Video:
    args: dict[str, Any] = {"model": "runway/gen4.5", "seconds": 2, **kwargs}
    return await client.create_and_poll("A fox", **args)


async def test_content_variants(client: AsyncVideoClient, state: FakeRunwayState) -> None:
    video = await _completed(client)
    content = await client.download_content(video.id)
    assert content.content == state.video_bytes and content.content_type == "video/mp4"
    [cdn] = state.requests_for("GET", "/cdn/{id}")
    assert "authorization" not in cdn.headers and "x-runway-version" not in cdn.headers
    assert cdn.query["_jwt"].startswith("signed-")
    thumb = await client.download_content(video.id, variant="thumbnail")
    assert thumb.content_type == "image/webp" and _decodes(thumb.content) == "webp"
    sprite = await client.download_content(video.id, variant="spritesheet")
    assert sprite.content_type == "image/jpeg" and _decodes(sprite.content) in ("mjpeg", "jpeg")
    # Every download fetches the task again for a fresh link (§5).
    assert len(state.requests_for("GET", "/cdn/{id}")) == 3


async def test_expired_download_link_is_a_clear_error(
    client: AsyncVideoClient, state: FakeRunwayState
) -> None:
    video = await _completed(client)
    state.expire_links = True
    with pytest.raises(NotFoundError) as info:
        await client.download_content(video.id)
    assert info.value.code == "download_link_expired"
    assert "Runway's download link has expired" in info.value.message


async def test_content_of_an_unfinished_task_is_refused(
    client: AsyncVideoClient, state: FakeRunwayState
) -> None:
    video = await client.create("A fox", model="runway/gen4.5")
    with pytest.raises(BadRequestError) as info:
        await client.download_content(video.id)
    assert info.value.code == "video_not_ready"


async def test_429_is_retried_honouring_retry_after(
    client: AsyncVideoClient, state: FakeRunwayState, sleeps: Sleeps
) -> None:
    fault = state.inject(
        method="POST", path="/v1/text_to_video", status=429, headers={"retry-after": "2"}
    )
    video = await client.create("A cat", model="runway/gen4.5")
    assert fault.served == 1 and len(state.tasks) == 1 and video.status == "queued"
    assert sleeps.calls == [2.0]
    state.inject(method="GET", path="/v1/tasks/{id}", status=429, headers={"retry-after": "3"})
    await client.retrieve(video.id)
    assert sleeps.calls == [2.0, 3.0]


async def test_5xx_on_create_is_not_retried(
    client: AsyncVideoClient, state: FakeRunwayState
) -> None:
    state.inject(method="POST", path="/v1/text_to_video", status=502)
    with pytest.raises(Exception) as info:
        await client.create("A cat", model="runway/gen4.5")
    assert getattr(info.value, "status_code", None) == 502
    assert len(state.requests_for("POST", "/v1/text_to_video")) == 1


async def test_upstream_validation_error_names_the_parameter(
    client: AsyncVideoClient, state: FakeRunwayState
) -> None:
    body = {"error": "Validation of body failed", "issues": [{"path": ["ratio"], "message": "no"}]}
    state.inject(method="POST", path="/v1/text_to_video", status=400, body=body)
    with pytest.raises(BadRequestError) as info:
        await client.create("A cat", model="runway/gen4.5")
    assert info.value.param == "size" and "Validation of body failed: no" in info.value.message


async def test_auth_errors(_server: tuple[FakeRunwayState, str], state: FakeRunwayState) -> None:
    wrong = AsyncVideoClient(api_key="key_wrong", api_base=_server[1])
    with pytest.raises(AuthenticationError) as info:
        await wrong.create("A cat", model="runway/gen4.5")
    assert info.value.status_code == 401 and "incorrect" in info.value.message
    missing = AsyncVideoClient(api_base=_server[1])
    with pytest.raises(AuthenticationError, match="RUNWAYML_API_SECRET"):
        await missing.create("A cat", model="runway/gen4.5")
    assert len(state.requests) == 1


async def test_environment_credentials(
    _server: tuple[FakeRunwayState, str], state: FakeRunwayState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNWAYML_API_SECRET", "key_test")
    monkeypatch.setenv("RUNWAYML_BASE_URL", _server[1] + "/v1")  # a trailing /v1 is tolerated
    video = await AsyncVideoClient().create("A cat", model="runway/gen4.5")
    assert video.status == "queued" and len(state.tasks) == 1


async def test_delete_cancels_a_running_task(
    client: AsyncVideoClient, state: FakeRunwayState
) -> None:
    video = await client.create("A cat", model="runway/gen4.5")
    deleted = await client.delete(video.id)
    assert deleted.deleted and deleted.id == video.id
    assert len(state.requests_for("DELETE", "/v1/tasks/{id}")) == 1
    cancelled = await client.retrieve(video.id)
    assert cancelled.status == "failed"
    assert cancelled.error is not None and cancelled.error.code == "cancelled"


async def test_delete_removes_a_finished_task(
    client: AsyncVideoClient, state: FakeRunwayState
) -> None:
    video = await _completed(client)
    await client.delete(video.id)
    with pytest.raises(NotFoundError):
        await client.retrieve(video.id)


async def test_list_is_what_this_sdk_made(client: AsyncVideoClient, state: FakeRunwayState) -> None:
    # Runway has no list endpoint (§5): nothing made yet means an empty page, and no request.
    page = await client.list(provider="runway")
    assert page.data == [] and not page.has_more
    assert state.requests == []


@pytest.mark.parametrize(
    ("model", "seconds", "size", "cost"),
    [
        ("gen4.5", 5, "1280x720", 0.60),
        ("gen4_turbo", 10, "960x960", 0.50),
        ("veo3.1", 8, "1920x1080", 3.20),
        ("veo3.1_fast", 6, "720x1280", 0.90),
    ],
)
async def test_cost_from_the_price_table(
    client: AsyncVideoClient,
    state: FakeRunwayState,
    model: str,
    seconds: int,
    size: str,
    cost: float,
) -> None:
    video = await client.create_and_poll(
        "A cat", model=f"runway/{model}", seconds=seconds, size=size, input_reference=PNG
    )
    assert video.usage is not None and video.usage.seconds == seconds
    assert video.usage.cost_usd == pytest.approx(cost)
    # What Runway reported charging ($0.01 per credit), kept next to our estimate.
    assert getattr(video, "upstream_cost_usd", None) == pytest.approx(cost)


def _decodes(data: bytes) -> str:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        next(container.decode(stream))
        return str(stream.codec_context.name)


def _epoch(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def test_fake_renders_a_real_mp4(_server: tuple[FakeRunwayState, str], tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    path.write_bytes(_server[0].video_bytes)
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"


async def test_seed_api_functions(
    _server: tuple[FakeRunwayState, str], state: FakeRunwayState
) -> None:
    creds: dict[str, Any] = {"api_key": "key_test", "api_base": _server[1]}
    video = await vidgate.acreate_video("A cat", model="runway/gen4.5", seconds=2, **creds)
    while video.status != "completed":
        video = await vidgate.avideo_retrieve(video.id, **creds)
    content = await vidgate.avideo_content(video.id, **creds)
    assert content.content == state.video_bytes
    assert (await vidgate.avideo_delete(video.id, **creds)).deleted
    assert len(state.requests_for("DELETE", "/v1/tasks/{id}")) == 1


def test_sync_twin(_server: tuple[FakeRunwayState, str], state: FakeRunwayState) -> None:
    video = vidgate.create_video(
        "A cat", model="runway/gen4.5", api_key="key_test", api_base=_server[1]
    )
    assert video.status == "queued" and video.model == "runway/gen4.5"
    assert len(state.tasks) == 1


async def test_a_silent_veo_video_is_priced_silent(
    client: AsyncVideoClient, state: FakeRunwayState
) -> None:
    # Veo on Runway costs $0.40/s with sound and $0.20/s without (price table, §5).
    created = await client.create(
        "A cat", model="runway/veo3.1", seconds=8, size="1280x720", extra_body={"audio": False}
    )
    assert created.usage is not None and created.usage.cost_usd == pytest.approx(1.60)
    # The id remembers it, so later calls price it the same.
    again = await client.retrieve(created.id)
    assert again.usage is not None and again.usage.cost_usd == pytest.approx(1.60)
    loud = await client.create("A cat", model="runway/veo3.1", seconds=8, size="1280x720")
    assert loud.usage is not None and loud.usage.cost_usd == pytest.approx(3.20)
    [sent, _] = state.requests_for("POST", "/v1/text_to_video")
    assert sent.json is not None and sent.json["audio"] is False
