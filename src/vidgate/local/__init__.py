"""The built-in offline engine: renders real MP4s with PyAV, served in process.

:func:`transport` is what an engine mounts at :data:`LOCAL_BASE` (see ``vidgate._engine``):
built from :class:`LocalSettings` (where jobs live, renders at once), by the gateway from its
config and by the SDK from the environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .capabilities import LOCAL_BASE, PREVIEW
from .store import LocalSettings

if TYPE_CHECKING:
    from .._transport import Transport

__all__ = ["LOCAL_BASE", "PREVIEW", "LocalSettings", "transport"]


def transport(settings: LocalSettings | None = None) -> Transport:
    """The engine as a transport (``None``: settings from the environment, at each request)."""
    from .._transport import HttpxTransport
    from .server import LocalTransport

    return HttpxTransport(LocalTransport(settings))
