"""Finished videos on local disk: ``<storage_dir>/videos/<video id>/{video.mp4, ...}``.

Files arrive streamed (bounded chunks, written to a ``.part`` name and renamed), so a copy
never holds a whole video in memory and a half-written file is never served.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from ..types.video import VARIANT_FILES, VideoContentVariant

REFERENCE_FILE = "reference.bin"


# Bytes gathered before each disk write while copying a video into storage.
WRITE_BLOCK = 1024 * 1024


class Storage:
    """A directory of stored videos. ``location`` strings (kept in job records) are paths
    relative to the root, so the directory can move."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def open(self) -> None:
        (self.root / "videos").mkdir(parents=True, exist_ok=True)

    def location(self, job_id: str) -> str:
        return f"videos/{job_id}"

    def directory(self, location: str) -> Path:
        path = (self.root / location).resolve()
        # Locations come from our own records; refuse anything that escapes the root anyway.
        if self.root.resolve() not in path.parents:
            raise ValueError(f"storage location outside the storage root: {location}")
        return path

    def file(self, location: str, variant: VideoContentVariant) -> Path:
        return self.directory(location) / VARIANT_FILES[variant]

    def reference(self, job_id: str) -> Path:
        return self.directory(self.location(job_id)) / REFERENCE_FILE

    def save_reference(self, job_id: str, data: bytes) -> None:
        path = self.reference(job_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    async def write(self, path: Path, chunks: AsyncIterator[bytes]) -> int:
        """Stream ``chunks`` into ``path`` atomically; returns the bytes written."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        written = 0
        buffer = bytearray()
        try:
            # Disk writes run in a worker thread, a buffer of WRITE_BLOCK at a time, so a
            # slow disk never stalls the event loop that serves every other request.
            out = await asyncio.to_thread(partial.open, "wb")
            try:
                async for chunk in chunks:
                    buffer += chunk
                    written += len(chunk)
                    if len(buffer) >= WRITE_BLOCK:
                        await asyncio.to_thread(out.write, bytes(buffer))
                        buffer.clear()
                if buffer:
                    await asyncio.to_thread(out.write, bytes(buffer))
            finally:
                await asyncio.to_thread(out.close)
            os.replace(partial, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
        return written

    def remove(self, job_id: str) -> None:
        """Delete a job's stored files (and its reference image)."""
        with contextlib.suppress(FileNotFoundError, ValueError):
            shutil.rmtree(self.directory(self.location(job_id)))
