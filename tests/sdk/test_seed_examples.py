"""Every example of ``seed/video-generation.md``, as written after ``import vidgate as
litellm`` (awaiting the async calls), against an OpenAI-compatible server: the fake upstream,
reached through ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` exactly as ported code would be.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import vidgate as litellm
from tests.fakes.openai_upstream import FakeOpenAIState, run_fake_openai
from vidgate import OpenAIError, RateLimitError

# SOI, then a baseline frame header (SOF0) declaring 64x64: what the size check reads.
JPEG = b"\xff\xd8\xff\xc0\x00\x11\x08\x00\x40\x00\x40\x03" + b"\x00" * 56


@pytest.fixture(scope="module")
def _server() -> Iterator[tuple[FakeOpenAIState, str]]:
    state = FakeOpenAIState(polls_to_complete=2)
    with run_fake_openai(state) as base_url:
        yield state, base_url


@pytest.fixture
def state(_server: tuple[FakeOpenAIState, str], monkeypatch: pytest.MonkeyPatch) -> FakeOpenAIState:
    _server[0].reset()
    monkeypatch.setenv("OPENAI_BASE_URL", _server[1])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    return _server[0]


async def test_quick_start(state: FakeOpenAIState, capsys: pytest.CaptureFixture[str]) -> None:
    response = await litellm.acreate_video(
        prompt="A cat playing with yarn in a sunny garden",
        model="sora-2",
        seconds="4",
        size="720x1280",
    )

    print(f"Video ID: {response.id}")
    print(f"Status: {response.status}")

    out = capsys.readouterr().out
    assert f"Video ID: {state.videos()[0]['id']}" in out and "Status: queued" in out


async def test_video_with_input_reference(
    state: FakeOpenAIState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("start_frame.jpg").write_bytes(JPEG)

    with open("start_frame.jpg", "rb") as f:
        image_data = f.read()

    response = await litellm.acreate_video(
        prompt="Continue this scene with the character walking away",
        model="sora-2-pro",
        seconds="8",
        size="1280x720",
        input_reference=("start_frame.jpg", image_data, "image/jpeg"),
    )

    [sent] = state.requests_for("POST", "/v1/videos")
    [part] = sent.files
    assert (part.filename, part.content_type, part.data) == ("start_frame.jpg", "image/jpeg", JPEG)
    assert response.model == "sora-2-pro" and response.seconds == "8"


async def test_cost_calculation(state: FakeOpenAIState, capsys: pytest.CaptureFixture[str]) -> None:
    response = await litellm.acreate_video(
        prompt="A beautiful sunset",
        model="sora-2",
        seconds="8",
    )

    print(f"Video duration: {response.seconds} seconds")
    print(f"Model: {response.model}")
    print(f"Usage: {response.usage}")

    out = capsys.readouterr().out
    assert "Video duration: 8 seconds" in out and "Model: sora-2" in out
    assert response.usage is not None and response.usage.cost_usd == pytest.approx(0.80)


async def test_error_handling(state: FakeOpenAIState, capsys: pytest.CaptureFixture[str]) -> None:
    state.inject(
        method="POST", path="/v1/videos", status=429, headers={"retry-after-ms": "1"}, times=3
    )
    try:
        response = await litellm.acreate_video(  # noqa: F841 - the seed's example, as written
            prompt="A cat playing with yarn", model="sora-2"
        )
    except RateLimitError as e:
        print(f"Rate limit exceeded: {e}")
    except OpenAIError as e:
        print(f"OpenAI API error: {e}")
    except Exception as e:
        print(f"Unexpected error: {e}")

    assert "Rate limit exceeded: Error code: 429" in capsys.readouterr().out
    state.inject(method="POST", path="/v1/videos", status=400)
    try:
        await litellm.acreate_video(prompt="A cat playing with yarn", model="sora-2")
    except RateLimitError as e:
        print(f"Rate limit exceeded: {e}")
    except OpenAIError as e:
        print(f"OpenAI API error: {e}")
    assert "OpenAI API error: Error code: 400" in capsys.readouterr().out


async def test_debug_mode(
    state: FakeOpenAIState, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(litellm, "set_verbose", False)
    litellm.set_verbose = True

    response = await litellm.acreate_video(prompt="A cat playing with yarn", model="sora-2")

    err = capsys.readouterr().err
    assert "POST http://127.0.0.1:" in err and "/v1/videos -> 200" in err
    assert "sk-test" not in err
    assert response.status == "queued"


async def test_complete_workflow(
    state: FakeOpenAIState,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    real_sleep = asyncio.sleep
    monkeypatch.setattr(asyncio, "sleep", lambda s: real_sleep(0))  # the example sleeps 5 s

    async def create_and_download_video():  # type: ignore[no-untyped-def]
        # Create video
        video = await litellm.acreate_video(
            prompt="A serene lake with gentle ripples and morning mist",
            model="sora-2-pro",
            seconds="8",
            size="1280x720",
        )

        print(f"Created video: {video.id}")
        print(f"Status: {video.status}")

        # Wait for processing
        while video.status != "completed":
            await asyncio.sleep(5)
            video = await litellm.avideo_retrieve(video.id)
            print(f"Status: {video.status}")

        # Download video
        content = await litellm.avideo_content(video.id)

        with open("generated_video.mp4", "wb") as f:
            f.write(content.content)

        print("Video downloaded successfully!")

        # Clean up
        await litellm.avideo_delete(video.id)
        print("Video deleted")

    await create_and_download_video()

    [job_id] = state.jobs
    assert (tmp_path / "generated_video.mp4").read_bytes() == state.expected_content(job_id)
    out = capsys.readouterr().out
    assert "Status: completed" in out and out.rstrip().endswith("Video deleted")
    assert state.requests_for("DELETE", "/v1/videos/{id}")


async def test_batch_generation(state: FakeOpenAIState, capsys: pytest.CaptureFixture[str]) -> None:
    async def generate_multiple_videos():  # type: ignore[no-untyped-def]
        prompts = [
            "A cat playing with yarn",
            "A dog running in a park",
            "A bird flying over the ocean",
        ]

        tasks = []
        for prompt in prompts:
            task = litellm.acreate_video(prompt=prompt, model="sora-2", seconds="4")
            tasks.append(task)

        videos = await asyncio.gather(*tasks)

        for i, video in enumerate(videos):
            print(f"Video {i + 1}: {video.id} - {video.status}")

    await generate_multiple_videos()

    out = capsys.readouterr().out
    assert state.jobs_created == 3
    for job_id in state.jobs:
        assert f": {job_id} - queued" in out
    assert "Video 3:" in out
