"""The SDK's list of the videos it made, for providers that cannot list their own jobs.

Runway, fal, xAI, Vertex and Gemini have no "list my videos" endpoint, and SDK-only use has no
database. So each video the SDK creates on such a provider is noted, one JSON line, in
``$VIDGATE_HOME/sdk/videos.jsonl`` (appends of one short line are atomic, so several processes
can share it); a deletion appends a tombstone. ``list`` reads the notes and retrieves each
video from its provider.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ._home import vidgate_home


@dataclass(frozen=True)
class Entry:
    id: str
    provider: str
    created_at: int


def _path() -> Path:
    return vidgate_home() / "sdk" / "videos.jsonl"


def _append(record: dict[str, object]) -> None:
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def note(video_id: str, provider: str, created_at: int) -> None:
    _append({"id": video_id, "provider": provider, "created_at": created_at})


def forget(video_id: str) -> None:
    _append({"id": video_id, "deleted": True})


def entries(provider: str) -> list[Entry]:
    """The live videos noted for ``provider``, oldest first."""
    try:
        lines = _path().read_text().splitlines()
    except FileNotFoundError:
        return []
    live: dict[str, Entry] = {}
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn line from a crash mid-write
        if record.get("deleted"):
            live.pop(str(record.get("id")), None)
        elif record.get("provider") == provider:
            entry = Entry(str(record["id"]), provider, int(record.get("created_at", 0)))
            live[entry.id] = entry
    return sorted(live.values(), key=lambda e: e.created_at)
