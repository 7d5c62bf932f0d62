"""The provider registry: one line per provider. ``providers.get("runway")`` returns the
adapter class; third-party providers register through the ``vidgate.providers`` entry point."""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points

from ._base import Provider

# name -> "module:Class", imported on first use so ``import vidgate`` stays fast.
REGISTRY: dict[str, str] = {
    "azure": "vidgate.providers.azure:AzureProvider",
    "fal": "vidgate.providers.fal:FalProvider",
    "gemini": "vidgate.providers.gemini:GeminiProvider",
    "local": "vidgate.providers.local:LocalProvider",
    "openai": "vidgate.providers.openai:OpenAIProvider",
    "replicate": "vidgate.providers.replicate:ReplicateProvider",
    "runway": "vidgate.providers.runway:RunwayProvider",
    "vertex": "vidgate.providers.vertex:VertexProvider",
    "xai": "vidgate.providers.xai:XAIProvider",
}

_loaded: dict[str, type[Provider]] = {}


def names() -> list[str]:
    """Every registered provider name, built-in and from entry points."""
    return sorted({*REGISTRY, *(ep.name for ep in entry_points(group="vidgate.providers"))})


def get(name: str) -> type[Provider] | None:
    """The adapter class for ``name``, or ``None`` if no provider has that name."""
    if name in _loaded:
        return _loaded[name]
    target = REGISTRY.get(name)
    cls: type[Provider]
    if target is not None:
        module, _, attr = target.partition(":")
        cls = getattr(import_module(module), attr)
    else:
        found = [ep for ep in entry_points(group="vidgate.providers") if ep.name == name]
        if not found:
            return None
        cls = found[0].load()
    _loaded[name] = cls
    return cls


__all__ = ["REGISTRY", "Provider", "get", "names"]
