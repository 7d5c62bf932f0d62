"""The shipped price table (``data/prices/*.json``)."""

from __future__ import annotations

import pytest

from vidgate._pricing import cost_usd, price_per_second, price_table, resolution_tier


def test_openai_prices_from_the_spec() -> None:
    assert cost_usd("openai", "sora-2", "720x1280", "8") == pytest.approx(0.80)
    assert cost_usd("openai", "sora-2-pro", "1280x720", "4") == pytest.approx(1.20)
    assert cost_usd("openai", "sora-2-pro", "1792x1024", "12") == pytest.approx(6.00)
    assert cost_usd("openai", "sora-2-pro", "1920x1080", "10") == pytest.approx(7.00)
    assert cost_usd("local", "preview", "720x1280", "20") == 0.0


def test_unknown_models_and_tiers_have_no_price() -> None:
    assert price_per_second("openai", "some-other-model", "720x1280") is None
    assert price_per_second("openai", "sora-2-pro", "480x480") is None
    assert cost_usd("openai", "sora-2", "720x1280", "soon") is None


def test_audio_and_default_tiers(monkeypatch: pytest.MonkeyPatch) -> None:
    table = dict(price_table())
    table["x/m"] = {"720p": {"audio": 0.4, "silent": 0.2}, "default": 0.5}
    monkeypatch.setattr("vidgate._pricing.price_table", lambda: table)
    assert price_per_second("x", "m", "1280x720") == 0.4
    assert price_per_second("x", "m", "1280x720", audio=False) == 0.2
    assert price_per_second("x", "m", "1920x1080") == 0.5


def test_resolution_tier() -> None:
    assert resolution_tier("1792x1024") == "1024p"
    assert resolution_tier("720x1280") == "720p"
    assert resolution_tier("nope") is None


def test_every_price_is_a_number_or_tiers_of_numbers() -> None:
    def ok(value: object) -> bool:
        if isinstance(value, int | float):
            return value >= 0
        return isinstance(value, dict) and all(ok(v) for v in value.values())

    assert price_table()
    for key, value in price_table().items():
        assert "/" in key and ok(value), key


def test_pinned_versions_cost_what_the_model_costs() -> None:
    assert price_per_second("openai", "sora-2:v1", "720x1280") == 0.10
