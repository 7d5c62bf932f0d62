"""Failures: one ``error:`` line on stderr, no traceback, exit 2 for bad input or usage, 1 for
other errors, 130 for Ctrl-C; nothing is created when the input is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidgate import AsyncVideoClient
from vidgate.cli._common import Remote

from .conftest import SMALL, Cli, assert_one_error_line, video_json


def _no_videos(cli: Cli) -> bool:
    return not video_json(cli("list", "--json"))["data"]


def test_unsupported_size_names_the_param_and_exits_2(cli: Cli) -> None:
    line = assert_one_error_line(
        cli("create", "A fox", "--seconds", "1", "--size", "999x999"),
        exit_code=2,
        contains="Invalid value for 'size': '999x999'",
    )
    assert "local/preview supports '720x1280'" in line
    assert line.endswith("(param: size)")
    assert _no_videos(cli)


def test_malformed_size_and_seconds(cli: Cli) -> None:
    assert_one_error_line(
        cli("create", "A fox", "--size", "big"), exit_code=2, contains="(param: size)"
    )
    assert_one_error_line(
        cli("create", "A fox", "--seconds", "21"), exit_code=2, contains="(param: seconds)"
    )
    assert_one_error_line(cli("create", "A fox", "--seconds", "0"), exit_code=2, contains="'-s'")


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("local/nope", "Unknown model 'local/nope'. Known models: local/preview."),
        ("nowhere/model", "Unknown provider 'nowhere' in model 'nowhere/model'."),
    ],
)
def test_unknown_model_is_a_clear_error(cli: Cli, model: str, message: str) -> None:
    line = assert_one_error_line(
        cli("create", "A fox", *SMALL, "--model", model), exit_code=2, contains=message
    )
    assert line.endswith("(param: model)")


def test_missing_input_reference_file(cli: Cli, workdir: Path) -> None:
    missing = workdir / "nope.png"
    assert_one_error_line(
        cli("create", "A fox", *SMALL, "--input-reference", str(missing)),
        exit_code=2,
        contains=f"'{missing}' is not a readable file",
    )
    assert _no_videos(cli)


def test_out_is_checked_before_anything_is_created(cli: Cli, workdir: Path) -> None:
    assert_one_error_line(
        cli("create", "A fox", *SMALL, "--out", str(workdir / "missing" / "fox.mp4")),
        exit_code=2,
        contains="Invalid value for '--out': directory",
    )
    assert_one_error_line(
        cli("create", "A fox", *SMALL, "--no-wait", "--out", "fox.mp4"),
        exit_code=2,
        contains="cannot be used with --no-wait",
    )
    assert _no_videos(cli)


def test_usage_errors_are_one_line(cli: Cli) -> None:
    assert_one_error_line(
        cli("download"),
        exit_code=2,
        contains="Missing argument 'ID'. See 'vidgate download --help'.",
    )
    assert_one_error_line(cli("crate", "x"), exit_code=2, contains="Did you mean 'create'?")
    assert_one_error_line(cli("list", "--order", "sideways"), exit_code=2, contains="'--order'")
    assert_one_error_line(cli("list", "--limit", "500"), exit_code=2, contains="(param: limit)")
    assert_one_error_line(
        cli("download", "video_local.x", "--variant", "poster"), exit_code=2, contains="--variant"
    )


def test_malformed_id(cli: Cli) -> None:
    assert_one_error_line(
        cli("get", "not.an.id"), exit_code=2, contains="Malformed video id 'not.an.id'"
    )


def test_a_failed_job_prints_the_provider_code(cli: Cli, workdir: Path) -> None:
    # Passes the signature check, then fails in the renderer: a real provider-side failure.
    bogus = workdir / "bogus.png"
    bogus.write_bytes(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x40" * 2 + b"garbage" * 4
    )

    line = assert_one_error_line(
        cli("create", "A fox", *SMALL, "-i", str(bogus)),
        exit_code=1,
        contains="failed: reference is not a decodable image",
    )
    assert line.endswith("(code: invalid_input_reference)")
    assert not list(workdir.glob("*.mp4"))


def test_ctrl_c_exits_130(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(self: Remote, job: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Remote, "run", interrupted)
    result = cli("get", "video_x")
    assert result.exit_code == 130
    assert "Traceback" not in result.output and result.stdout == ""


def test_ctrl_c_while_waiting_names_the_running_job(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def interrupted_wait(self: AsyncVideoClient, video_id: str, **kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(AsyncVideoClient, "wait", interrupted_wait)
        result = cli("create", "A fox", *SMALL)

    line = assert_one_error_line(result, exit_code=130, contains="interrupted; the job goes on")
    video_id = line.rsplit("vidgate get ", 1)[1].rstrip("'")
    assert video_json(cli("get", video_id, "--json"))["prompt"] == "A fox"
    cli("delete", video_id)
