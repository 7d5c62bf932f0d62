"""The built-in ``local`` engine as a provider: model ``local/preview``.

It speaks the OpenAI Videos API to the engine's in-process server (``vidgate.local``, mounted
by the engine at :data:`LOCAL_BASE`) instead of the network, so it runs through exactly the
same engine, retries, ids and costs as a remote provider, needs no key, and doubles as the
end-to-end test double. Its capabilities belong to the engine (``local/capabilities.py``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from .._models import Request
from ..local.capabilities import LOCAL_BASE, PREVIEW
from ..types.capabilities import ModelCapabilities
from ..types.params import CreateParams
from .openai import OpenAIProvider

__all__ = ["LOCAL_BASE", "PREVIEW", "LocalProvider"]


class LocalProvider(OpenAIProvider):
    """Renders real H.264 MP4s offline with PyAV; jobs and files live under ``VIDGATE_HOME``."""

    name: ClassVar[str] = "local"
    label: ClassVar[str] = "local"
    env_api_key: ClassVar[tuple[str, ...]] = ()
    env_api_base: ClassVar[tuple[str, ...]] = ()
    default_api_base = LOCAL_BASE
    poll_interval = 0.25
    models: ClassVar[dict[str, ModelCapabilities]] = {"preview": PREVIEW}
    default_capabilities: ClassVar[ModelCapabilities | None] = None
    send_images_inline = True

    # With an ``api_base`` the engine is a server elsewhere (a vidgate gateway serving
    # ``local/preview``), reached over the network like any OpenAI-compatible server.
    @property
    def api_base(self) -> str:
        base = self.credentials.api_base
        return base.rstrip("/") if base else LOCAL_BASE

    def build_create(self, params: CreateParams) -> Request:
        if self.credentials.api_base is None:
            return super().build_create(params)
        # A gateway knows the model by its public name.
        return super().build_create(replace(params, model=f"{self.name}/{params.model}"))
