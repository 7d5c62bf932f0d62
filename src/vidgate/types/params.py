"""What a create asks for, once checked: :class:`CreateParams` and its :class:`ImageInput`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ImageInput:
    """A reference image: bytes with a name and type, or a URL (``https:`` or ``data:``)."""

    filename: str = "reference"
    data: bytes | None = None
    content_type: str = "application/octet-stream"
    url: str | None = None


@dataclass
class CreateParams:
    """A normalized create request, validated against the model's capabilities."""

    prompt: str
    model: str
    seconds: str
    size: str
    input_reference: ImageInput | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
