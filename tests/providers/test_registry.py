"""Every adapter file in ``providers/`` is registered, and every registered provider loads and
declares what it needs (../shared/STYLE.md habit 3)."""

from __future__ import annotations

import re
from pathlib import Path

import vidgate.providers as registry
from vidgate.providers import Provider
from vidgate.types.capabilities import ModelCapabilities

PROVIDERS_DIR = Path(registry.__file__).parent


def test_every_adapter_file_is_registered() -> None:
    files = {p.stem for p in PROVIDERS_DIR.glob("*.py") if not p.stem.startswith("_")}
    registered = {target.split(":")[0].rsplit(".", 1)[1] for target in registry.REGISTRY.values()}
    assert files == registered


def test_every_provider_loads_with_a_name_and_models() -> None:
    for name in registry.names():
        cls = registry.get(name)
        assert cls is not None and issubclass(cls, Provider)
        assert cls.name == name
        assert cls.models, f"{name} declares no models"
        for model, caps in cls.models.items():
            assert isinstance(caps, ModelCapabilities), f"{name}/{model}"
            # The defaults the CLI and the client use must be values the model accepts.
            if caps.seconds is not None:
                assert caps.default_seconds in caps.seconds, f"{name}/{model}"
            if caps.sizes is not None:
                assert caps.default_size in caps.sizes, f"{name}/{model}"


def test_unknown_provider_is_none() -> None:
    assert registry.get("no-such-provider") is None


def test_every_capability_flag_is_read() -> None:
    """A flag declared per model but read nowhere is a promise nothing keeps (issue 9): each
    field of ModelCapabilities is read from a capabilities object somewhere in the package."""
    package = PROVIDERS_DIR.parent
    source = "\n".join(
        p.read_text(encoding="utf-8") for p in package.rglob("*.py") if p.name != "capabilities.py"
    )
    for field in ModelCapabilities.model_fields:
        reader = re.compile(rf"\b(caps|capabilities\([^)]*\)|PREVIEW)\.{field}\b")
        assert reader.search(source), f"ModelCapabilities.{field} is declared but never read"
