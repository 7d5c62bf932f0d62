"""Offline renderer: turns a prompt into a real H.264 MP4 with a thumbnail and a spritesheet.

The picture is an abstract animated scene (a slowly turning gradient with soft translucent
discs and rings drifting over it) whose palette, shapes and motion are derived from a hash of
the prompt and seed, so output is deterministic and different prompts look different.
"""

from __future__ import annotations

import colorsys
import contextlib
import hashlib
import io
import math
import os
import random
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import av
import numpy as np
from av.video.frame import VideoFrame
from numpy.typing import NDArray

from .._media import make_variants, variant_picks, write_variants

__all__ = ["ReferenceImageError", "RenderResult", "make_variants", "render"]

U8 = NDArray[np.uint8]
RGB = tuple[float, float, float]

_BT709 = 1  # AVCOL_SPC/PRI/TRC_BT709: frames are generated as BT.709 limited-range YUV
_MPEG_RANGE = 1
# x264 output depends on its thread count; a fixed count (not auto, which follows the CPU
# count) keeps renders byte-identical on every machine.
_X264_THREADS = 2
_MAX_REFERENCE_PIXELS = 50_000_000
_REFERENCE_CODECS = {"png", "apng", "mjpeg", "webp", "bmp", "gif", "tiff"}


class ReferenceImageError(ValueError):
    """Raised when the ``reference`` bytes are not a decodable JPEG/PNG/WebP image."""


@dataclass(frozen=True)
class RenderResult:
    """Files and geometry of a finished render; ``frames`` is exactly ``seconds * fps``."""

    video: Path  # out_dir / "video.mp4"
    thumbnail: Path  # out_dir / "thumbnail.webp"
    spritesheet: Path  # out_dir / "spritesheet.jpg"
    frames: int
    width: int
    height: int
    fps: int


def _yuv(rgb: RGB) -> tuple[float, float, float]:
    """BT.709 limited-range Y, Cb, Cr of an RGB colour in 0..1."""
    r, g, b = rgb
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return 16 + 219 * y, 128 + 224 * (b - y) / 1.8556, 128 + 224 * (r - y) / 1.5748


def _hsv(h: float, s: float, v: float) -> RGB:
    return colorsys.hsv_to_rgb(h % 1.0, s, v)


def _u8(frame: VideoFrame, fmt: str | None = None) -> U8:
    return cast(U8, frame.to_ndarray(format=fmt))


def _planes(buf: U8, w: int, h: int) -> tuple[U8, U8, U8]:
    """Y, U, V views of a PyAV-layout (h*3/2, w) yuv420p array."""
    q = h // 4
    return buf[:h], buf[h : h + q].reshape(h // 2, w // 2), buf[h + q :].reshape(h // 2, w // 2)


@dataclass(frozen=True)
class _Shape:
    yuv: tuple[float, float, float]
    opacity: float
    radius: float  # fraction of min(width, height)
    feather: float  # edge softness as a fraction of radius
    ring: float  # ring thickness as a fraction of radius; 0 means a filled disc
    amp: tuple[float, float]  # x, y swing as fractions of width, height
    freq: tuple[float, float, float]  # x, y, radius pulse in Hz
    phase: tuple[float, float, float]


class _Scene:
    """Palette, shapes and motion derived from one seed; draws into yuv420p buffers."""

    def __init__(self, seed: int, width: int, height: int) -> None:
        # random.Random rather than numpy: its sequence is stable across Python versions.
        rnd = random.Random(seed)
        self.w, self.h = width, height
        hue, offset = rnd.random(), rnd.choice([0.08, 0.15, 0.33, 0.5, 0.58])
        self.bg_a = _hsv(hue, rnd.uniform(0.55, 0.85), rnd.uniform(0.12, 0.28))
        bg_b = _hsv(hue + offset, rnd.uniform(0.45, 0.8), rnd.uniform(0.45, 0.7))
        self.ya, self.yb = _yuv(self.bg_a), _yuv(bg_b)
        self.angle0, self.spin = rnd.uniform(0, 2 * math.pi), rnd.uniform(-0.3, 0.3)  # rad, rad/s
        self.shapes: list[_Shape] = []
        for _ in range(rnd.randint(5, 8)):
            h = hue + rnd.choice([0.0, offset, offset / 2, -offset / 2]) + rnd.uniform(-0.04, 0.04)
            u = rnd.uniform
            self.shapes.append(
                _Shape(
                    yuv=_yuv(_hsv(h, u(0.35, 0.8), u(0.7, 1.0))),
                    opacity=u(0.25, 0.6),
                    radius=u(0.07, 0.26),
                    feather=u(0.04, 0.5),
                    ring=u(0.08, 0.2) if rnd.random() < 0.3 else 0.0,
                    amp=(u(0.15, 0.4), u(0.15, 0.4)),
                    freq=(u(0.03, 0.12), u(0.03, 0.12), u(0.1, 0.4)),
                    phase=(u(0, 6.3), u(0, 6.3), u(0, 6.3)),
                )
            )
        # Pixel-centre coordinates; nx/ny are normalised so the gradient spans the diagonal.
        self.px = np.arange(width, dtype=np.float32) + np.float32(0.5)
        self.py = np.arange(height, dtype=np.float32) + np.float32(0.5)
        diag = np.float32(math.hypot(width, height))
        self.nx, self.ny = (self.px - width / 2) / diag, (self.py - height / 2) / diag
        # Static luma vignette as a scale plus offset around black (16); +0.5 rounds on cast.
        self.vig = 1 - np.float32(0.9) * (self.nx[None, :] ** 2 + self.ny[:, None] ** 2)
        self.vig_off = np.float32(16) * (1 - self.vig) + np.float32(0.5)
        self.luma = np.empty((height, width), np.float32)
        self.chroma = np.empty((height // 2, width // 2), np.float32)

    def frames(self, fps: int, count: int) -> Iterator[U8]:
        """Yields the abstract scene's frames; the same buffer is reused for every frame."""
        buf = np.empty((self.h * 3 // 2, self.w), np.uint8)
        for i in range(count):
            self.background(i / fps, buf)
            self.draw_shapes(i / fps, buf)
            yield buf

    def background(self, t: float, out: U8) -> None:
        """Writes the gradient background at time ``t`` into a yuv420p buffer."""
        ang = self.angle0 + self.spin * t
        cx, cy = math.cos(ang), math.sin(ang)
        for i, plane in enumerate(_planes(out, self.w, self.h)):
            a, b = self.ya[i], self.yb[i]
            buf, step = (self.luma, 1) if i == 0 else (self.chroma, 2)
            # The linear gradient is separable: a row term plus a column term, one 2-D add.
            col = (a + b) / 2 + (0 if i == 0 else 0.5) + (b - a) * cy * self.ny[::step]
            np.add(col[:, None], (b - a) * cx * self.nx[None, ::step], out=buf)
            if i == 0:
                np.multiply(buf, self.vig, out=buf)
                np.add(buf, self.vig_off, out=buf)
            np.copyto(plane, buf, casting="unsafe")

    def draw_shapes(self, t: float, out: U8, fade: float = 1.0) -> None:
        """Blends the shapes at time ``t`` over a yuv420p buffer, their opacity times ``fade``."""
        if fade <= 0:
            return
        w, h = self.w, self.h
        planes = _planes(out, w, h)
        for s in self.shapes:
            wave = [math.sin(2 * math.pi * f * t + p) for f, p in zip(s.freq, s.phase, strict=True)]
            r = s.radius * min(w, h) * (1 + 0.12 * wave[2])
            f = max(1.5, s.feather * r)
            cx, cy = w * (0.5 + s.amp[0] * wave[0]), h * (0.5 + s.amp[1] * wave[1])
            ext = r * (1 + s.ring) + f
            # Only the bounding box is computed, aligned to even pixels to map onto chroma.
            x0, x1 = max(0, int(cx - ext) & ~1), min(w, (int(cx + ext) + 2) & ~1)
            y0, y1 = max(0, int(cy - ext) & ~1), min(h, (int(cy + ext) + 2) & ~1)
            if x0 >= x1 or y0 >= y1:
                continue
            dx, dy = self.px[x0:x1] - np.float32(cx), self.py[y0:y1] - np.float32(cy)
            d = np.sqrt(dy[:, None] ** 2 + dx[None, :] ** 2)
            if s.ring:
                np.abs(d - np.float32(r), out=d)
            edge = np.float32(s.ring * r if s.ring else r)
            alpha = np.clip((edge - d) / np.float32(f) + np.float32(0.5), 0, 1)
            alpha *= alpha * (np.float32(3) - np.float32(2) * alpha)  # smoothstep edge
            alpha *= np.float32(s.opacity * fade)
            for i, plane in enumerate(planes):
                k = 1 if i == 0 else 2
                region = plane[y0 // k : y1 // k, x0 // k : x1 // k]
                cur = region.astype(np.float32)
                cur += alpha[::k, ::k] * (np.float32(s.yuv[i]) - cur) + np.float32(0.5)
                np.copyto(region, cur, casting="unsafe")


def _seed_for(prompt: str, seed: int | None) -> int:
    key = prompt if seed is None else f"{seed}\x00{prompt}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def _fit_reference(data: bytes, width: int, height: int, bg: RGB) -> U8:
    """Decodes image bytes into a width x height RGB canvas, "contain" fit (nothing cropped).

    Letterbox bars and transparent pixels take the palette's background colour ``bg``.
    """
    try:
        with av.open(io.BytesIO(data), "r") as container:
            stream = container.streams.video[0]
            if stream.codec_context.name not in _REFERENCE_CODECS:
                raise ReferenceImageError(f"unsupported image codec {stream.codec_context.name}")
            image = next(container.decode(stream))
    except (av.FFmpegError, IndexError, StopIteration, UnicodeDecodeError) as exc:
        raise ReferenceImageError("reference is not a decodable image") from exc
    iw, ih = image.width, image.height
    if iw < 1 or ih < 1 or iw * ih > _MAX_REFERENCE_PIXELS:
        raise ReferenceImageError(f"reference image size {iw}x{ih} is out of range")
    scale = min(width / iw, height / ih)
    nw, nh = min(width, max(1, round(iw * scale))), min(height, max(1, round(ih * scale)))
    interp = "AREA" if scale < 1 else "BICUBIC"
    rgba = _u8(image.reformat(width=nw, height=nh, interpolation=interp), "rgba")
    back = np.array([round(c * 255) for c in bg], np.float32)
    alpha = rgba[:, :, 3:].astype(np.float32) / 255
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = back.astype(np.uint8)
    x0, y0 = (width - nw) // 2, (height - nh) // 2
    canvas[y0 : y0 + nh, x0 : x0 + nw] = rgba[:, :, :3] * alpha + back * (1 - alpha) + 0.5
    return canvas


def _reference_frames(canvas: U8, scene: _Scene, fps: int, count: int) -> Iterator[U8]:
    """Frames evolving from the fitted reference: slow zoom and pan, shapes fading in."""
    h, w = canvas.shape[:2]
    for i in range(count):
        t = i / fps
        zoom = 1 + min(0.25, 0.03 * t)
        cw, ch = min(w, round(w / zoom)), min(h, round(h / zoom))
        pan = 0.5 + 0.4 * math.sin(0.35 * t)
        x0, y0 = round((w - cw) * pan), round((h - ch) * (1 - pan))
        crop = VideoFrame.from_ndarray(np.ascontiguousarray(canvas[y0 : y0 + ch, x0 : x0 + cw]))
        frame = crop.reformat(w, h, "yuv420p", dst_colorspace="itu709", interpolation="BILINEAR")
        buf = _u8(frame)
        ramp = min(1.0, max(0.0, (t - 0.25) / 2.5))
        scene.draw_shapes(t, buf, fade=0.8 * ramp * ramp * (3 - 2 * ramp))
        yield buf


def render(
    prompt: str,
    *,
    out_dir: Path,
    width: int,
    height: int,
    seconds: int,
    seed: int | None = None,
    reference: bytes | None = None,
    fps: int = 24,
    on_progress: Callable[[int], None] | None = None,
) -> RenderResult:
    """Renders an abstract animated H.264 MP4 for a prompt, plus its thumbnail and spritesheet.

    Output is byte-identical for the same prompt, seed, size, duration and reference. Files
    are written under temporary names in ``out_dir`` and renamed into place at the end, the
    video last, so ``video.mp4`` is never visible half-written.

    Args:
        prompt: Text the palette, shapes and motion are derived from.
        out_dir: Directory for ``video.mp4``, ``thumbnail.webp`` and ``spritesheet.jpg``
            (created if missing).
        width: Frame width in pixels (positive, even).
        height: Frame height in pixels (positive, even).
        seconds: Duration; the video has exactly ``seconds * fps`` frames.
        seed: Variation seed; ``None`` derives one from the prompt alone.
        reference: Optional JPEG/PNG/WebP bytes. The image is fitted with "contain"
            semantics (scaled to fit whole, nothing cropped, letterboxed with the palette's
            background colour) and is exactly the first frame; later frames slowly zoom and
            pan into it while the prompt's shapes fade in.
        fps: Frames per second.
        on_progress: Called with rising integer percentages from 0 to 100 (in steps of
            about 5); 100 comes only after all files are in place.

    Returns:
        The written files and the video geometry.

    Raises:
        ReferenceImageError: If ``reference`` is not a decodable image.
        ValueError: If the size, duration or fps is invalid.
    """
    if width < 2 or height < 2 or width % 2 or height % 2:
        raise ValueError(f"width and height must be positive and even, got {width}x{height}")
    if seconds < 1 or fps < 1:
        raise ValueError(f"seconds and fps must be at least 1, got {seconds} and {fps}")
    progress = on_progress or (lambda _: None)
    progress(0)
    count = seconds * fps
    scene = _Scene(_seed_for(prompt, seed), width, height)
    if reference is None:
        frames = scene.frames(fps, count)
    else:
        frames = _reference_frames(
            _fit_reference(reference, width, height, scene.bg_a), scene, fps, count
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    video_path = out_dir / "video.mp4"
    fd, tmp_name = tempfile.mkstemp(dir=out_dir, prefix=".video.mp4.", suffix=".tmp")
    os.fchmod(fd, 0o644)
    os.close(fd)
    thumb_at, tile_at = variant_picks(count)
    picked: dict[int, VideoFrame] = {}
    try:
        with av.open(tmp_name, "w", format="mp4", options={"movflags": "+faststart"}) as out:
            # ultrafast measured ~2x faster than veryfast here, at ~2x the file size.
            opts = {"preset": "ultrafast", "crf": "23"}
            stream = out.add_stream("libx264", rate=fps, options=opts)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            ctx = stream.codec_context
            ctx.thread_count, ctx.thread_type = _X264_THREADS, "FRAME"
            ctx.gop_size = 2 * fps  # a keyframe every 2 s keeps seeking responsive
            ctx.colorspace = ctx.color_primaries = ctx.color_trc = _BT709
            ctx.color_range = _MPEG_RANGE
            for i, buf in enumerate(frames):
                frame = VideoFrame.from_ndarray(buf, format="yuv420p")
                frame.colorspace, frame.color_range, frame.pts = _BT709, _MPEG_RANGE, i
                if i == thumb_at or i in tile_at:
                    picked[i] = frame
                out.mux(stream.encode(frame))
                # Every 5 % up to 90; the variants and the rename make up the rest.
                if (pct := (i + 1) * 18 // count * 5) > i * 18 // count * 5:
                    progress(pct)
            out.mux(stream.encode(None))
        thumb, sprite = write_variants(picked[thumb_at], [picked[i] for i in tile_at], out_dir)
        os.replace(tmp_name, video_path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    progress(100)
    return RenderResult(video_path, thumb, sprite, count, width, height, fps)
