"""Per-second prices from the shipped table (``data/prices.json``), by resolution tier."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def price_table() -> dict[str, Any]:
    text = resources.files("vidgate").joinpath("data/prices.json").read_text()
    table: dict[str, Any] = json.loads(text)
    table.pop("_comment", None)
    return table


def resolution_tier(size: str) -> str | None:
    """``1792x1024`` → ``1024p``: the short side names the tier."""
    width, sep, height = size.partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        return None
    return f"{min(int(width), int(height))}p"


def price_per_second(provider: str, model: str, size: str) -> float | None:
    """USD per second for ``provider/model`` at ``size``, or ``None`` if the table has none."""
    entry = price_table().get(f"{provider}/{model}")
    if entry is None:
        return None
    if isinstance(entry, int | float):
        return float(entry)
    tier = resolution_tier(size)
    value = entry.get(tier) if tier else None
    return float(value) if value is not None else None


def cost_usd(provider: str, model: str, size: str, seconds: str | float) -> float | None:
    """What a video of ``seconds`` at ``size`` costs, rounded to a hundredth of a cent."""
    rate = price_per_second(provider, model, size)
    try:
        duration = float(seconds)
    except (TypeError, ValueError):
        return None
    if rate is None:
        return None
    return round(rate * duration, 4)
