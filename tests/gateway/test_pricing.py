"""The gateway prices a job as the SDK does: by model, size, seconds and, where sound changes
the price, the create's own options."""

from __future__ import annotations

import pytest

from vidgate.gateway.config import Settings
from vidgate.gateway.router import ModelRouter


def _router() -> ModelRouter:
    return ModelRouter(
        Settings.model_validate(
            {
                "model_list": [
                    {"model_name": "veo", "params": {"model": "runway/veo3.1", "api_key": "k"}},
                    {
                        "model_name": "gemini",
                        "params": {"model": "gemini/gemini-omni-1.2-flash", "api_key": "k"},
                    },
                    {
                        "model_name": "cheap",
                        "params": {"model": "local/preview", "price_per_second": 0.05},
                    },
                ]
            }
        )
    )


def test_sound_changes_the_estimate_where_the_table_says_so() -> None:
    route = _router().pick("veo")
    assert route.estimate("1280x720", "8") == pytest.approx(3.20)
    assert route.estimate("1280x720", "8", {"audio": True}) == pytest.approx(3.20)
    assert route.estimate("1280x720", "8", {"audio": False}) == pytest.approx(1.60)


def test_unpriced_models_and_deployment_overrides() -> None:
    router = _router()
    gemini = router.pick("gemini")
    assert not gemini.priced("1280x720", "8") and gemini.estimate("1280x720", "8") == 0.0
    cheap = router.pick("cheap")
    assert cheap.priced("720x1280", "4") and cheap.estimate("720x1280", "4") == pytest.approx(0.2)
