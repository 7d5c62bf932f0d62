"""Shared fixtures: every test gets its own ``VIDGATE_HOME`` and no provider credentials."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.clock import Sleeps

_CREDENTIAL_VARS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    "OPENAI_ORGANIZATION",
    "AZURE_OPENAI_API_KEY",
    "AZURE_API_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_API_BASE",
    "VIDGATE_API_BASE",
    "VIDGATE_API_KEY",
    "VIDGATE_MASTER_KEY",
)


def _provider_env_vars() -> tuple[str, ...]:
    """Every environment variable a registered provider reads credentials from."""
    from vidgate import providers

    found: list[str] = []
    for name in providers.names():
        cls = providers.get(name)
        if cls is not None:
            found += [*cls.env_api_key, *cls.env_api_base]
    return tuple(found)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "vidgate-home"
    monkeypatch.setenv("VIDGATE_HOME", str(home))
    for name in _CREDENTIAL_VARS + _provider_env_vars():
        monkeypatch.delenv(name, raising=False)
    yield home


@pytest.fixture
def sleeps() -> Sleeps:
    """An engine ``sleep`` that records waits instead of waiting."""
    return Sleeps()
