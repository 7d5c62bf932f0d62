"""Per-second prices from the shipped table, by resolution tier.

The table is one JSON file per provider under ``data/prices/`` (so adding a provider touches
its own file): keys are ``provider/model``; a value is USD per second for every size, or an
object by resolution tier (the short side of the size: ``720p``, ``1024p``, ``1080p``), where a
tier may carry ``{"audio": x, "silent": y}`` when sound changes the price. Keys starting with
``_`` are notes (sources), not prices.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def price_table() -> dict[str, Any]:
    table: dict[str, Any] = {}
    for entry in resources.files("vidgate").joinpath("data/prices").iterdir():
        if entry.name.endswith(".json"):
            data = json.loads(entry.read_text())
            table.update({k: v for k, v in data.items() if not k.startswith("_")})
    return table


def resolution_tier(size: str) -> str | None:
    """``1792x1024`` → ``1024p``: the short side names the tier."""
    width, sep, height = size.partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        return None
    return f"{min(int(width), int(height))}p"


def price_per_second(
    provider: str, model: str, size: str, *, audio: bool | None = None
) -> float | None:
    """USD per second for ``provider/model`` at ``size``, or ``None`` if the table has none.

    ``audio`` picks between audio and silent prices where a model has both (default: audio,
    the provider default where sound is on unless turned off).
    """
    # A pinned version (``owner/name:abc123`` on Replicate) costs what the model costs.
    key = f"{provider}/{model}"
    if key not in price_table():
        key = key.split(":", 1)[0]
    entry: Any = price_table().get(key)
    if entry is None:
        return None
    if isinstance(entry, dict) and not ({"audio", "silent"} & entry.keys()):
        tier = resolution_tier(size)
        entry = entry.get(tier) if tier else None
        if entry is None:
            entry = price_table()[key].get("default")
    if isinstance(entry, dict):
        entry = entry.get("silent" if audio is False else "audio")
    return float(entry) if isinstance(entry, int | float) else None


def cost_usd(
    provider: str, model: str, size: str, seconds: str | float, *, audio: bool | None = None
) -> float | None:
    """What a video of ``seconds`` at ``size`` costs, rounded to a hundredth of a cent."""
    rate = price_per_second(provider, model, size, audio=audio)
    try:
        duration = float(seconds)
    except (TypeError, ValueError):
        return None
    if rate is None:
        return None
    return round(rate * duration, 4)
