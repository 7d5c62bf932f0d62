"""The seed's module-level API, word for word (``seed/video-generation.md``): async
``acreate_video`` … ``avideo_remix`` and their sync twins ``create_video`` … ``video_remix``.

Each call goes through one shared :class:`AsyncVideoClient`, with the call's own credentials,
endpoint, timeout and retries applied on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._client import AsyncVideoClient
from ._models import Order
from ._prepare import SEED_SECONDS, SEED_SIZE
from ._sync import syncify
from ._validation import InputReference
from .types.content import VideoContent
from .types.video import Video, VideoContentVariant, VideoDeleted, VideoList

_default: AsyncVideoClient | None = None


def _client() -> AsyncVideoClient:
    global _default
    if _default is None:
        _default = AsyncVideoClient()
    return _default


async def acreate_video(
    prompt: str,
    *,
    model: str = "sora-2",
    seconds: str | int = SEED_SECONDS,
    size: str = SEED_SIZE,
    input_reference: InputReference | None = None,
    extra_headers: dict[str, str] | None = None,
    extra_body: dict[str, Any] | None = None,
    api_key: str | None = None,
    api_base: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
    organization: str | None = None,
) -> Video:
    """Start generating a video.

    Args:
        prompt: what the video shows (1 to 32,000 characters).
        model: ``provider/model`` (``local/preview``, ``azure/my-sora``) or a bare OpenAI model
            name (``sora-2``, ``sora-2-pro``).
        seconds: duration, as the model accepts (``"4"``, ``"8"``, ``"12"`` for Sora 2).
        size: ``WIDTHxHEIGHT`` in OpenAI form, e.g. ``"720x1280"``.
        input_reference: first-frame image: a ``(filename, bytes, content_type)`` tuple, a
            path, bytes, an open binary file, or an ``https:``/``data:`` URL.
        extra_headers: sent with the request (an ``Idempotency-Key`` makes retries safe).
        extra_body: provider-specific fields (for ``local``: ``{"seed": 7}``).
        api_key, api_base, organization: credentials and endpoint for this call.
        timeout: seconds per request; max_retries: retries on transient failures.

    Returns:
        The new job (usually ``queued``); its ``id`` routes later calls back to the provider.

    Example:
        >>> video = await vidgate.acreate_video("A cat playing with yarn",
        ...                                     model="local/preview")  # doctest: +SKIP
    """
    return await _client().create(
        prompt,
        model=model,
        seconds=seconds,
        size=size,
        input_reference=input_reference,
        extra_headers=extra_headers,
        extra_body=extra_body,
        api_key=api_key,
        api_base=api_base,
        timeout=timeout,
        max_retries=max_retries,
        organization=organization,
    )


async def avideo_retrieve(
    video_id: str,
    *,
    extra_headers: Mapping[str, str] | None = None,
    api_key: str | None = None,
    api_base: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
    organization: str | None = None,
) -> Video:
    """The current state of a video job."""
    return await _client().retrieve(
        video_id,
        extra_headers=extra_headers,
        api_key=api_key,
        api_base=api_base,
        timeout=timeout,
        max_retries=max_retries,
        organization=organization,
    )


async def avideo_content(
    video_id: str,
    *,
    variant: VideoContentVariant = "video",
    stream: bool = False,
    extra_headers: Mapping[str, str] | None = None,
    api_key: str | None = None,
    api_base: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
    organization: str | None = None,
) -> VideoContent:
    """Download a finished video (``variant="thumbnail"`` or ``"spritesheet"`` for images).

    The result's ``.content`` holds the bytes; with ``stream=True`` nothing is buffered and
    ``aiter_bytes()`` / ``awrite_to_file()`` pass the body through in chunks.
    """
    return await _client().download_content(
        video_id,
        variant=variant,
        stream=stream,
        extra_headers=extra_headers,
        api_key=api_key,
        api_base=api_base,
        timeout=timeout,
        max_retries=max_retries,
        organization=organization,
    )


async def avideo_delete(
    video_id: str,
    *,
    extra_headers: Mapping[str, str] | None = None,
    api_key: str | None = None,
    api_base: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
    organization: str | None = None,
) -> VideoDeleted:
    """Delete a video and its stored files."""
    return await _client().delete(
        video_id,
        extra_headers=extra_headers,
        api_key=api_key,
        api_base=api_base,
        timeout=timeout,
        max_retries=max_retries,
        organization=organization,
    )


async def avideo_list(
    limit: int | None = None,
    after: str | None = None,
    *,
    order: Order | None = None,
    provider: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    api_key: str | None = None,
    api_base: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
    organization: str | None = None,
) -> VideoList:
    """One page of videos (``data``, ``first_id``, ``last_id``, ``has_more``)."""
    return await _client().list(
        limit=limit,
        after=after,
        order=order,
        provider=provider,
        extra_headers=extra_headers,
        api_key=api_key,
        api_base=api_base,
        timeout=timeout,
        max_retries=max_retries,
        organization=organization,
    )


async def avideo_remix(
    video_id: str,
    *,
    prompt: str,
    extra_headers: Mapping[str, str] | None = None,
    api_key: str | None = None,
    api_base: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
    organization: str | None = None,
) -> Video:
    """Start a new video from a completed one and a new prompt."""
    return await _client().remix(
        video_id,
        prompt=prompt,
        extra_headers=extra_headers,
        api_key=api_key,
        api_base=api_base,
        timeout=timeout,
        max_retries=max_retries,
        organization=organization,
    )


create_video = syncify(acreate_video, "create_video")
video_retrieve = syncify(avideo_retrieve, "video_retrieve")
video_content = syncify(avideo_content, "video_content")
video_delete = syncify(avideo_delete, "video_delete")
video_list = syncify(avideo_list, "video_list")
video_remix = syncify(avideo_remix, "video_remix")
