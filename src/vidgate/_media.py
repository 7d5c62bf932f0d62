"""Thumbnails and spritesheets of any video, made with PyAV: what the SDK, the gateway and
the local engine all show next to a video.

The thumbnail is a WebP of the middle frame; the spritesheet a gapless 5x2 JPEG grid of ten
evenly spaced frames (a player scrubs by addressing tile k at ``(k % 5 * w, k // 5 * h)``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Literal, cast

import av
import numpy as np
from av.video.frame import VideoFrame
from numpy.typing import NDArray

__all__ = ["make_variants", "variant_picks", "write_variants"]

_SPRITE_COLS, _SPRITE_ROWS = 5, 2
_SPRITE_TILE_BOX = (160, 320)  # max tile width, height
_THUMB_LONG_SIDE = 640


def variant_picks(count: int) -> tuple[int, list[int]]:
    """Frame indices for the thumbnail (middle frame) and the evenly spaced sprite tiles."""
    n = _SPRITE_COLS * _SPRITE_ROWS
    return count // 2, [min(count - 1, (2 * k + 1) * count // (2 * n)) for k in range(n)]


def _encode_image(
    frame: VideoFrame, codec: Literal["libwebp", "mjpeg"], pix_fmt: str, options: dict[str, str]
) -> bytes:
    """Encodes one frame as a standalone image file (libwebp and mjpeg emit whole files)."""
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = frame.width, frame.height, pix_fmt
    ctx.time_base, ctx.options = Fraction(1, 1), options
    # WebP and JPEG both mean BT.601 YUV; swscale takes the source matrix from the frame tags.
    src = frame.reformat(format=pix_fmt, dst_colorspace="itu601")
    src.pts = 0
    return b"".join(bytes(p) for p in [*ctx.encode(src), *ctx.encode(None)])


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the file from a separate web server
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_variants(thumb: VideoFrame, tiles: list[VideoFrame], out_dir: Path) -> tuple[Path, Path]:
    w, h = thumb.width, thumb.height
    scale = min(1.0, _THUMB_LONG_SIDE / max(w, h))
    small = thumb.reformat(max(2, round(w * scale)), max(2, round(h * scale)), interpolation="AREA")
    thumb_path, sprite_path = out_dir / "thumbnail.webp", out_dir / "spritesheet.jpg"
    _atomic_write(thumb_path, _encode_image(small, "libwebp", "yuv420p", {"quality": "80"}))
    scale = min(_SPRITE_TILE_BOX[0] / w, _SPRITE_TILE_BOX[1] / h)
    tw, th = max(2, round(w * scale)), max(2, round(h * scale))
    # Gapless, so a player can address tile k at (k % cols * tw, k // cols * th).
    sheet = np.zeros((th * _SPRITE_ROWS, tw * _SPRITE_COLS, 3), np.uint8)
    for k, tile in enumerate(tiles):
        y, x = divmod(k, _SPRITE_COLS)
        rgb = cast(
            NDArray[np.uint8],
            tile.reformat(tw, th, interpolation="AREA").to_ndarray(format="rgb24"),
        )
        sheet[y * th : (y + 1) * th, x * tw : (x + 1) * tw] = rgb
    # yuvj420p is mjpeg's full-range input; capping the quantiser keeps the tiles crisp.
    jpeg = _encode_image(VideoFrame.from_ndarray(sheet), "mjpeg", "yuvj420p", {"qmax": "4"})
    _atomic_write(sprite_path, jpeg)
    return thumb_path, sprite_path


def make_variants(video: Path, out_dir: Path) -> tuple[Path, Path]:
    """Makes ``thumbnail.webp`` and ``spritesheet.jpg`` in ``out_dir`` from any video file.

    The thumbnail is the middle frame scaled to at most 640 px on the long side. The
    spritesheet is a gapless 5x2 JPEG grid of 10 evenly spaced frames in time order, row by
    row, each tile at most 160 px wide and 320 px tall. Both files are written atomically.

    Args:
        video: Path of an existing video, e.g. an MP4 from any provider.
        out_dir: Existing directory to write into.

    Returns:
        The paths of the thumbnail and the spritesheet.

    Raises:
        ValueError: If the file has no decodable video frames.
    """
    with av.open(str(video)) as container:
        if not container.streams.video:
            raise ValueError(f"{video} has no video stream")
        stream = container.streams.video[0]
        # Some muxers leave the frame count unset; counting packets is cheap (no decoding).
        count = stream.frames or sum(1 for p in container.demux(stream) if p.size)
    thumb_at, tile_at = variant_picks(max(1, count))
    picked: dict[int, VideoFrame] = {}
    last: VideoFrame | None = None
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            last = frame
            if i == thumb_at or i in tile_at:
                picked[i] = frame
            if i >= max(thumb_at, *tile_at):
                break
    if last is None:
        raise ValueError(f"{video} has no decodable video frames")
    # A container's frame count can overstate what decodes: missing picks use the last frame.
    return write_variants(
        picked.get(thumb_at, last), [picked.get(i, last) for i in tile_at], out_dir
    )
