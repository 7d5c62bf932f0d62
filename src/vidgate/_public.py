"""How the SDK shows a provider's video to its caller: a routable id (provider, model and
upstream id in one, see ``_ids``), the public model name, and usage from the price table."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from . import _ids, _pricing, providers
from ._exceptions import APIError
from .providers import Provider
from .types.content import VideoContent
from .types.video import Usage, Video


def public_video(video: Video, provider: str, model: str, *, audio: bool | None = None) -> Video:
    """The video as callers see it (``audio=False`` prices a silent video where sound
    changes the price)."""
    ref = _ids.ModelRef(provider, model or video.model)
    cls = providers.get(provider)
    echoes = cls is not None and cls.echoes_shape
    shape: dict[str, Any] = {} if echoes else {"size": video.size, "seconds": video.seconds}
    if audio is False:
        shape = {"size": video.size, "seconds": video.seconds, "audio": False}
    update: dict[str, Any] = {
        "id": _ids.encode_video_id(provider, ref.model, video.id, **shape),
        "model": ref.public,
    }
    if video.remixed_from_video_id:
        update["remixed_from_video_id"] = _ids.encode_video_id(
            provider, ref.model, video.remixed_from_video_id, **shape
        )
    if video.usage is None and video.seconds:
        try:
            seconds = float(video.seconds)
        except ValueError:
            seconds = 0.0
        update["usage"] = Usage(
            seconds=seconds,
            cost_usd=_pricing.cost_usd(provider, ref.model, video.size, video.seconds, audio=audio),
        )
    return video.model_copy(update=update)


@contextlib.contextmanager
def public_ids(upstream_id: str, public_id: str) -> Iterator[None]:
    """Errors name the id the caller used, not the provider's native one inside it."""
    try:
        yield
    except APIError as exc:
        if upstream_id != public_id and upstream_id in exc.message:
            exc.message = exc.message.replace(upstream_id, public_id)
            exc.args = (exc.message,)
        raise


def lists_natively(provider: Provider) -> bool:
    """Whether the adapter implements ``list`` (else the base class refuses it)."""
    return type(provider).list is not Provider.list


def model_of(video: Video, provider: str) -> str:
    """The provider-side model name of a listed video."""
    prefix = f"{provider}/"
    return video.model.removeprefix(prefix) if provider != _ids.DEFAULT_PROVIDER else video.model


def inline_content(data: bytes, content_type: str) -> VideoContent:
    headers = {"content-type": content_type, "content-length": str(len(data))}
    return VideoContent(content_type=content_type, headers=headers, content=data)
