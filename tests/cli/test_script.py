"""The installed ``vidgate`` script, run as a user runs it: a real process end to end, and a
``--help`` that does not load the SDK's heavy dependencies."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SMALL, probe

SCRIPT = shutil.which("vidgate", path=str(Path(sys.executable).parent)) or shutil.which("vidgate")


def _run(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    assert SCRIPT is not None, "the vidgate script is not installed (pip install -e .)"
    env = {**os.environ, "VIDGATE_HOME": str(home)}
    for name in ("VIDGATE_API_BASE", "VIDGATE_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        env.pop(name, None)
    return subprocess.run(
        [SCRIPT, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    home = tmp_path / "home"
    monkeypatch.setenv("VIDGATE_HOME", str(home))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return cwd, home


def test_end_to_end_create_then_list_in_another_process(dirs: tuple[Path, Path]) -> None:
    cwd, home = dirs
    created = _run(
        "create", "A paper boat on a pond", *SMALL, "--out", "boat.mp4", cwd=cwd, home=home
    )

    assert created.returncode == 0, created.stderr
    video_id = created.stdout.split()[1]
    assert video_id.startswith("video_local.")
    assert probe(cwd / "boat.mp4")[:2] == (720, 1280)

    listed = _run("list", cwd=cwd, home=home)
    assert listed.returncode == 0, listed.stderr
    assert video_id in listed.stdout


def test_bad_input_exits_2_with_one_line_and_no_traceback(dirs: tuple[Path, Path]) -> None:
    cwd, home = dirs
    result = _run("create", "A boat", "--size", "999x999", cwd=cwd, home=home)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "(param: size)" in result.stderr


def test_help_lists_the_commands(dirs: tuple[Path, Path]) -> None:
    cwd, home = dirs
    result = _run("--help", cwd=cwd, home=home)

    assert result.returncode == 0, result.stderr
    for command in ("create", "get", "list", "download", "delete", "models"):
        assert command in result.stdout


def test_help_does_not_import_the_sdk_machinery() -> None:
    code = (
        "import sys\n"
        "from vidgate.cli import app\n"
        "heavy = ('httpx', 'av', 'numpy', 'pydantic', 'vidgate._client', 'fastapi')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""
