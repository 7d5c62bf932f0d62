"""``vidgate models``: every model of every registered provider, from the registry itself, with
what it accepts and its price per second (by resolution tier where the price table has tiers)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _render
from ._common import ApiBaseOption, ApiKeyOption, JsonOption, Remote

if TYPE_CHECKING:
    from vidgate.types import ModelCapabilities

_HEADERS = ("model", "seconds", "sizes", "image input", "remix", "price / s")


@dataclass(frozen=True)
class ModelRow:
    provider: str
    model: str
    caps: ModelCapabilities
    prices: dict[str, float]  # resolution tier ("720p") -> USD per second

    @property
    def id(self) -> str:
        return f"{self.provider}/{self.model}"

    def cells(self) -> tuple[str, ...]:
        return (
            self.id,
            _seconds(self.caps.seconds),
            ", ".join(self.caps.sizes) if self.caps.sizes is not None else "any",
            _yes(self.caps.image_input),
            _yes(self.caps.remix),
            _prices(self.prices),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "model": self.model,
            **self.caps.model_dump(mode="json"),
            "price_per_second": self.prices or None,
        }


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _seconds(values: tuple[str, ...] | None) -> str:
    """``1..20`` as ``1-20``; a short list as ``4, 8, 12``; ``None`` as ``any``."""
    if values is None:
        return "any"
    numbers = [int(v) for v in values if v.isdigit()]
    contiguous = numbers == list(range(numbers[0], numbers[-1] + 1)) if numbers else False
    if contiguous and len(numbers) > 3:
        return f"{numbers[0]}-{numbers[-1]}"
    return ", ".join(values)


def _prices(prices: dict[str, float]) -> str:
    if not prices:
        return "-"
    if len(set(prices.values())) == 1:
        return _render.cost(next(iter(prices.values())))
    return ", ".join(f"{tier} {_render.cost(usd)}" for tier, usd in prices.items())


def _tier_prices(provider: str, model: str, caps: ModelCapabilities) -> dict[str, float]:
    """The price per second of each resolution tier the model offers, lowest tier first."""
    from vidgate._pricing import price_per_second, resolution_tier

    prices: dict[str, float] = {}
    for size in caps.sizes or (caps.default_size,):
        tier = resolution_tier(size)
        usd = price_per_second(provider, model, size)
        if tier is not None and usd is not None:
            prices.setdefault(tier, usd)
    return dict(sorted(prices.items(), key=lambda item: int(item[0].rstrip("p"))))


def model_rows() -> tuple[list[ModelRow], list[str]]:
    """A row per declared model of every provider, and a note per provider that failed to load
    (a broken third-party plugin must not hide the others)."""
    from vidgate import providers

    rows: list[ModelRow] = []
    problems: list[str] = []
    for name in providers.names():
        try:
            cls = providers.get(name)
        except Exception as exc:  # an entry point that cannot be imported
            problems.append(f"provider '{name}' could not be loaded: {exc}")
            continue
        if cls is None:
            continue
        for model, caps in cls.models.items():
            rows.append(ModelRow(name, model, caps, _tier_prices(name, model, caps)))
    return rows, problems


def models(
    json_output: JsonOption = False,
    api_base: ApiBaseOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """List every model vidgate knows: durations, sizes, image input, remix, price per second.

    Pass the first column to 'vidgate create --model'. Prices are USD per second of video;
    where a model has tiers (sora-2-pro) each resolution tier is shown.
    """
    remote = Remote.of(api_base, api_key)
    rows, problems = model_rows()
    for problem in problems:
        _render.note(problem)
    if remote.is_server:
        _render.note(
            f"{remote.api_base} decides which models it serves; these are the models vidgate "
            "knows, and --model names are sent to it verbatim."
        )
    if json_output:
        _render.json_out(json.dumps([row.to_json() for row in rows], indent=2))
    else:
        _render.table(_HEADERS, (row.cells() for row in rows))
