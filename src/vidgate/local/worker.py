"""Renders one local job in its own process: ``python -m vidgate.local.worker ROOT VIDEO_ID``
(``ROOT`` is the engine's store, from its settings: the worker reads no environment).

A separate process keeps rendering off every event loop, uses the second core, and lets a job
started by a short-lived command (``vidgate create --no-wait``) finish after it exits.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .store import LocalStore


def run(root: str, video_id: str) -> int:
    store = LocalStore(Path(root))
    job = store.read_job(video_id)
    if job is None or job["status"] in ("completed", "failed"):
        return 0
    store.update_job(video_id, status="in_progress", progress=0, worker_pid=os.getpid())
    from .render import ReferenceImageError, render

    last = [-1]

    def on_progress(percent: int) -> None:
        # 100 is written with the terminal status below, once the files are in place.
        percent = min(percent, 99)
        if percent > last[0]:
            last[0] = percent
            store.update_job(video_id, progress=percent)

    directory = store.job_dir(video_id)
    reference_path = directory / "reference.bin"
    reference = reference_path.read_bytes() if reference_path.exists() else None
    width, height = (int(v) for v in job["size"].split("x"))
    try:
        render(
            job["prompt"],
            out_dir=directory,
            width=width,
            height=height,
            seconds=int(job["seconds"]),
            seed=job.get("seed"),
            reference=reference,
            on_progress=on_progress,
        )
    except ReferenceImageError as exc:
        store.update_job(
            video_id,
            status="failed",
            error={"code": "invalid_input_reference", "message": str(exc)},
        )
        return 1
    except Exception as exc:  # the job must end; the reason goes to the caller as its error
        store.update_job(
            video_id,
            status="failed",
            error={"code": "render_failed", "message": f"{type(exc).__name__}: {exc}"},
        )
        return 1
    if store.read_job(video_id) is None:  # deleted while rendering
        store.remove_job(video_id)
        return 0
    store.update_job(video_id, status="completed", progress=100, completed_at=int(time.time()))
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], sys.argv[2]))
