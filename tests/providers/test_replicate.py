"""The ``replicate`` provider through the SDK against the fake Replicate API on loopback
(providers.md §8): per-model input fields, status mapping, content, cancel, list, errors,
retries and costs."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import av
import pytest

import vidgate
from tests.fakes.clock import Sleeps
from tests.fakes.loopback import serve_on_loopback
from tests.fakes.replicate_upstream import (
    REFUSAL,
    VERSIONS,
    FakeReplicateState,
    create_app,
)
from vidgate import (
    AsyncVideoClient,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    UnprocessableEntityError,
    VideoGenerationFailed,
)
from vidgate._engine import Engine
from vidgate._ids import decode_video_id
from vidgate.local.render import render
from vidgate.types.video import Video

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x40" * 2 + b"\x00" * 24  # 64x64
HAILUO = "replicate/minimax/hailuo-02"
KLING = "replicate/kwaivgi/kling-v2.1"
ENV = ("REPLICATE_API_TOKEN", "REPLICATE_BASE_URL")


@pytest.fixture(scope="module")
def _server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FakeReplicateState, str]]:
    out = tmp_path_factory.mktemp("replicate-video")
    mp4 = render("replicate", out_dir=out, width=320, height=180, seconds=1).video.read_bytes()
    state = FakeReplicateState(video_bytes=mp4)
    with serve_on_loopback(create_app(state)) as (base_url, _):
        yield state, base_url


@pytest.fixture
def state(
    _server: tuple[FakeReplicateState, str], monkeypatch: pytest.MonkeyPatch
) -> FakeReplicateState:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    _server[0].reset()
    return _server[0]


@pytest.fixture
def client(
    _server: tuple[FakeReplicateState, str], state: FakeReplicateState, sleeps: Sleeps
) -> AsyncVideoClient:
    # The API root as replicate-python takes it (no /v1): the provider adds /v1.
    return AsyncVideoClient(
        api_key="r8_test", api_base=_server[1], engine=Engine(sleep=sleeps, rand=lambda: 0.0)
    )


async def _completed(client: AsyncVideoClient, prompt: str = "A fox", **kwargs: Any) -> Video:
    return await client.create_and_poll(prompt, model=HAILUO, poll_interval=0, **kwargs)


async def test_text_to_video_maps_the_models_input_fields(
    client: AsyncVideoClient, state: FakeReplicateState
) -> None:
    video = await client.create(
        "A lighthouse at dusk",
        model=HAILUO,
        seconds="10",
        size="1366x768",
        extra_body={"prompt_optimizer": False},
    )
    [sent] = state.requests_for("POST")
    assert sent.path == "/v1/models/minimax/hailuo-02/predictions"
    assert sent.headers["authorization"] == "Bearer r8_test"
    assert "prefer" not in sent.headers  # no Prefer: wait for minutes-long videos
    assert sent.json == {
        "input": {
            "prompt": "A lighthouse at dusk",
            "duration": 10,
            "resolution": "768p",
            "prompt_optimizer": False,
        }
    }
    assert video.status == "queued" and video.model == HAILUO
    assert video.id.startswith("video_replicate.")
    assert decode_video_id(video.id).upstream_id == next(iter(state.predictions))
    assert (video.size, video.seconds, video.prompt) == ("1366x768", "10", "A lighthouse at dusk")
    assert video.usage is not None and video.usage.cost_usd == pytest.approx(0.45)


async def test_a_pinned_version_goes_to_predictions(
    client: AsyncVideoClient, state: FakeReplicateState
) -> None:
    version = next(iter(VERSIONS))
    video = await client.create("A fox", model=f"{HAILUO}:{version}", seconds="6")
    [sent] = state.requests_for("POST")
    assert sent.path == "/v1/predictions"
    assert sent.json["version"] == version and sent.json["input"]["duration"] == 6
    assert video.model == f"{HAILUO}:{version}"


async def test_image_goes_in_the_models_own_field(
    client: AsyncVideoClient, state: FakeReplicateState
) -> None:
    video = await client.create(
        "Wake up",
        model=KLING,
        seconds="5",
        size="1080x1920",
        input_reference=PNG,
        extra_body={"negative_prompt": "blur"},
    )
    await client.create(
        "Wake up",
        model="replicate/wan-video/wan-2.5-i2v",
        size="960x960",
        input_reference="https://example.com/first.png",
    )
    kling, wan = (r.json["input"] for r in state.requests_for("POST"))
    assert kling == {
        "prompt": "Wake up",
        "duration": 5,
        "mode": "pro",
        "start_image": "data:image/png;base64," + base64.b64encode(PNG).decode(),
        "negative_prompt": "blur",
    }
    assert wan["image"] == "https://example.com/first.png" and wan["resolution"] == "720p"
    assert video.usage is not None and video.usage.cost_usd == pytest.approx(0.49)


async def test_kling_20_maps_size_to_aspect_ratio(
    client: AsyncVideoClient, state: FakeReplicateState
) -> None:
    await client.create("A fox", model="replicate/kwaivgi/kling-v2.0", size="720x720")
    [sent] = state.requests_for("POST")
    assert sent.json["input"]["aspect_ratio"] == "1:1" and "start_image" not in sent.json["input"]


async def test_polls_to_completion_with_progress_from_the_logs(
    client: AsyncVideoClient, state: FakeReplicateState
) -> None:
    state.starting_polls, state.polls_to_complete = 1, 3
    seen: list[tuple[str, int]] = []
    video = await _completed(client, on_progress=lambda v: seen.append((v.status, v.progress)))
    assert seen == [("queued", 0), ("queued", 0), ("in_progress", 40), ("completed", 100)]
    [pred_id] = state.predictions
    gets = state.requests_for("GET", "/v1/predictions/")
    assert {r.path for r in gets} == {f"/v1/predictions/{pred_id}"}
    assert video.completed_at is not None and video.created_at == _epoch("2026-11-24T12:00:00Z")
    assert (video.size, video.seconds) == ("1366x768", "6")
    assert video.usage is not None and video.usage.cost_usd == pytest.approx(0.27)


async def test_content_variants(client: AsyncVideoClient, state: FakeReplicateState) -> None:
    video = await _completed(client)
    content = await client.download_content(video.id)
    assert content.content == state.video_bytes
    [download] = state.requests_for("GET", "/delivery/")
    assert "authorization" not in download.headers  # a public replicate.delivery URL
    thumb = await client.download_content(video.id, variant="thumbnail")
    sprite = await client.download_content(video.id, variant="spritesheet")
    assert thumb.content_type == "image/webp" and _decodes(thumb.content) == "webp"
    assert sprite.content_type == "image/jpeg" and _decodes(sprite.content) == "mjpeg"


async def test_expired_output_is_a_clear_error(
    client: AsyncVideoClient, state: FakeReplicateState
) -> None:
    video = await _completed(client)
    state.expire_downloads = True
    with pytest.raises(NotFoundError) as info:
        await client.download_content(video.id)
    assert info.value.code == "download_link_expired" and "1 hour" in info.value.message


async def test_content_before_completion_is_refused(
    client: AsyncVideoClient, state: FakeReplicateState
) -> None:
    video = await client.create("A fox", model=HAILUO)
    with pytest.raises(NotFoundError) as info:
        await client.download_content(video.id)
    assert info.value.code == "no_output"
    assert state.requests_for("GET", "/delivery/") == []


async def test_failure_carries_replicates_error(
    client: AsyncVideoClient, state: FakeReplicateState
) -> None:
    with pytest.raises(VideoGenerationFailed) as info:
        await _completed(client, "A fox [fail]")
    assert info.value.code == "generation_failed"
    assert info.value.video.error is not None
    assert info.value.video.error.message == "Prediction failed: CUDA out of memory."


async def test_sensitive_content_is_moderation_blocked(
    client: AsyncVideoClient, state: FakeReplicateState
) -> None:
    with pytest.raises(VideoGenerationFailed) as info:
        await _completed(client, "A fox [refuse]")
    assert info.value.code == "moderation_blocked"
    assert info.value.video.error is not None and info.value.video.error.message == REFUSAL


async def test_delete_cancels_a_running_prediction(
    client: AsyncVideoClient, state: FakeReplicateState
) -> None:
    video = await client.create("A fox", model=HAILUO)
    assert (await client.delete(video.id)).deleted
    [pred_id] = state.predictions
    [cancel] = state.requests_for("POST", "/v1/predictions/")
    assert cancel.path == f"/v1/predictions/{pred_id}/cancel"
    after = await client.retrieve(video.id)
    assert after.status == "failed" and after.error is not None
    assert after.error.code == "cancelled"


async def test_delete_of_a_finished_prediction_sends_no_cancel(
    client: AsyncVideoClient, state: FakeReplicateState
) -> None:
    video = await _completed(client)
    assert (await client.delete(video.id)).deleted
    assert state.requests_for("POST", "/v1/predictions/") == []


async def test_list_keeps_declared_video_models_and_pages_by_cursor(
    client: AsyncVideoClient, state: FakeReplicateState
) -> None:
    state.page_size = 2
    first = state.seed("minimax/hailuo-02", prompt="one")
    state.seed("black-forest-labs/flux-schnell", prompt="an image")
    third = state.seed("kwaivgi/kling-v2.1", status="failed", prompt="three")
    fourth = state.seed("minimax/hailuo-02", status="processing", prompt="four")
    page = await client.list(provider="replicate", limit=2)
    assert [decode_video_id(v.id).upstream_id for v in page.data] == [fourth, third]
    assert [v.status for v in page.data] == ["in_progress", "failed"]
    assert page.has_more and page.data[0].model == HAILUO
    rest = await client.list(provider="replicate", limit=2, after=page.last_id)
    assert [decode_video_id(v.id).upstream_id for v in rest.data] == [first]
    assert not rest.has_more and rest.data[0].prompt == "one"
    assert any(r.query.get("cursor") for r in state.requests_for("GET", "/v1/predictions"))
    with pytest.raises(BadRequestError) as info:
        await client.list(provider="replicate", order="asc")
    assert info.value.param == "order"


async def test_429_is_retried_honouring_retry_after(
    client: AsyncVideoClient, state: FakeReplicateState, sleeps: Sleeps
) -> None:
    body = {"detail": "Request was throttled. Your rate limit resets in ~30s.", "status": 429}
    state.inject("POST", "/v1/models/", 429, body, headers={"retry-after": "2"})
    await client.create("A fox", model=HAILUO)
    assert len(state.requests_for("POST")) == 2 and len(state.predictions) == 1
    assert sleeps.calls == [2.0]


async def test_auth_error(
    _server: tuple[FakeReplicateState, str], state: FakeReplicateState
) -> None:
    client = AsyncVideoClient(api_key="r8_wrong", api_base=_server[1])
    with pytest.raises(AuthenticationError) as info:
        await client.create("A fox", model=HAILUO)
    assert info.value.message == "You did not pass a valid authentication token"


async def test_environment_credentials_and_base(
    _server: tuple[FakeReplicateState, str],
    state: FakeReplicateState,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_test")
    monkeypatch.setenv("REPLICATE_BASE_URL", _server[1] + "/v1")
    video = await vidgate.acreate_video(prompt="A fox", model=HAILUO, seconds="6", size="912x512")
    assert video.status == "queued"
    assert state.requests_for("POST")[0].json["input"]["resolution"] == "512p"


async def test_upstream_validation_error_names_the_field(
    client: AsyncVideoClient, state: FakeReplicateState
) -> None:
    with pytest.raises(UnprocessableEntityError) as info:
        await client.create("A fox", model=HAILUO, extra_body={"prompt_optimizer": "yes"})
    assert info.value.param == "input.prompt_optimizer"
    assert "must be one of" in info.value.message


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"seconds": "5"}, "seconds"),
        ({"seconds": "10", "size": "1920x1080"}, "seconds"),  # 10 s only at 768p
        ({"size": "768x1366"}, "size"),  # portrait needs a portrait first frame
        ({"size": "1280x720"}, "size"),
        ({"model": KLING}, "input_reference"),  # image-to-video only
        ({"model": "replicate/acme/new-video-model"}, "model"),
        ({"extra_body": {"resolution": "1080p"}}, "resolution"),
    ],
)
async def test_values_the_model_cannot_honour_are_refused_before_sending(
    client: AsyncVideoClient, state: FakeReplicateState, kwargs: dict[str, Any], param: str
) -> None:
    args: dict[str, Any] = {"prompt": "A fox", "model": HAILUO, **kwargs}
    with pytest.raises(BadRequestError) as info:
        await client.create(**args)
    assert info.value.param == param and info.value.status_code == 400
    assert state.requests == []
    if param == "model":
        assert HAILUO in info.value.message  # names the known models


@pytest.mark.parametrize(
    ("model", "seconds", "size", "cost"),
    [
        (HAILUO, "6", "1920x1080", 0.54),
        (HAILUO, "6", "912x512", 0.1002),
        ("replicate/kwaivgi/kling-v2.0", "10", "1280x720", 2.80),
        ("replicate/wan-video/wan-2.5-i2v", "10", "832x480", 0.50),
    ],
)
async def test_cost_from_the_price_table(
    client: AsyncVideoClient,
    state: FakeReplicateState,
    model: str,
    seconds: str,
    size: str,
    cost: float,
) -> None:
    video = await client.create(
        "A fox", model=model, seconds=seconds, size=size, input_reference=PNG
    )
    assert video.usage is not None and video.usage.cost_usd == pytest.approx(cost)


def test_sync_twin(_server: tuple[FakeReplicateState, str], state: FakeReplicateState) -> None:
    with vidgate.VideoClient(api_key="r8_test", api_base=_server[1]) as client:
        video = client.create_and_poll("A fox", model=HAILUO, poll_interval=0)
        assert client.download_content(video.id).content == state.video_bytes


def _epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def _decodes(data: bytes) -> str:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        next(container.decode(stream))
        return str(stream.codec_context.name)
