"""The ``local`` engine through the SDK: real jobs, rendered in worker processes, kept under
``VIDGATE_HOME`` so another process can retrieve and download them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

import vidgate
from vidgate import AsyncVideoClient, BadRequestError, NotFoundError, VideoGenerationFailed
from vidgate._ids import decode_video_id
from vidgate.local.store import LocalSettings, LocalStore

SMALL = {"model": "local/preview", "seconds": "1", "size": "720x1280"}


def _png(rgb: tuple[int, int, int], width: int = 360, height: int = 640) -> bytes:
    from fractions import Fraction

    ctx = av.CodecContext.create("png", "w")
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = width, height, "rgb24", Fraction(1, 1)
    frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), rgb, np.uint8), format="rgb24")
    frame.pts = 0
    return b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)])


def _first_frame(data: bytes, tmp_path: Path) -> np.ndarray:  # type: ignore[type-arg]
    path = tmp_path / "probe.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


async def test_create_returns_at_once_and_renders_in_another_process() -> None:
    client = AsyncVideoClient()
    video = await client.create("A lighthouse at night", **SMALL)
    assert video.status == "queued" and video.progress == 0
    assert video.model == "local/preview" and video.usage is not None
    assert video.usage.cost_usd == 0.0 and video.usage.seconds == 1.0
    job = _store().read_job(decode_video_id(video.id).upstream_id)
    assert job is not None and job["worker_pid"] != os.getpid()
    statuses: list[tuple[str, int]] = []
    done = await client.wait(
        video.id, on_progress=lambda v: statuses.append((v.status, v.progress))
    )
    assert done.status == "completed" and done.progress == 100 and done.completed_at
    assert statuses[-1] == ("completed", 100)
    order = {"queued": 0, "in_progress": 1, "completed": 2}
    assert [order[s] for s, _ in statuses] == sorted(order[s] for s, _ in statuses)
    progress = [p for _, p in statuses]
    assert progress == sorted(progress)


async def test_downloads_are_real_files_of_the_requested_shape(tmp_path: Path) -> None:
    client = AsyncVideoClient()
    video = await client.create_and_poll(
        "Waves on a beach", model="local/preview", seconds="2", size="1280x720"
    )
    content = await client.download_content(video.id)
    assert content.content_type == "video/mp4"
    assert content.content_length == len(content.content)
    path = tmp_path / "waves.mp4"
    path.write_bytes(content.content)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height, stream.codec_context.name) == (1280, 720, "h264")
        assert stream.frames == 48
    thumb = await client.download_content(video.id, variant="thumbnail")
    sheet = await client.download_content(video.id, variant="spritesheet")
    assert thumb.content_type == "image/webp" and thumb.content[8:12] == b"WEBP"
    assert sheet.content_type == "image/jpeg" and sheet.content[:3] == b"\xff\xd8\xff"


async def test_same_prompt_and_seed_same_video_different_prompt_differs() -> None:
    client = AsyncVideoClient()
    a = await client.create_and_poll("Koi pond", extra_body={"seed": 3}, **SMALL)
    b = await client.create_and_poll("Koi pond", extra_body={"seed": 3}, **SMALL)
    c = await client.create_and_poll("Desert storm", extra_body={"seed": 3}, **SMALL)
    bytes_a, bytes_b, bytes_c = [(await client.download_content(v.id)).content for v in (a, b, c)]
    assert a.id != b.id and bytes_a == bytes_b and bytes_a != bytes_c


async def test_input_reference_becomes_the_first_frame(tmp_path: Path) -> None:
    client = AsyncVideoClient()
    ref = tmp_path / "start.png"
    ref.write_bytes(_png((200, 30, 30)))
    video = await client.create_and_poll("Continue", input_reference=ref, **SMALL)
    frame = _first_frame((await client.download_content(video.id)).content, tmp_path)
    centre = frame[540:740, 260:460].reshape(-1, 3).mean(axis=0)
    assert np.abs(centre - np.array([200, 30, 30])).max() < 12


async def test_an_undecodable_reference_fails_the_job_with_a_reason() -> None:
    client = AsyncVideoClient()
    # Passes the signature check (PNG magic) but is not a decodable image.
    broken = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x40" * 2 + b"\x00" * 40
    video = await client.create("x", input_reference=broken, **SMALL)
    with pytest.raises(VideoGenerationFailed) as info:
        await client.wait(video.id)
    assert info.value.code == "invalid_input_reference"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"seconds": "21"}, "seconds"),
        ({"size": "640x480"}, "size"),
        ({"model": "local/nope"}, "model"),
        ({"input_reference": b"GIF89a"}, "input_reference"),
    ],
)
async def test_capabilities_are_checked_first(kwargs: dict[str, str], param: str) -> None:
    args = {**SMALL, **kwargs}
    with pytest.raises(BadRequestError) as info:
        await vidgate.acreate_video("x", **args)  # type: ignore[arg-type]
    assert info.value.param == param
    assert _store().list_jobs() == []


async def test_list_remix_delete() -> None:
    client = AsyncVideoClient()
    first = await client.create_and_poll("One", **SMALL)
    second = await client.create("Two", **SMALL)
    page = await client.list(provider="local")
    assert [v.id for v in page.data] == [second.id, first.id] and not page.has_more
    page1 = await client.list(provider="local", limit=1, order="asc")
    assert [v.id for v in page1.data] == [first.id] and page1.has_more
    page2 = await client.list(provider="local", limit=1, order="asc", after=page1.last_id)
    assert [v.id for v in page2.data] == [second.id]
    remix = await client.remix(first.id, prompt="One, but blue")
    assert remix.remixed_from_video_id == first.id and remix.model == "local/preview"
    assert (await client.wait(remix.id)).status == "completed"
    deleted = await client.delete(second.id)
    assert deleted.deleted and deleted.id == second.id
    with pytest.raises(NotFoundError):
        await client.retrieve(second.id)


async def test_content_before_completion_is_a_clear_error() -> None:
    client = AsyncVideoClient()
    video = await client.create("Not yet", model="local/preview", seconds="8")
    with pytest.raises(BadRequestError) as info:
        await client.download_content(video.id)
    assert info.value.code == "video_not_ready"
    await client.delete(video.id)


async def test_a_job_made_in_one_process_is_downloaded_from_another(tmp_path: Path) -> None:
    """A short-lived process starts a job and exits; this process finishes the story."""
    code = (
        "import json, vidgate; "
        "v = vidgate.create_video('Made elsewhere', model='local/preview', seconds='1'); "
        "print(v.model_dump_json())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ.copy(),
    )
    video_id = json.loads(out.stdout)["id"]
    done = await AsyncVideoClient().wait(video_id)
    assert done.prompt == "Made elsewhere"
    path = await AsyncVideoClient().download_to_file(video_id, tmp_path / "elsewhere.mp4")
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 24


async def test_a_dead_renderer_is_restarted_on_retrieve() -> None:
    client = AsyncVideoClient()
    video = await client.create("Crash test", **SMALL)
    upstream = decode_video_id(video.id).upstream_id
    job = _store().read_job(upstream)
    assert job is not None
    # Simulate a renderer that died: kill it and leave the job marked in progress.
    pid = job["worker_pid"]
    os.kill(pid, 9)
    with contextlib.suppress(ChildProcessError):  # the engine's reaper may get there first
        os.waitpid(pid, 0)
    _store().update_job(upstream, status="in_progress", progress=40, worker_pid=pid)
    done = await client.wait(video.id)
    assert done.status == "completed"


def test_sync_twins_on_the_local_engine(tmp_path: Path) -> None:
    with vidgate.VideoClient() as client:
        video = client.create_and_poll("Sync fox", **SMALL)
        path = client.download_to_file(video.id, tmp_path / "fox.mp4")
        content = client.download_content(video.id, stream=True)
        assert b"".join(content.iter_bytes(10_000)) == path.read_bytes()
    assert vidgate.video_retrieve(video.id).status == "completed"
    assert vidgate.video_delete(video.id).deleted


async def test_errors_name_the_callers_id_and_polls_use_the_providers_cadence() -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(seconds)

    from vidgate._engine import Engine

    client = AsyncVideoClient(engine=Engine(sleep=sleep))
    video = await client.create("Cadence", **SMALL)
    await client.wait(video.id)
    # The local server hints 250 ms; without a hint the provider's own cadence applies.
    assert sleeps and set(sleeps) == {0.25}
    await client.delete(video.id)
    with pytest.raises(NotFoundError) as info:
        await client.retrieve(video.id)
    upstream = decode_video_id(video.id).upstream_id
    assert video.id in info.value.message and upstream not in info.value.message


async def test_renders_wait_for_a_free_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst of jobs does not fork a render per job: the rest stay queued until a slot
    frees, then start on the next retrieve."""
    monkeypatch.setenv("VIDGATE_LOCAL_WORKERS", "1")
    client = AsyncVideoClient()
    videos = [await client.create(f"Burst {i}", **SMALL) for i in range(3)]
    jobs = [_store().read_job(decode_video_id(v.id).upstream_id) for v in videos]
    started = [j for j in jobs if j is not None and j.get("worker_pid")]
    assert len(started) == 1 and all(j is not None for j in jobs)
    done = await asyncio.gather(*(client.wait(v.id) for v in videos))
    assert [v.status for v in done] == ["completed"] * 3


def _store() -> LocalStore:
    """The local engine's jobs where the SDK keeps them (this test's ``VIDGATE_HOME``)."""
    return LocalStore(LocalSettings.from_env().root)
