"""The ``gemini`` provider (Gemini Omni Flash, Interactions API, providers.md §2.2) through the
SDK against the fake Gemini API on loopback."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import av
import pytest

import vidgate
from tests.fakes.clock import Sleeps
from tests.fakes.gemini_upstream import (
    BAD_KEY,
    FAIL_MESSAGE,
    NO_KEY,
    SAFETY_MESSAGE,
    FakeGeminiState,
    create_app,
    rpc_error,
)
from tests.fakes.loopback import serve_on_loopback
from vidgate import (
    AsyncVideoClient,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    VideoGenerationFailed,
)
from vidgate._engine import Engine
from vidgate.local.render import render

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x40" * 2 + b"\x00" * 24  # 64x64
MODEL = "gemini/gemini-omni-1.2-flash"
_ENV = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_BASE")


@pytest.fixture(scope="module")
def _server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeGeminiState, str]]:
    video = render(
        "omni fake", out_dir=tmp_path_factory.mktemp("mp4"), width=320, height=180, seconds=1
    )
    state = FakeGeminiState(video=video.video.read_bytes())
    with serve_on_loopback(create_app(state)) as (base_url, _):
        yield state, base_url


@pytest.fixture
def state(_server: tuple[FakeGeminiState, str], monkeypatch: pytest.MonkeyPatch) -> FakeGeminiState:
    _server[0].reset()
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    return _server[0]


@pytest.fixture
def api_base(_server: tuple[FakeGeminiState, str]) -> str:
    return f"{_server[1]}/v1beta"


@pytest.fixture
def client(state: FakeGeminiState, api_base: str, sleeps: Sleeps) -> AsyncVideoClient:
    return AsyncVideoClient(
        api_key="gm-test", api_base=api_base, engine=Engine(sleep=sleeps, rand=lambda: 0.0)
    )


def _decodes(data: bytes) -> bool:
    with av.open(io.BytesIO(data)) as container:
        return next(container.decode(video=0)).width > 0


async def test_create_maps_the_request(client: AsyncVideoClient, state: FakeGeminiState) -> None:
    video = await client.create(
        "A red fox walking through snow",
        model=MODEL,
        seconds="12",
        size="1080x1920",
        input_reference=("first.png", PNG, "image/png"),
        extra_body={"seed": 42, "store": True, "generation_config": {"temperature": 0.5}},
    )
    [sent] = state.requests_to("POST", "/v1beta/interactions")
    assert sent.headers["x-goog-api-key"] == "gm-test" and "authorization" not in sent.headers
    assert sent.json == {
        "model": "gemini-omni-1.2-flash",
        "input": [
            {"type": "image", "mime_type": "image/png", "data": base64.b64encode(PNG).decode()},
            {"type": "text", "text": "A red fox walking through snow"},
        ],
        "response_format": {
            "type": "video",
            "aspect_ratio": "9:16",
            "resolution": "1080p",
            "duration": "12",
            "delivery": "uri",
        },
        "generation_config": {
            "video_config": {"task": "image_to_video"},
            "seed": 42,
            "temperature": 0.5,
        },
        "background": True,
        "store": True,
    }
    assert (video.status, video.progress, video.model) == ("queued", 0, MODEL)
    assert (video.size, video.seconds, video.prompt) == (
        "1080x1920",
        "12",
        sent.json["input"][1]["text"],
    )
    assert video.id.startswith("video_gemini.")


async def test_text_only_and_url_reference(
    client: AsyncVideoClient, state: FakeGeminiState
) -> None:
    await client.create("A cat", model="gemini/gemini-omni-1.1-flash", size="640x360", seconds="3")
    await client.create("A cat", model=MODEL, input_reference="https://example.com/cat.png")
    text_only, with_url = (r.json for r in state.requests_to("POST", "/interactions"))
    assert text_only["input"] == [{"type": "text", "text": "A cat"}]
    assert text_only["generation_config"] == {"video_config": {"task": "text_to_video"}}
    assert text_only["response_format"]["resolution"] == "360p"
    assert text_only["response_format"]["aspect_ratio"] == "16:9"
    assert with_url["input"][0] == {"type": "image", "uri": "https://example.com/cat.png"}
    assert with_url["response_format"]["duration"] == "8"  # the declared default


async def test_poll_to_completion_and_download_by_files_uri(
    client: AsyncVideoClient, state: FakeGeminiState
) -> None:
    state.polls_to_complete = 3
    seen: list[tuple[str, int]] = []
    video = await client.create_and_poll(
        "A cat",
        model=MODEL,
        poll_interval=0,
        on_progress=lambda v: seen.append((v.status, v.progress)),
    )
    assert seen == [("queued", 0), ("in_progress", 50), ("in_progress", 50), ("completed", 100)]
    assert (video.size, video.seconds) == ("1280x720", "8")
    content = await client.download_content(video.id)
    assert content.content == state.video
    [download] = state.requests_to("GET", "/download/")
    [file_id] = state.files
    assert download.path == f"/download/v1beta/files/{file_id}:download"
    assert download.query == {"alt": "media"} and download.headers["x-goog-api-key"] == "gm-test"
    thumb = await client.download_content(video.id, variant="thumbnail")
    sheet = await client.download_content(video.id, variant="spritesheet")
    assert thumb.content_type == "image/webp" and thumb.content[8:12] == b"WEBP"
    assert sheet.content_type == "image/jpeg" and sheet.content[:3] == b"\xff\xd8\xff"
    assert _decodes(thumb.content) and _decodes(sheet.content)
    state.files.clear()  # the Files API dropped it (~2 days)
    with pytest.raises(NotFoundError) as info:
        await client.download_content(video.id)
    assert (
        info.value.code == "download_link_expired"
        and "no longer in the Gemini Files API" in info.value.message
    )


@pytest.mark.parametrize("shape", ["steps", "output_video"])
async def test_inline_delivery_in_either_shape(
    client: AsyncVideoClient, state: FakeGeminiState, shape: str
) -> None:
    state.video_shape = shape
    video = await client.create_and_poll(
        "A cat", model=MODEL, poll_interval=0, extra_body={"delivery": "inline"}
    )
    assert (
        state.requests_to("POST", "/interactions")[0].json["response_format"]["delivery"]
        == "inline"
    )
    content = await client.download_content(video.id)
    assert content.content == state.video and content.content_type == "video/mp4"
    assert _decodes((await client.download_content(video.id, variant="spritesheet")).content)
    assert state.requests_to("GET", "/download/") == []


@pytest.mark.parametrize(
    ("prompt", "code", "message"),
    [
        ("FAIL", "internal", FAIL_MESSAGE),
        ("BLOCK", "moderation_blocked", SAFETY_MESSAGE),
        ("TEXTONLY", "no_video", "I can't make that video, but here's an idea."),
    ],
)
async def test_failures_carry_the_providers_reason(
    client: AsyncVideoClient, state: FakeGeminiState, prompt: str, code: str, message: str
) -> None:
    with pytest.raises(VideoGenerationFailed) as info:
        await client.create_and_poll(prompt, model=MODEL, poll_interval=0)
    assert info.value.code == code
    assert info.value.video.error is not None and info.value.video.error.message == message
    with pytest.raises(BadRequestError) as not_ready:
        await client.download_content(info.value.video.id)
    assert not_ready.value.code == "video_not_ready"


async def test_cancel_is_failed_with_code_cancelled_and_delete_cancels_first(
    client: AsyncVideoClient, state: FakeGeminiState
) -> None:
    video = await client.create("A cat", model=MODEL)
    [interaction_id] = state.interactions
    deleted = await client.delete(video.id)
    assert deleted.deleted and deleted.id == video.id
    assert [(r.method, r.path) for r in state.requests[1:]] == [
        ("GET", f"/v1beta/interactions/{interaction_id}"),
        ("POST", f"/v1beta/interactions/{interaction_id}/cancel"),
        ("DELETE", f"/v1beta/interactions/{interaction_id}"),
    ]
    assert state.interactions == {}
    other = await client.create("A dog", model=MODEL)
    [other_id] = state.interactions
    state.interactions[other_id].status = "cancelled"
    polled = await client.retrieve(other.id)
    assert polled.status == "failed" and polled.error is not None
    assert polled.error.code == "cancelled"


async def test_delete_of_a_finished_video_does_not_cancel(
    client: AsyncVideoClient, state: FakeGeminiState
) -> None:
    video = await client.create_and_poll("A cat", model=MODEL, poll_interval=0)
    state.requests.clear()
    await client.delete(video.id)
    assert [r.method for r in state.requests] == ["GET", "DELETE"]


async def test_remix_continues_the_interaction(
    client: AsyncVideoClient, state: FakeGeminiState
) -> None:
    video = await client.create_and_poll(
        "A cat", model=MODEL, size="720x1280", seconds="6", poll_interval=0
    )
    [source_id] = state.interactions
    remix = await client.remix(video.id, prompt="make it blue")
    sent = state.requests_to("POST", "/interactions")[-1].json
    assert sent == {
        "model": "gemini-omni-1.2-flash",
        "input": [{"type": "text", "text": "make it blue"}],
        "previous_interaction_id": source_id,
        "generation_config": {"video_config": {"task": "edit"}},
        "background": True,
        "response_format": {
            "type": "video",
            "aspect_ratio": "9:16",
            "resolution": "720p",
            "duration": "6",
            "delivery": "uri",
        },
    }
    assert remix.remixed_from_video_id == video.id and remix.id != video.id
    assert (remix.size, remix.seconds, remix.prompt) == ("720x1280", "6", "make it blue")
    done = await client.wait(remix.id, poll_interval=0)
    assert (await client.download_content(done.id)).content == state.video
    pending = await client.create("A dog", model=MODEL)
    with pytest.raises(BadRequestError) as info:
        await client.remix(pending.id, prompt="x")
    assert info.value.code == "video_not_ready"


async def test_429_is_retried_after_the_servers_delay(
    client: AsyncVideoClient, state: FakeGeminiState, sleeps: Sleeps
) -> None:
    fault = state.inject(
        method="POST", path_part="/interactions", status=429, headers={"Retry-After": "7"}
    )
    video = await client.create("A cat", model=MODEL)
    assert fault.served == 1 and len(state.interactions) == 1 and video.status == "queued"
    assert sleeps.calls == [7.0]


async def test_auth_failures_are_authentication_errors(
    state: FakeGeminiState, api_base: str
) -> None:
    with pytest.raises(AuthenticationError) as wrong:
        await AsyncVideoClient(api_key="gm-wrong", api_base=api_base).create("x", model=MODEL)
    assert wrong.value.message == BAD_KEY and wrong.value.code == "INVALID_ARGUMENT"
    assert state.interactions == {}
    client = AsyncVideoClient(api_key="gm-test", api_base=api_base)
    state.inject(
        method="POST",
        path_part="/interactions",
        status=403,
        body=rpc_error(403, "PERMISSION_DENIED", NO_KEY),
    )
    with pytest.raises(AuthenticationError):
        await client.create("x", model=MODEL)
    state.requests.clear()
    with pytest.raises(AuthenticationError) as missing:
        await AsyncVideoClient(api_base=api_base).create("x", model=MODEL)
    assert missing.value.code == "missing_api_key" and state.requests == []


async def test_key_and_base_from_the_environment(
    state: FakeGeminiState, _server: tuple[FakeGeminiState, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "gm-test")
    monkeypatch.setenv("GEMINI_API_BASE", f"{_server[1]}/v1")  # google-genai 3.6.1 uses /v1
    video = await AsyncVideoClient().create("A cat", model=MODEL)
    assert state.requests_to("POST", "/v1/interactions")[0].headers["x-goog-api-key"] == "gm-test"
    assert (await AsyncVideoClient().retrieve(video.id)).status == "in_progress"


@pytest.mark.parametrize(
    ("model", "kwargs", "param"),
    [
        ("gemini-omni-1.2-flash", {"seconds": "2"}, "seconds"),
        ("gemini-omni-1.2-flash", {"seconds": "16"}, "seconds"),
        ("gemini-omni-1.1-flash", {"seconds": "11"}, "seconds"),
        ("gemini-omni-1.2-flash", {"size": "960x960"}, "size"),
        ("gemini-omni-1.2-flash", {"size": "1792x1024"}, "size"),
        ("gemini-omni-1.2-flash", {"extra_body": {"negative_prompt": "blur"}}, "negative_prompt"),
        ("gemini-omni-1.2-flash", {"extra_body": {"delivery": "gcs"}}, "delivery"),
        ("gemini-omni-1.2-flash", {"extra_body": {"seed": "7"}}, "seed"),
        ("gemini-omni-flash-preview", {}, "model"),
    ],
)
async def test_unsupported_values_are_refused_before_any_request(
    client: AsyncVideoClient, state: FakeGeminiState, model: str, kwargs: dict[str, Any], param: str
) -> None:
    with pytest.raises(BadRequestError) as info:
        await client.create("A cat", model=f"gemini/{model}", **kwargs)
    assert info.value.param == param and info.value.status_code == 400
    assert state.requests == []


async def test_no_list_price_means_no_invented_cost(client: AsyncVideoClient) -> None:
    # providers.md §2.2: Google's list price was not captured, so the table has no entry.
    video = await client.create("A cat", model=MODEL, size="3840x2160", seconds="10")
    assert video.usage is not None and video.usage.seconds == 10.0
    assert video.usage.cost_usd is None


async def test_seed_api_functions(state: FakeGeminiState, api_base: str) -> None:
    creds = {"api_key": "gm-test", "api_base": api_base}
    video = await vidgate.acreate_video("A cat", model=MODEL, **creds)
    # Left out, seconds and size are the model's defaults, as in the client and the gateway
    # (the seed's "4" / "720x1280" defaults mean "not given").
    assert (video.seconds, video.size) == ("8", "1280x720")
    state.polls_to_complete = 1
    assert (await vidgate.avideo_retrieve(video.id, **creds)).status == "completed"
    content = await vidgate.avideo_content(video.id, stream=True, **creds)
    assert await content.aread() == state.video
    assert (await vidgate.avideo_delete(video.id, **creds)).deleted
