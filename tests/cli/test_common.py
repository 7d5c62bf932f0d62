"""Pure helpers of the CLI: model ids with and without a server, default file names."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidgate._ids import parse_model
from vidgate.cli._common import Remote, slug, unused_path


@pytest.mark.parametrize(
    ("typed", "offline", "server"),
    [
        (None, "local/preview", "openai/sora-2"),
        ("local/preview", "local/preview", "openai/local/preview"),
        ("sora-2-pro", "sora-2-pro", "openai/sora-2-pro"),
        ("openai/sora-2", "openai/sora-2", "openai/sora-2"),
        ("runway/gen4_turbo", "runway/gen4_turbo", "openai/runway/gen4_turbo"),
    ],
)
def test_model_id(typed: str | None, offline: str, server: str) -> None:
    assert Remote.of(None, None).model_id(typed) == offline
    assert Remote.of("http://gw/v1", "k").model_id(typed) == server


def test_a_server_receives_the_model_name_verbatim() -> None:
    ref = parse_model(Remote.of("http://gw/v1", None).model_id("local/preview"))
    assert (ref.provider, ref.model) == ("openai", "local/preview")


def test_empty_api_base_means_offline() -> None:
    remote = Remote.of("", "")
    assert not remote.is_server and remote.api_key is None
    assert remote.list_provider(None) == "local"
    assert Remote.of("http://gw/v1", None).list_provider(None) == "openai"
    assert Remote.of(None, None).list_provider("azure") == "azure"


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("A red fox, running!", "a-red-fox-running"),
        ("  ***  ", "video"),
        ("Ünïcode café", "unicode-cafe"),
        ("東京の夜", "video"),
        ("word " * 30, "word-word-word-word-word-word-word-word-word"),
    ],
)
def test_slug(prompt: str, expected: str) -> None:
    assert slug(prompt) == expected
    assert len(slug(prompt)) <= 48


def test_unused_path_numbers_instead_of_overwriting(tmp_path: Path) -> None:
    assert unused_path("fox", ".mp4", tmp_path) == tmp_path / "fox.mp4"
    (tmp_path / "fox.mp4").touch()
    (tmp_path / "fox-2.mp4").touch()
    assert unused_path("fox", ".mp4", tmp_path) == tmp_path / "fox-3.mp4"
