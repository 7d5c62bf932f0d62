"""``vidgate models``: every model of every registered provider, with prices per second."""

from __future__ import annotations

import json

from vidgate import providers

from .conftest import Cli


def _rows(stdout: str) -> dict[str, str]:
    """Table rows keyed by their first cell (the model id)."""
    rows = {}
    for line in stdout.splitlines():
        cells = line.split()
        if cells and "/" in cells[0]:
            rows[cells[0]] = line
    return rows


def test_table_lists_every_registered_model(cli: Cli) -> None:
    result = cli("models")

    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    expected = {
        f"{name}/{model}"
        for name in providers.names()
        for model in (providers.get(name) or providers.Provider).models
    }
    assert expected <= set(rows)
    assert {"local/preview", "openai/sora-2", "openai/sora-2-pro"} <= expected


def test_table_shows_capabilities_and_prices(cli: Cli) -> None:
    rows = _rows(cli("models").stdout)

    local = rows["local/preview"]
    assert "1-20" in local and "1920x1080" in local and local.endswith("$0.00")
    sora = rows["openai/sora-2"]
    assert "4, 8, 12, 16, 20" in sora and sora.endswith("$0.10")
    # sora-2-pro is priced by resolution tier.
    assert rows["openai/sora-2-pro"].endswith("720p $0.30, 1024p $0.50, 1080p $0.70")


def test_json(cli: Cli) -> None:
    result = cli("models", "--json")

    assert result.exit_code == 0, result.output
    models = {m["id"]: m for m in json.loads(result.stdout)}
    pro = models["openai/sora-2-pro"]
    assert (pro["provider"], pro["model"], pro["remix"], pro["image_input"]) == (
        "openai",
        "sora-2-pro",
        True,
        True,
    )
    assert pro["price_per_second"] == {"720p": 0.3, "1024p": 0.5, "1080p": 0.7}
    assert models["openai/sora-2"]["price_per_second"] == {"720p": 0.1}
    assert models["local/preview"]["seconds"][0] == "1"
    assert models["local/preview"]["seconds"][-1] == "20"


def test_with_an_api_base_notes_that_the_server_decides(cli: Cli) -> None:
    result = cli("models", "--api-base", "http://127.0.0.1:9/v1")

    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:9/v1 decides which models it serves" in result.stderr
    assert "local/preview" in result.stdout
