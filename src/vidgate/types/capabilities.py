"""What a model can do, declared per model so invalid input is refused before any upstream call."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

OPENAI_SIZES: tuple[str, ...] = ("720x1280", "1280x720", "1024x1792", "1792x1024")
HD_SIZES: tuple[str, ...] = ("1080x1920", "1920x1080")


class ModelCapabilities(BaseModel):
    """The values a model accepts.

    ``seconds`` and ``sizes`` list the accepted values in OpenAI form; ``None`` means the model
    is not known to vidgate (an arbitrary OpenAI-compatible server), so any well-formed value is
    passed through and the server decides. Every flag is read where a request is checked or
    routed; what a whole provider can do (list, delete) is what its adapter implements, so it
    is not declared per model.
    """

    model_config = ConfigDict(frozen=True)

    seconds: tuple[str, ...] | None = None
    sizes: tuple[str, ...] | None = None
    image_input: bool = True
    remix: bool = False
    idempotency: bool = False
    max_prompt_chars: int = 32_000
    default_seconds: str = "4"
    default_size: str = "720x1280"


def seconds_range(low: int, high: int) -> tuple[str, ...]:
    """Every whole second from ``low`` to ``high`` inclusive, as OpenAI-style strings."""
    return tuple(str(s) for s in range(low, high + 1))
