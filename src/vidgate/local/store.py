"""Local jobs on disk: one directory per video under ``<root>/videos`` (the root is
``$VIDGATE_HOME/local`` unless the settings say otherwise).

``job.json`` is replaced atomically on every change, so any process can read a job while its
renderer (another process) is writing it, and a job made in one process is retrieved and
downloaded from another.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._home import vidgate_home
from ..types.video import VARIANT_FILES

__all__ = ["VARIANT_FILES", "LocalSettings", "LocalStore", "is_valid_id", "new_video_id"]

# A renderer that has written nothing for this long is presumed dead and the job is restarted.
STALE_AFTER_SECONDS = 60.0


@dataclass(frozen=True)
class LocalSettings:
    """Where the local engine keeps its jobs and how many renders it runs at once."""

    root: Path
    workers: int

    @classmethod
    def from_env(cls) -> LocalSettings:
        """The SDK's defaults: ``$VIDGATE_HOME/local`` and ``VIDGATE_LOCAL_WORKERS`` (else
        one render per CPU core: each is CPU-bound, more at once only slows them all)."""
        raw = os.environ.get("VIDGATE_LOCAL_WORKERS", "")
        workers = int(raw) if raw.isdigit() and int(raw) > 0 else max(1, os.cpu_count() or 1)
        return cls(root=vidgate_home() / "local", workers=workers)


def new_video_id() -> str:
    # 96 random bits: ample for one machine's jobs, and it keeps SDK ids short.
    return "video_" + secrets.token_hex(12)


def is_valid_id(video_id: str) -> bool:
    hexpart = video_id.removeprefix("video_")
    return (
        video_id.startswith("video_")
        and len(hexpart) == 24
        and all(c in "0123456789abcdef" for c in hexpart)
    )


class LocalStore:
    """The jobs under one root."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def videos_root(self) -> Path:
        return self.root / "videos"

    def job_dir(self, video_id: str) -> Path:
        return self.videos_root / video_id

    def read_job(self, video_id: str) -> dict[str, Any] | None:
        if not is_valid_id(video_id):
            return None
        try:
            data: dict[str, Any] = json.loads((self.job_dir(video_id) / "job.json").read_text())
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            return None
        return data

    def write_job(self, job: dict[str, Any]) -> None:
        directory = self.job_dir(job["id"])
        directory.mkdir(parents=True, exist_ok=True)
        job["updated_at"] = time.time()
        tmp = directory / f".job.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        tmp.write_text(json.dumps(job))
        os.replace(tmp, directory / "job.json")

    def update_job(self, video_id: str, **changes: Any) -> dict[str, Any] | None:
        job = self.read_job(video_id)
        if job is None:
            return None
        job.update(changes)
        self.write_job(job)
        return job

    def list_jobs(self) -> list[dict[str, Any]]:
        if not self.videos_root.is_dir():
            return []
        jobs = []
        for entry in self.videos_root.iterdir():
            job = self.read_job(entry.name)
            if job is not None:
                jobs.append(job)
        return jobs

    def remove_job(self, video_id: str) -> None:
        directory = self.job_dir(video_id)
        if not directory.is_dir():
            return
        for path in directory.iterdir():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        with contextlib.suppress(OSError):
            directory.rmdir()


def renderer_alive(job: dict[str, Any]) -> bool:
    """Whether the job's renderer process still runs and has written recently."""
    pid = job.get("worker_pid")
    if not isinstance(pid, int):
        return False
    if time.time() - float(job.get("updated_at", 0)) > STALE_AFTER_SECONDS:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
