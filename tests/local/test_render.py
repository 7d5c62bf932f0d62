"""Tests for the offline renderer: real MP4s probed with PyAV, variants, determinism."""

from __future__ import annotations

import hashlib
import itertools
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
import pytest

from vidgate.local.render import ReferenceImageError, RenderResult, make_variants, render

FPS = 24


def _decode_rgb(path: Path) -> list[np.ndarray[Any, Any]]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _encode_image(
    rgb: np.ndarray[Any, Any], codec: Literal["png", "mjpeg", "libwebp"], pix_fmt: str
) -> bytes:
    h, w = rgb.shape[:2]
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = w, h, pix_fmt, Fraction(1, 1)
    fmt = "rgba" if rgb.shape[2] == 4 else "rgb24"
    frame = av.VideoFrame.from_ndarray(rgb, format=fmt).reformat(format=pix_fmt)
    frame.pts = 0
    return b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)])


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_video(result: RenderResult, width: int, height: int, seconds: int) -> None:
    with av.open(str(result.video)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == (width, height)
        assert stream.average_rate == FPS
        assert stream.frames == seconds * FPS
        assert stream.duration is not None and stream.time_base is not None
        frame_time = 1 / FPS
        assert abs(float(stream.duration * stream.time_base) - seconds) <= frame_time
        assert container.duration is not None
        assert abs(container.duration / av.time_base - seconds) <= frame_time
        frames = list(container.decode(stream))
    assert len(frames) == seconds * FPS
    assert all((f.width, f.height) == (width, height) for f in frames)
    assert (result.frames, result.width, result.height, result.fps) == (
        seconds * FPS,
        width,
        height,
        FPS,
    )


def test_render_writes_exact_h264_and_only_final_files(tmp_path: Path) -> None:
    out = tmp_path / "job"
    result = render("a lighthouse in a storm", out_dir=out, width=720, height=1280, seconds=2)
    assert result.video == out / "video.mp4"
    assert result.thumbnail == out / "thumbnail.webp"
    assert result.spritesheet == out / "spritesheet.jpg"
    _assert_video(result, 720, 1280, 2)
    # No temporary files are left behind next to the finished outputs.
    assert sorted(p.name for p in out.iterdir()) == [
        "spritesheet.jpg",
        "thumbnail.webp",
        "video.mp4",
    ]


@pytest.mark.parametrize(
    ("width", "height"), [(720, 1280), (1280, 720), (1024, 1792), (1792, 1024)]
)
def test_render_openai_sizes(tmp_path: Path, width: int, height: int) -> None:
    result = render("size check", out_dir=tmp_path, width=width, height=height, seconds=1)
    _assert_video(result, width, height, 1)


def test_thumbnail_and_spritesheet(tmp_path: Path) -> None:
    result = render("autumn leaves", out_dir=tmp_path, width=1280, height=720, seconds=1)
    with av.open(str(result.thumbnail)) as container:
        assert container.streams.video[0].codec_context.name == "webp"
        thumb = next(container.decode(video=0))
    assert max(thumb.width, thumb.height) <= 640
    assert thumb.width / thumb.height == pytest.approx(1280 / 720, rel=0.01)
    # The thumbnail is the middle frame with its colours intact (no matrix/range mix-up).
    middle = _decode_rgb(result.video)[12]
    small = av.VideoFrame.from_ndarray(middle).reformat(thumb.width, thumb.height)
    diff = np.abs(thumb.to_ndarray(format="rgb24").astype(int) - small.to_ndarray().astype(int))
    assert diff.mean() < 4
    with av.open(str(result.spritesheet)) as container:
        assert container.streams.video[0].codec_context.name == "mjpeg"
        sheet = next(container.decode(video=0))
    assert (sheet.width, sheet.height) == (5 * 160, 2 * 90)


def test_same_prompt_and_seed_is_byte_identical(tmp_path: Path) -> None:
    args: dict[str, Any] = {"width": 320, "height": 180, "seconds": 1}
    a = render("koi pond", out_dir=tmp_path / "a", seed=7, **args)
    b = render("koi pond", out_dir=tmp_path / "b", seed=7, **args)
    c = render("koi pond", out_dir=tmp_path / "c", seed=8, **args)
    d = render("koi pond", out_dir=tmp_path / "d", **args)
    e = render("koi pond", out_dir=tmp_path / "e", **args)
    assert _sha(a.video) == _sha(b.video)
    assert _sha(a.thumbnail) == _sha(b.thumbnail)
    assert _sha(a.spritesheet) == _sha(b.spritesheet)
    assert _sha(d.video) == _sha(e.video)
    assert _sha(a.video) != _sha(c.video)
    assert _sha(a.video) != _sha(d.video)


def test_prompts_give_visibly_different_animated_pictures(tmp_path: Path) -> None:
    args: dict[str, Any] = {"width": 320, "height": 180, "seconds": 2}
    a = _decode_rgb(render("sunrise over dunes", out_dir=tmp_path / "a", **args).video)
    b = _decode_rgb(render("deep sea jellyfish", out_dir=tmp_path / "b", **args).video)
    for i in (0, len(a) // 2):
        assert np.abs(a[i].astype(int) - b[i].astype(int)).mean() > 15
    # It moves: the last frame differs from the first, but not like noise between neighbours.
    assert np.abs(a[0].astype(int) - a[-1].astype(int)).mean() > 2
    assert np.abs(a[10].astype(int) - a[11].astype(int)).mean() < 3
    # Not a flat fill: there is real structure within a frame.
    assert a[len(a) // 2].std() > 10


RED, GREEN, WHITE = (230, 40, 40), (40, 200, 60), (250, 250, 250)


def _reference_rgb() -> np.ndarray[Any, Any]:
    img = np.zeros((300, 400, 3), np.uint8)
    img[:, :200], img[:, 200:], img[100:200, 150:250] = RED, GREEN, WHITE
    return img


@pytest.mark.parametrize(
    ("codec", "pix_fmt", "tol"),
    [("png", "rgb24", 8), ("mjpeg", "yuvj420p", 14), ("libwebp", "yuv420p", 14)],
)
def test_reference_is_exactly_the_first_frame(
    tmp_path: Path, codec: Literal["png", "mjpeg", "libwebp"], pix_fmt: str, tol: int
) -> None:
    data = _encode_image(_reference_rgb(), codec, pix_fmt)
    result = render("ref", out_dir=tmp_path, width=720, height=1280, seconds=1, reference=data)
    _assert_video(result, 720, 1280, 1)
    frames = _decode_rgb(result.video)
    first = frames[0].astype(int)
    # "contain": 400x300 scales by 1.8 to 720x540, centred vertically at rows 370..910.
    top, scale = 370, 1.8

    def region(y0: int, y1: int, x0: int, x1: int) -> np.ndarray[Any, Any]:
        return first[
            top + int(y0 * scale) : top + int(y1 * scale), int(x0 * scale) : int(x1 * scale)
        ]

    for (y0, y1, x0, x1), colour in [
        ((10, 90, 10, 140), RED),
        ((210, 290, 260, 390), GREEN),
        ((110, 190, 160, 240), WHITE),
    ]:
        patch = region(y0, y1, x0, x1)
        assert np.abs(patch - np.array(colour)).max(axis=2).mean() < tol, colour
    # Letterbox bars above and below are one uniform palette colour, unlike the picture.
    bars = np.concatenate([first[:360], first[920:]])
    assert bars.std(axis=(0, 1)).max() < 3
    assert np.abs(bars.mean(axis=(0, 1)) - np.array(RED)).max() > 60
    assert np.abs(bars.mean(axis=(0, 1)) - np.array(GREEN)).max() > 60
    # Later frames evolve from it.
    assert np.abs(frames[-1].astype(int) - first).mean() > 3


def test_transparent_reference_pixels_take_the_background(tmp_path: Path) -> None:
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[:, :50] = (*RED, 255)
    rgba[:, 50:] = (255, 255, 255, 0)
    data = _encode_image(rgba, "png", "rgba")
    result = render("ref", out_dir=tmp_path, width=320, height=180, seconds=1, reference=data)
    first = _decode_rgb(result.video)[0].astype(int)
    # 100x100 fits as 180x180 at x 70..250; the transparent right half matches the bars.
    bar = first[60:120, 10:50].mean(axis=(0, 1))
    assert np.abs(first[60:120, 190:240].mean(axis=(0, 1)) - bar).max() < 4
    assert np.abs(first[60:120, 90:150].mean(axis=(0, 1)) - np.array(RED)).max() < 10


@pytest.mark.parametrize(
    "data", [b"", b"definitely not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 40]
)
def test_bad_reference_raises_and_leaves_nothing(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(ReferenceImageError):
        render("x", out_dir=tmp_path, width=320, height=180, seconds=1, reference=data)
    assert list(tmp_path.iterdir()) == []


def test_reference_error_is_a_value_error() -> None:
    assert issubclass(ReferenceImageError, ValueError)


@pytest.mark.parametrize(
    ("width", "height", "seconds"), [(321, 180, 1), (320, 0, 1), (320, 180, 0)]
)
def test_invalid_geometry_is_rejected(
    tmp_path: Path, width: int, height: int, seconds: int
) -> None:
    with pytest.raises(ValueError):
        render("x", out_dir=tmp_path, width=width, height=height, seconds=seconds)


def test_progress_rises_to_100_after_files_are_in_place(tmp_path: Path) -> None:
    seen: list[int] = []
    video = tmp_path / "video.mp4"

    def on_progress(pct: int) -> None:
        # The final name only appears once everything is done.
        assert video.exists() == (pct == 100)
        if pct == 100:
            assert (tmp_path / "thumbnail.webp").exists()
            assert (tmp_path / "spritesheet.jpg").exists()
        seen.append(pct)

    render("x", out_dir=tmp_path, width=320, height=180, seconds=2, on_progress=on_progress)
    assert seen[0] == 0 and seen[-1] == 100
    assert all(isinstance(p, int) for p in seen)
    assert all(a < b for a, b in itertools.pairwise(seen))
    assert len(seen) >= 10


def test_make_variants_on_foreign_mp4(tmp_path: Path) -> None:
    # A provider-style MP4 (odd fps, no tags) whose frame i has grey level 20 + 7 * i.
    video = tmp_path / "provider.mp4"
    n, w, h = 30, 352, 198
    with av.open(str(video), "w") as out:
        stream = out.add_stream("libx264", rate=30, options={"crf": "1"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.full((h, w, 3), 20 + 7 * i, np.uint8))
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    thumb_path, sprite_path = make_variants(video, tmp_path)
    assert (thumb_path, sprite_path) == (tmp_path / "thumbnail.webp", tmp_path / "spritesheet.jpg")
    with av.open(str(thumb_path)) as container:
        assert container.streams.video[0].codec_context.name == "webp"
        thumb = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert thumb.shape[:2] == (h, w)
    assert abs(thumb.mean() - (20 + 7 * (n // 2))) < 4
    with av.open(str(sprite_path)) as container:
        assert container.streams.video[0].codec_context.name == "mjpeg"
        sheet = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    tw, th = 160, 90
    assert sheet.shape[:2] == (2 * th, 5 * tw)
    for k in range(10):
        y, x = divmod(k, 5)
        tile = sheet[y * th + 4 : (y + 1) * th - 4, x * tw + 4 : (x + 1) * tw - 4]
        expected = 20 + 7 * ((2 * k + 1) * n // 20)
        assert abs(tile.mean() - expected) < 4, k


def test_make_variants_rejects_a_file_without_video(tmp_path: Path) -> None:
    audio = tmp_path / "audio.wav"
    with av.open(str(audio), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 800), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 8000
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(ValueError):
        make_variants(audio, tmp_path)
