"""Content streams in bounded chunks: downloading a 1 GiB stored video must not raise the
gateway's resident memory by more than about 20 MB (a resource bound, measured from /proc)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vidgate.gateway.store import Database, JobRecord

from .conftest import Gateway, standard_config

GIB = 1024**3
RSS_BUDGET = 20 * 1024 * 1024


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[Gateway]:
    gateway = Gateway(tmp_path / "gw", standard_config(tmp_path / "gw")).start(subprocess=True)
    try:
        yield gateway
    finally:
        gateway.stop()


def _stored_job(gw: Gateway, size: int) -> str:
    """A completed job whose stored video is a ``size``-byte sparse file (no disk used)."""
    job_id = "video_" + "ef" * 24
    folder = gw.storage_dir / "videos" / job_id
    folder.mkdir(parents=True)
    with (folder / "video.mp4").open("wb") as f:
        f.truncate(size)
    db = Database(gw.db_url)
    db.jobs.insert(
        JobRecord(
            id=job_id,
            owner_key_id="master",
            model="local/preview",
            deployment="local/preview",
            provider="local",
            upstream_model="preview",
            request={},
            size="720x1280",
            seconds="4",
            prompt="big",
            estimated_cost=0.0,
            created_at=int(time.time()),
            status="completed",
            progress=100,
            upstream_id="video_upstream",
            storage_path=f"videos/{job_id}",
            settled_cost=0.0,
        )
    )
    db.close()
    return job_id


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_one_gib_download_keeps_memory_flat(gw: Gateway) -> None:
    job_id = _stored_job(gw, GIB)
    assert gw.proc is not None
    pid = gw.proc.pid
    path = f"/v1/videos/{job_id}/content"
    with gw.admin() as http:
        warm = http.get(path, headers={"Range": "bytes=0-1048575"})  # load the code paths
        assert warm.status_code == 206 and len(warm.content) == 1024 * 1024
        baseline = _rss(pid)
        peak = [baseline]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _rss(pid))
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        received = 0
        try:
            with http.stream("GET", path) as reply:
                assert reply.status_code == 200
                assert int(reply.headers["content-length"]) == GIB
                assert reply.headers["content-type"] == "video/mp4"
                for chunk in reply.iter_raw(1024 * 1024):
                    received += len(chunk)
        finally:
            done.set()
            sampler.join()
    assert received == GIB
    growth = peak[0] - baseline
    print(f"RSS growth {growth / 1e6:.1f} MB")
    assert growth < RSS_BUDGET, f"gateway RSS grew {growth / 1e6:.1f} MB serving 1 GiB"
