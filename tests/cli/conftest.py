"""Fixtures for the CLI tests: an isolated VIDGATE_HOME and working directory, and ``cli`` to
run a command in process with Typer's ``CliRunner``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import pytest
from typer.testing import CliRunner, Result

from vidgate.cli import app

# A small local job: about a second of rendering.
SMALL = ("--seconds", "1", "--size", "720x1280")

Cli = Callable[..., Result]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """VIDGATE_HOME in a temporary directory, and the current directory another one (default
    output files land there); no server configured."""
    monkeypatch.setenv("VIDGATE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VIDGATE_API_BASE", raising=False)
    monkeypatch.delenv("VIDGATE_API_KEY", raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


@pytest.fixture
def cli(workdir: Path) -> Cli:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args))

    return invoke


def assert_one_error_line(result: Result, *, exit_code: int, contains: str) -> str:
    """The failure contract: the exit code, no traceback, and one ``error:`` line, the last on
    stderr (progress lines of a job that ran may come before it)."""
    assert result.exit_code == exit_code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert contains in errors[0], errors[0]
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit | None), result.exception
    return errors[0]


def video_json(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def wait_completed(cli: Cli, video_id: str, *, timeout: float = 30.0) -> dict[str, Any]:
    """Poll ``vidgate get --json`` until the job completes (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        video = video_json(cli("get", video_id, "--json"))
        assert video["status"] != "failed", video
        if video["status"] == "completed":
            return video
        assert time.monotonic() < deadline, f"still {video['status']} after {timeout} s"
        time.sleep(0.1)


def probe(path: Path) -> tuple[int, int, float]:
    """Width, height and duration in seconds of an MP4, read back with PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.duration is not None and stream.time_base is not None
        return stream.width, stream.height, float(stream.duration * stream.time_base)
