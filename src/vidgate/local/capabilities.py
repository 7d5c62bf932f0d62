"""What the built-in ``local`` engine (model ``local/preview``) accepts: owned here, by the
engine, and read by its provider adapter (``providers/local.py``)."""

from __future__ import annotations

from ..types.capabilities import HD_SIZES, OPENAI_SIZES, ModelCapabilities, seconds_range

# Where the engine lives: requests to this base are served in process (see ``vidgate._engine``).
LOCAL_BASE = "http://local.vidgate.invalid/v1"

PREVIEW = ModelCapabilities(
    seconds=seconds_range(1, 20),
    sizes=OPENAI_SIZES + HD_SIZES,
    image_input=True,
    remix=True,
    idempotency=True,
)
