"""The CLI against an OpenAI-compatible server (the fake OpenAI Videos upstream on loopback):
``--api-base`` / ``--api-key`` or ``VIDGATE_API_BASE`` / ``VIDGATE_API_KEY``, model names sent
verbatim, the server's errors as one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_upstream import FakeOpenAIState, run_fake_openai

from .conftest import Cli, assert_one_error_line, video_json

KEY = "sk-cli-test"


@pytest.fixture(scope="module")
def _server() -> Iterator[tuple[FakeOpenAIState, str]]:
    state = FakeOpenAIState(api_key=KEY, polls_to_complete=2, poll_after_ms=10)
    with run_fake_openai(state) as base_url:
        yield state, base_url


@pytest.fixture
def fake(_server: tuple[FakeOpenAIState, str]) -> FakeOpenAIState:
    _server[0].reset()
    return _server[0]


@pytest.fixture
def server(
    _server: tuple[FakeOpenAIState, str], fake: FakeOpenAIState, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The fake's base URL, configured through the environment as a user would."""
    monkeypatch.setenv("VIDGATE_API_BASE", _server[1])
    monkeypatch.setenv("VIDGATE_API_KEY", KEY)
    return _server[1]


def _created_models(fake: FakeOpenAIState) -> list[str]:
    return [r.json["model"] for r in fake.requests_for("POST", "/v1/videos")]


def test_create_waits_and_streams_the_video(
    cli: Cli, fake: FakeOpenAIState, server: str, workdir: Path
) -> None:
    result = cli("create", "A cat on a piano", "--seconds", "4", "--out", "cat.mp4")

    assert result.exit_code == 0, result.output
    assert _created_models(fake) == ["sora-2"]  # the default with a server
    (job,) = fake.jobs.values()
    assert job.id in result.stdout and "completed" in result.stdout
    assert "$0.40" in result.stdout  # 4 s of sora-2 at $0.10
    assert (workdir / "cat.mp4").read_bytes() == fake.expected_content(job.id, "video")
    create = fake.requests_for("POST", "/v1/videos")[0]
    assert create.headers["authorization"] == f"Bearer {KEY}"
    assert create.json == {
        "prompt": "A cat on a piano",
        "model": "sora-2",
        "seconds": "4",
        "size": "720x1280",
    }


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("local/preview", "local/preview"),
        ("openai/sora-2-pro", "sora-2-pro"),
        ("some-gateway-model", "some-gateway-model"),
    ],
)
def test_model_names_reach_the_server_verbatim(
    cli: Cli, fake: FakeOpenAIState, server: str, typed: str, sent: str
) -> None:
    result = cli("create", "A cat", "--model", typed, "--seconds", "4", "--no-wait", "--json")

    video = video_json(result)
    assert _created_models(fake) == [sent]
    assert video["model"] == sent and video["status"] == "queued"


def test_flags_override_the_environment(
    cli: Cli,
    fake: FakeOpenAIState,
    _server: tuple[FakeOpenAIState, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIDGATE_API_BASE", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("VIDGATE_API_KEY", "sk-wrong")
    result = cli(
        "create", "A cat", "--no-wait", "--json", "--api-base", _server[1], "--api-key", KEY
    )

    assert video_json(result)["status"] == "queued"
    assert fake.jobs_created == 1


def test_get_list_download_delete(
    cli: Cli, fake: FakeOpenAIState, server: str, workdir: Path
) -> None:
    first = video_json(cli("create", "One", "--no-wait", "--json"))["id"]
    second = video_json(cli("create", "Two", "--no-wait", "--json"))["id"]
    fake.complete(first)

    assert video_json(cli("get", first, "--json"))["status"] == "completed"
    listed = cli("list")  # the server's videos (provider openai), not the local engine's
    assert listed.exit_code == 0, listed.output
    assert first in listed.stdout and second in listed.stdout
    page = json.loads(cli("list", "--limit", "1", "--json").stdout)
    assert [v["id"] for v in page["data"]] == [second] and page["has_more"] is True
    assert fake.requests_for("GET", "/v1/videos")[-1].query == {"limit": "1"}

    saved = cli("download", first, "--variant", "thumbnail")
    assert saved.exit_code == 0, saved.output
    thumb = workdir / f"{first}.webp"
    assert thumb.read_bytes() == fake.expected_content(first, "thumbnail")

    deleted = cli("delete", first)
    assert deleted.stdout.strip() == f"deleted {first}"
    assert_one_error_line(cli("get", first), exit_code=1, contains=f"'{first}' not found")


def test_a_failed_job_prints_the_server_code(cli: Cli, fake: FakeOpenAIState, server: str) -> None:
    line = assert_one_error_line(
        cli("create", "FAIL please", "--json"), exit_code=1, contains="blocked by our moderation"
    )
    assert line.endswith("(code: moderation_blocked)")


def test_a_wrong_key_is_one_line(
    cli: Cli, fake: FakeOpenAIState, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDGATE_API_KEY", "sk-not-the-key")
    assert_one_error_line(cli("list"), exit_code=1, contains="Incorrect API key provided")


def test_the_server_refusing_input_exits_2(cli: Cli, fake: FakeOpenAIState, server: str) -> None:
    fake.allowed_sizes = ("1280x720",)
    line = assert_one_error_line(
        cli("create", "A cat", "--model", "gw-model", "--size", "720x1280", "--no-wait"),
        exit_code=2,
        contains="Invalid value: '720x1280'",
    )
    assert line.endswith("(param: size)")


def test_an_unreachable_server_is_one_line(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDGATE_API_BASE", "http://127.0.0.1:9/v1")
    monkeypatch.setattr("vidgate._engine.DEFAULT_MAX_RETRIES", 0)  # skip the SDK's back-off
    assert_one_error_line(cli("get", "video_abc"), exit_code=1, contains="127.0.0.1:9")


def test_out_may_be_a_directory(
    cli: Cli, fake: FakeOpenAIState, server: str, workdir: Path
) -> None:
    (workdir / "clips").mkdir()
    result = cli("create", "A dog", "--out", "clips")

    assert result.exit_code == 0, result.output
    (job,) = fake.jobs.values()
    assert (workdir / "clips" / "a-dog.mp4").read_bytes() == fake.expected_content(job.id)
    saved = cli("download", job.id, "--out", "clips")
    assert saved.exit_code == 0, saved.output
    assert (workdir / "clips" / f"{job.id}.mp4").read_bytes() == fake.expected_content(job.id)
