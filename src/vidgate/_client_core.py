"""The SDK's core calls, each one request flow through the engine: create, retrieve,
download_content, delete, list and remix. :class:`AsyncVideoClient` (``_client``) adds the
conveniences built on them; ``VideoClient`` is the sync facade over that.

A client holds default :class:`RequestOptions` (credentials, endpoint, timeout, retries,
headers); every call may override them. The model id picks the provider (``provider/model``);
a video id routes later calls back to the provider that made it (see ``_ids``).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from . import _ids, _ledger, _prepare, providers
from ._engine import Engine
from ._exceptions import (
    BadRequestError,
    NotFoundError,
)
from ._models import ContentSource, Flow, Order
from ._options import RequestOptions, call_options
from ._public import inline_content, lists_natively, model_of, public_ids, public_video
from ._validation import InputReference
from .providers import Provider
from .types.content import VideoContent
from .types.video import (
    CONTENT_TYPES,
    VARIANTS,
    Video,
    VideoContentVariant,
    VideoDeleted,
    VideoList,
)

T = TypeVar("T")


class BaseVideoClient:
    """The core calls of :class:`AsyncVideoClient` (see there for the arguments)."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        api_base: str | None = None,
        organization: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        default_headers: Mapping[str, str] | None = None,
        engine: Engine | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._defaults = call_options(
            api_key, api_base, organization, timeout, max_retries, default_headers
        )
        self._engine = engine or Engine()
        self._clock = clock

    @property
    def options(self) -> RequestOptions:
        """This client's default options."""
        return self._defaults

    def _options(
        self,
        api_key: str | None,
        api_base: str | None,
        organization: str | None,
        timeout: float | None,
        max_retries: int | None,
        extra_headers: Mapping[str, str] | None,
    ) -> RequestOptions:
        return call_options(
            api_key, api_base, organization, timeout, max_retries, extra_headers
        ).over(self._defaults)

    # -- public API --------------------------------------------------------------------------

    async def create(
        self,
        prompt: str,
        *,
        model: str = "sora-2",
        seconds: str | int | None = None,
        size: str | None = None,
        input_reference: InputReference | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        api_key: str | None = None,
        api_base: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        organization: str | None = None,
    ) -> Video:
        """Start a video job. Input is checked against the model's capabilities first: a bad
        value raises ``BadRequestError`` (with ``param``) and nothing is sent."""
        opts = self._options(api_key, api_base, organization, timeout, max_retries, extra_headers)
        ref = _ids.parse_model(model)
        provider = self._provider(ref.provider, opts)
        params = _prepare.create_params(
            provider,
            model=model,
            upstream_model=ref.model,
            prompt=prompt,
            seconds=seconds,
            size=size,
            input_reference=input_reference,
            extra_body=extra_body,
            idempotency_key=_header(extra_headers, "idempotency-key"),
            local_caller=True,
        )
        video = await self._run(provider, provider.create(params), opts)
        audio = provider.audio(params.extra_body)
        return _noted(provider, public_video(video, ref.provider, ref.model, audio=audio))

    async def retrieve(
        self,
        video_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        api_key: str | None = None,
        api_base: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        organization: str | None = None,
    ) -> Video:
        """The job's current state."""
        video, _, _ = await self._retrieve(
            video_id,
            self._options(api_key, api_base, organization, timeout, max_retries, extra_headers),
        )
        return video

    async def download_content(
        self,
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
        """The video (MP4), its thumbnail (WebP) or spritesheet (JPEG). Read whole by default;
        with ``stream=True`` the body is passed through in chunks as you iterate it."""
        if variant not in VARIANTS:
            raise BadRequestError(
                f"Invalid value for 'variant': {variant!r}. Supported values are video, "
                "thumbnail and spritesheet.",
                param="variant",
                code="invalid_value",
            )
        opts = self._options(api_key, api_base, organization, timeout, max_retries, extra_headers)
        vref = _ids.decode_video_id(video_id)
        provider = self._provider(vref.provider, opts)
        with public_ids(vref.upstream_id, video_id):
            source = await self._run(
                provider,
                provider.content(vref.upstream_id, model=vref.model, variant=variant),
                opts,
            )
        if source.derive is not None:
            return await self._derived_variant(provider, source, opts)
        if source.data is not None:
            return inline_content(source.data, source.content_type or "video/mp4")
        assert source.request is not None, "a ContentSource holds a request or data"
        with public_ids(vref.upstream_id, video_id):
            opened = await self._engine.open(
                provider, source.request, timeout=opts.timeout, max_retries=opts.max_retries
            )
        headers = {k.lower(): v for k, v in opened.headers.items()}
        content = VideoContent(
            content_type=headers.get("content-type", source.content_type),
            headers=headers,
            stream=opened.chunks,
            aclose=opened.aclose,
        )
        if not stream:
            await content.aread()
        return content

    async def delete(
        self,
        video_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        api_key: str | None = None,
        api_base: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        organization: str | None = None,
    ) -> VideoDeleted:
        """Delete the job and its stored files (cancelling it first if it is still running)."""
        opts = self._options(api_key, api_base, organization, timeout, max_retries, extra_headers)
        vref = _ids.decode_video_id(video_id)
        provider = self._provider(vref.provider, opts)
        with public_ids(vref.upstream_id, video_id):
            deleted = await self._run(
                provider, provider.delete(vref.upstream_id, model=vref.model), opts
            )
        if not lists_natively(provider):
            _ledger.forget(video_id)
        return deleted.model_copy(update={"id": video_id})

    async def list(
        self,
        *,
        limit: int | None = None,
        after: str | None = None,
        order: Order | None = None,
        provider: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        api_key: str | None = None,
        api_base: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        organization: str | None = None,
    ) -> VideoList:
        """One page of videos, newest first by default. ``provider`` picks whose videos
        (default ``openai``, i.e. the server at ``api_base``); pass ``after=page.last_id`` for
        the next page."""
        name = provider or _ids.DEFAULT_PROVIDER
        if providers.get(name) is None:
            raise BadRequestError(
                f"Unknown provider '{name}'.", param="provider", code="invalid_value"
            )
        if limit is not None and not 0 <= limit <= 100:
            raise BadRequestError(
                "'limit' must be between 0 and 100.", param="limit", code="invalid_value"
            )
        if order is not None and order not in ("asc", "desc"):
            raise BadRequestError(
                "'order' must be 'asc' or 'desc'.", param="order", code="invalid_value"
            )
        opts = self._options(api_key, api_base, organization, timeout, max_retries, extra_headers)
        adapter = self._provider(name, opts)
        if not lists_natively(adapter):
            return await self._list_noted(name, limit=limit, after=after, order=order, opts=opts)
        upstream_after = _ids.decode_video_id(after).upstream_id if after else None
        page = await self._run(
            adapter, adapter.list(limit=limit, after=upstream_after, order=order), opts
        )
        data = [public_video(v, name, model_of(v, name)) for v in page.data]
        return page.model_copy(
            update={
                "data": data,
                "first_id": data[0].id if data else None,
                "last_id": data[-1].id if data else None,
            }
        )

    async def remix(
        self,
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
        """A new video from a completed one and a new prompt."""
        opts = self._options(api_key, api_base, organization, timeout, max_retries, extra_headers)
        vref = _ids.decode_video_id(video_id)
        provider = self._provider(vref.provider, opts)
        _prepare.remix_prompt(provider, vref.model, f"{vref.provider}/{vref.model}", prompt)
        with public_ids(vref.upstream_id, video_id):
            video = await self._run(
                provider, provider.remix(vref.upstream_id, model=vref.model, prompt=prompt), opts
            )
        return _noted(provider, public_video(video, vref.provider, vref.model or video.model))

    # -- internals ---------------------------------------------------------------------------

    def _provider(self, name: str, opts: RequestOptions) -> Provider:
        cls = providers.get(name)
        if cls is None:  # ids and model names are checked earlier; this is a safety net
            raise BadRequestError(f"Unknown provider '{name}'.", param="model")
        return cls(
            _prepare.resolve_credentials(
                cls,
                api_key=opts.api_key,
                api_base=opts.api_base,
                organization=opts.organization,
                extra_headers=opts.extra_headers,
            )
        )

    async def _run(self, provider: Provider, flow: Flow[T], opts: RequestOptions) -> T:
        return await self._engine.run(
            provider, flow, timeout=opts.timeout, max_retries=opts.max_retries
        )

    async def _retrieve(
        self, video_id: str, opts: RequestOptions
    ) -> tuple[Video, Mapping[str, str], float]:
        """The video, the last response's headers (poll hints) and the provider's cadence."""
        vref = _ids.decode_video_id(video_id)
        provider = self._provider(vref.provider, opts)
        flow = provider.retrieve(vref.upstream_id, model=vref.model)
        with public_ids(vref.upstream_id, video_id):
            video, headers = await self._engine.run_with_headers(
                provider, flow, timeout=opts.timeout, max_retries=opts.max_retries
            )
        known = {"size": video.size or vref.size, "seconds": video.seconds or vref.seconds}
        return (
            public_video(
                video.model_copy(update=known),
                vref.provider,
                vref.model or video.model,
                audio=vref.audio,
            ),
            headers,
            provider.poll_interval,
        )

    async def _list_noted(
        self,
        provider: str,
        *,
        limit: int | None,
        after: str | None,
        order: Order | None,
        opts: RequestOptions,
    ) -> VideoList:
        """A page of the videos this SDK made on a provider that cannot list them (see
        ``_ledger``), each retrieved from the provider; ones it no longer knows are dropped."""
        noted = _ledger.entries(provider)
        if order != "asc":
            noted.reverse()
        ids = [e.id for e in noted]
        if after:
            if after not in ids:
                raise BadRequestError(
                    f"No video '{after}' in this list.", param="after", code="invalid_value"
                )
            ids = ids[ids.index(after) + 1 :]
        size = 20 if limit is None else limit
        page_ids, rest = ids[:size], ids[size:]

        async def fetch(video_id: str) -> Video | None:
            try:
                video, _, _ = await self._retrieve(video_id, opts)
                return video
            except NotFoundError:
                _ledger.forget(video_id)  # gone at the provider (expired or deleted)
                return None

        found = await asyncio.gather(*(fetch(i) for i in page_ids))
        data = [v for v in found if v is not None]
        return VideoList(
            data=data,
            first_id=data[0].id if data else None,
            last_id=data[-1].id if data else None,
            has_more=bool(rest),
        )

    async def _derived_variant(
        self, provider: Provider, source: ContentSource, opts: RequestOptions
    ) -> VideoContent:
        """A thumbnail or spritesheet the provider does not make: fetch the video to a
        temporary directory (streamed) and make the image locally with PyAV."""
        from ._media import make_variants

        with tempfile.TemporaryDirectory(prefix="vidgate-") as tmp:
            video_path = Path(tmp) / "video.mp4"
            if source.data is not None:
                video_path.write_bytes(source.data)
            else:
                assert source.request is not None, "a ContentSource holds a request or data"
                opened = await self._engine.open(
                    provider, source.request, timeout=opts.timeout, max_retries=opts.max_retries
                )
                try:
                    with video_path.open("wb") as f:
                        async for chunk in opened.chunks:
                            f.write(chunk)
                finally:
                    await opened.aclose()
            thumbnail, spritesheet = await asyncio.to_thread(make_variants, video_path, Path(tmp))
            variant = "thumbnail" if source.derive == "thumbnail" else "spritesheet"
            data = (thumbnail if variant == "thumbnail" else spritesheet).read_bytes()
        return inline_content(data, CONTENT_TYPES[variant])


def _noted(provider: Provider, video: Video) -> Video:
    """Note a new video where its provider cannot list it (see ``_ledger``)."""
    if not lists_natively(provider):
        _ledger.note(video.id, provider.name, video.created_at)
    return video


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None
