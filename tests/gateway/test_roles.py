"""``--role api|worker`` (issue 10): api replicas answer clients and never poll providers;
workers poll, copy and sweep, and serve only health and metrics. Together, on one database
and one storage, they make a video an all-in-one gateway would."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Gateway, is_mp4, standard_config

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


def _config(shared: Path, role: str) -> dict[str, Any]:
    config = standard_config(shared)
    config["general_settings"].update(role=role, local_dir=str(shared / "local"))
    return config


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Gateway]:
    gw = Gateway(tmp_path / "api", _config(tmp_path / "shared", "api")).start()
    try:
        yield gw
    finally:
        gw.stop()


def test_an_api_replica_never_polls_and_a_worker_finishes_its_jobs(
    api: Gateway, tmp_path: Path
) -> None:
    key = api.new_key()
    client = api.openai(key)
    video = client.videos.create(model="local/preview", prompt="split roles", seconds="1")
    time.sleep(1.5)  # long enough for an all-in-one gateway to have polled it (every 0.25 s)
    assert client.videos.retrieve(video.id).status == "queued"

    worker = Gateway(tmp_path / "worker", _config(tmp_path / "shared", "worker")).start()
    try:
        with worker.http() as http:
            assert http.get("/health/readiness").status_code == 200
            assert http.get("/v1/videos").status_code == 404  # a worker answers no client
        deadline = time.monotonic() + 60
        while client.videos.retrieve(video.id).status != "completed":
            assert time.monotonic() < deadline, "the worker never finished the job"
            time.sleep(0.1)
        assert is_mp4(client.videos.download_content(video.id).read())
    finally:
        worker.stop()


def test_an_unknown_role_fails_at_start(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "vidgate.gateway", "--role", "cook"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"VIDGATE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2 and "--role" in result.stderr
