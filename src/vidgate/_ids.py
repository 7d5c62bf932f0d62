"""Model ids (``provider/model``) and SDK-side video ids, each parsed in this one place.

Without a gateway there is no database, so a video id must carry its own route: ids from the
``openai`` provider pass through unchanged (``video_68d7…``), and ids from any other provider
are ``video_<provider>.<base64url(model NUL upstream_id [NUL size NUL seconds])>``, which later
calls decode to reach the same provider and model (size and seconds ride along because most
providers' status responses do not repeat them).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from . import providers
from ._exceptions import BadRequestError

DEFAULT_PROVIDER = "openai"
_ENCODED = re.compile(r"^video_([a-z0-9_-]+)\.([A-Za-z0-9_-]+)$")
_RAW = re.compile(r"^[A-Za-z0-9_\-:]{1,200}$")


@dataclass(frozen=True)
class ModelRef:
    provider: str
    model: str

    @property
    def public(self) -> str:
        """The id callers use: bare for ``openai``, else ``provider/model``."""
        return self.model if self.provider == DEFAULT_PROVIDER else f"{self.provider}/{self.model}"


@dataclass(frozen=True)
class VideoRef:
    provider: str
    model: str
    upstream_id: str
    size: str = ""
    seconds: str = ""
    # False when the video was made without sound where that changes its price.
    audio: bool | None = None


def parse_model(model: str) -> ModelRef:
    """``runway/gen4_turbo`` → (runway, gen4_turbo); a bare name (``sora-2``) is ``openai``.

    Raises:
        BadRequestError: empty, or the prefix names no provider.
    """
    if not isinstance(model, str) or not model.strip():
        raise BadRequestError(
            "'model' must be a non-empty string.", param="model", code="invalid_value"
        )
    prefix, sep, rest = model.partition("/")
    if not sep:
        return ModelRef(DEFAULT_PROVIDER, model)
    if providers.get(prefix) is None:
        raise BadRequestError(
            f"Unknown provider '{prefix}' in model '{model}'. Known providers: "
            f"{', '.join(providers.names())}. Use 'provider/model', or a bare OpenAI model name.",
            param="model",
            code="model_not_found",
        )
    if not rest:
        raise BadRequestError(
            f"Model '{model}' names no model after '{prefix}/'.",
            param="model",
            code="invalid_value",
        )
    return ModelRef(prefix, rest)


def encode_video_id(
    provider: str,
    model: str,
    upstream_id: str,
    *,
    size: str = "",
    seconds: str = "",
    audio: bool | None = None,
) -> str:
    if provider == DEFAULT_PROVIDER:
        return upstream_id
    fields = [model, upstream_id, size, seconds] if size or seconds else [model, upstream_id]
    if audio is False:
        fields = [model, upstream_id, size, seconds, "silent"]
    payload = "\0".join(fields).encode()
    return f"video_{provider}.{base64.urlsafe_b64encode(payload).decode().rstrip('=')}"


def decode_video_id(video_id: str) -> VideoRef:
    """The provider, model and upstream id behind an SDK video id.

    Raises:
        BadRequestError: the id is malformed or names an unknown provider.
    """
    if not isinstance(video_id, str) or not video_id:
        raise BadRequestError(
            "'video_id' must be a non-empty string.", param="video_id", code="invalid_value"
        )
    match = _ENCODED.match(video_id)
    if match is None:
        if "." in video_id or not _RAW.match(video_id):
            raise _malformed(video_id)
        return VideoRef(DEFAULT_PROVIDER, "", video_id)
    provider, blob = match.groups()
    try:
        raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _malformed(video_id) from None
    fields = raw.split("\0")
    if len(fields) not in (2, 4, 5) or not all(fields[:2]) or providers.get(provider) is None:
        raise _malformed(video_id)
    if len(fields) == 5 and fields[4] != "silent":
        raise _malformed(video_id)
    size, seconds = fields[2:4] if len(fields) >= 4 else ("", "")
    return VideoRef(
        provider, fields[0], fields[1], size, seconds, False if len(fields) == 5 else None
    )


def _malformed(video_id: str) -> BadRequestError:
    shown = video_id if len(video_id) <= 80 else video_id[:77] + "..."
    return BadRequestError(
        f"Malformed video id '{shown}': expected an id returned by vidgate or by the server.",
        param="video_id",
        code="invalid_video_id",
    )
