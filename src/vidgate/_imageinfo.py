"""What a reference image is, read from its header alone: format and pixel dimensions.

A 48 KB PNG can declare 20000×20000 pixels (1.6 GB once decoded). Reading the declared size
from the header, without decoding anything, lets a create refuse such a bomb with a clear 400
before any job exists. Layouts: PNG (IHDR, ISO/IEC 15948 §11.2.2), JPEG (the SOFn segment,
ITU T.81 §B.2.2), WebP (the ``VP8 ``, ``VP8L`` and ``VP8X`` chunks, RFC 9649 §2.5–2.7).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# Beyond what any provider takes as a first frame (8K is 33 MP), well under a decode that
# could hurt the process (Pillow's own bomb warning starts at 89 MP).
MAX_PIXELS = 50_000_000
MAX_SIDE = 16_384

# JPEG start-of-frame markers: C0–CF except DHT (C4), JPG (C8) and DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers with no length field: TEM and RST0–RST7.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


@dataclass(frozen=True)
class ImageInfo:
    content_type: str  # image/jpeg, image/png or image/webp
    width: int
    height: int


def sniff(data: bytes) -> str | None:
    """The MIME type of JPEG, PNG or WebP bytes, from their signature; else ``None``."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_info(data: bytes) -> ImageInfo | None:
    """Format and declared size of a JPEG, PNG or WebP image, or ``None`` when the bytes are
    not one of those or their header is cut short or broken."""
    kind = sniff(data)
    if kind == "image/png":
        size = _png(data)
    elif kind == "image/jpeg":
        size = _jpeg(data)
    elif kind == "image/webp":
        size = _webp(data)
    else:
        return None
    if size is None or size[0] <= 0 or size[1] <= 0:
        return None
    return ImageInfo(kind, size[0], size[1])


def _png(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24:
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _jpeg(data: bytes) -> tuple[int, int] | None:
    pos = 2
    end = len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or start of scan before any frame header
            return None
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            return None
        if marker in _SOF:
            if pos + 9 > end:
                return None
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return int(width), int(height)
        pos += 2 + length
    return None


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


def refusal(info: ImageInfo) -> str | None:
    """Why an image of this size may not be used as a reference, or ``None``."""
    if info.width > MAX_SIDE or info.height > MAX_SIDE:
        return (
            f"it is {info.width}x{info.height} pixels; each side may be at most {MAX_SIDE} pixels"
        )
    if info.width * info.height > MAX_PIXELS:
        return (
            f"it is {info.width}x{info.height} pixels ({info.width * info.height} in all); "
            f"the limit is {MAX_PIXELS} pixels"
        )
    return None
