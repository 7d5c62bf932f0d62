"""Is a copied video whole? A check that runs as the bytes stream past, before they are stored.

HTTP framing cannot tell a whole body from a cut one when the upstream itself declares the
wrong ``Content-Length`` (a buggy compressing proxy): the transfer ends cleanly, short. An MP4
(ISO BMFF) says its own length: it is a run of top-level boxes, each starting with its size,
so a file cut anywhere but a box boundary ends inside a box, and one cut at a boundary is
missing its ``moov`` (or everything after ``ftyp``). Bodies that are not MP4 (the first box
is not ``ftyp``), or whose boxes are not the top-level kinds ISO BMFF defines, pass through
unchecked: only a structure this module understands is judged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

# Top-level box types of ISO/IEC 14496-12 (and the fragmented-MP4 ones). Anything else means
# the bytes are not a structure this check understands, so they are not judged.
TOP_LEVEL = frozenset(
    {b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin", b"moof", b"mfra"}
    | {b"meta", b"sidx", b"ssix", b"prft", b"emsg", b"uuid", b"udta"}
)


class IncompleteVideo(ValueError):
    """The MP4 ended inside a box, or without its ``moov`` box."""


class _Walker:
    """Follows the top-level box boundaries of an MP4 fed to it in pieces."""

    def __init__(self) -> None:
        self.active: bool | None = None  # None until the first box says whether it is MP4
        self._header = bytearray()  # the part of the next box header seen so far
        self._skip = 0  # bytes of the current box still to come
        self.kinds: set[bytes] = set()

    def feed(self, chunk: bytes) -> None:
        i = 0
        while self.active is not False and i < len(chunk):
            if self._skip:
                take = min(self._skip, len(chunk) - i)
                self._skip -= take
                i += take
                continue
            want = 16 if self._header[:4] == b"\x00\x00\x00\x01" else 8
            take = min(want - len(self._header), len(chunk) - i)
            self._header += chunk[i : i + take]
            i += take
            if len(self._header) < 8 or (
                self._header[:4] == b"\x00\x00\x00\x01" and len(self._header) < 16
            ):
                continue
            self._box()

    def _box(self) -> None:
        size = int.from_bytes(self._header[:4], "big")
        kind = bytes(self._header[4:8])
        if self.active is None:
            self.active = kind == b"ftyp"
        if kind not in TOP_LEVEL:
            self.active = False
        if not self.active:
            return
        self.kinds.add(kind)
        length = 8
        if size == 1:  # a 64-bit size follows the type
            size, length = int.from_bytes(self._header[8:16], "big"), 16
        elif size == 0:  # "to the end of the file": nothing left to check
            self.active = False
            return
        if size < length:
            raise IncompleteVideo(f"an MP4 box of type {kind!r} claims {size} bytes")
        self._skip = size - length
        self._header.clear()

    def finish(self) -> None:
        if not self.active:
            return
        if self._skip or self._header:
            raise IncompleteVideo("the MP4 ends inside a box: the transfer was cut short")
        if b"moov" not in self.kinds:
            raise IncompleteVideo("the MP4 has no moov box: the transfer was cut short")


async def whole_mp4(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``chunks`` unchanged; raises :class:`IncompleteVideo` at the end (so a writer never
    commits the file) if they are an MP4 that is not whole."""
    walker = _Walker()
    async for chunk in chunks:
        walker.feed(chunk)
        yield chunk
    walker.finish()
