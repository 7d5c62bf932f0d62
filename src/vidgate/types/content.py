"""The body of ``GET /videos/{id}/content``: fully read, or streamed in bounded chunks."""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
Runner = Callable[[Awaitable[Any]], Any]

DEFAULT_CHUNK_SIZE = 64 * 1024


class VideoContent:
    """Binary content of a video, thumbnail or spritesheet.

    Returned read (``.content`` holds the bytes) by default, or unread with ``stream=True``, in
    which case ``iter_bytes()`` / ``aiter_bytes()`` and ``write_to_file()`` pass chunks through
    without holding the whole body.

    Example:
        >>> content = await vidgate.avideo_content(video.id, stream=True)  # doctest: +SKIP
        >>> await content.awrite_to_file("cat.mp4")                           # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        content_type: str | None,
        headers: dict[str, str],
        content: bytes | None = None,
        stream: AsyncIterator[bytes] | None = None,  # closed through ``aclose``
        aclose: Callable[[], Awaitable[None]] | None = None,
        runner: Runner | None = None,
    ) -> None:
        self.content_type = content_type
        self.headers = headers
        self._content = content
        self._stream = stream
        self._aclose = aclose
        # A stream opened by the sync API lives on vidgate's background loop; ``runner`` steps it.
        self._runner = runner
        self._consumed = False

    def _bind_runner(self, runner: Runner) -> None:
        self._runner = runner

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value and value.isdigit() else None

    @property
    def content(self) -> bytes:
        """The whole body. For a streamed response, call ``read()`` or ``aread()`` first."""
        if self._content is None:
            raise RuntimeError(
                "this content was opened with stream=True and has not been read: "
                "use read()/aread(), iter_bytes()/aiter_bytes() or write_to_file()"
            )
        return self._content

    async def aread(self) -> bytes:
        if self._content is None:
            self._content = b"".join([chunk async for chunk in self._chunks(None)])
        return self._content

    def read(self) -> bytes:
        if self._content is None:
            self._content = b"".join(self.iter_bytes())
        return self._content

    async def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """Yield the body in chunks of at most ``chunk_size`` bytes (as received if ``None``)."""
        if self._content is not None:
            for chunk in _split(self._content, chunk_size):
                yield chunk
            return
        async for chunk in self._chunks(chunk_size):
            yield chunk

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """Sync twin of :meth:`aiter_bytes`."""
        if self._content is not None:
            yield from _split(self._content, chunk_size)
            return
        if self._runner is None:
            raise RuntimeError("content streamed by the async API: use aiter_bytes()/aread()")
        agen = self._chunks(chunk_size)
        run = self._runner
        try:
            while True:
                try:
                    yield run(agen.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            run(agen.aclose())

    async def awrite_to_file(self, path: str | os.PathLike[str]) -> int:
        """Write the body to ``path`` chunk by chunk; returns the number of bytes written."""
        written = 0
        # Bounded chunks to a local file: each write is short, so it is done inline.
        with open(path, "wb") as f:  # noqa: ASYNC230
            async for chunk in self.aiter_bytes(DEFAULT_CHUNK_SIZE):
                f.write(chunk)
                written += len(chunk)
        return written

    def write_to_file(self, path: str | os.PathLike[str]) -> int:
        """Sync twin of :meth:`awrite_to_file`."""
        written = 0
        with open(path, "wb") as f:
            for chunk in self.iter_bytes(DEFAULT_CHUNK_SIZE):
                f.write(chunk)
                written += len(chunk)
        return written

    async def aclose(self) -> None:
        if self._aclose is not None:
            close, self._aclose = self._aclose, None
            await close()

    def close(self) -> None:
        if self._aclose is not None and self._runner is not None:
            self._runner(self.aclose())

    async def _chunks(self, chunk_size: int | None) -> AsyncGenerator[bytes, None]:
        if self._stream is None or self._consumed:
            raise RuntimeError("the content stream has already been consumed")
        self._consumed = True
        buffer = b""
        try:
            async for piece in self._stream:
                if chunk_size is None:
                    yield piece
                    continue
                buffer += piece
                while len(buffer) >= chunk_size:
                    yield buffer[:chunk_size]
                    buffer = buffer[chunk_size:]
            if buffer:
                yield buffer
        finally:
            await self.aclose()

    def __repr__(self) -> str:
        size = len(self._content) if self._content is not None else self.content_length
        return f"<VideoContent {self.content_type} {size} bytes>"


def _split(data: bytes, chunk_size: int | None) -> Iterator[bytes]:
    if chunk_size is None:
        if data:
            yield data
        return
    for start in range(0, len(data), chunk_size):
        yield data[start : start + chunk_size]
