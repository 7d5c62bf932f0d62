"""``AsyncVideoClient`` and its sync twin ``VideoClient``: the SDK's one code path.

A client holds defaults (credentials, endpoint, timeout, retries); every call may override
them. The model id picks the provider (``provider/model``); a video id routes later calls back
to the provider that made it (see ``_ids``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from . import _ids, _ledger, _prepare, _pricing, _sync, providers
from ._engine import Engine
from ._exceptions import (
    APIError,
    APITimeoutError,
    BadRequestError,
    NotFoundError,
    VideoGenerationFailed,
)
from ._poll import next_poll_interval, sleep_before_next_poll
from ._validation import (
    InputReference,
    check_prompt,
)
from .providers._base import ContentSource, Order, Provider
from .types.content import VideoContent
from .types.video import CONTENT_TYPES, Usage, Video, VideoContentVariant, VideoDeleted, VideoList

P = ParamSpec("P")
T = TypeVar("T")

ProgressCallback = Callable[[Video], Awaitable[None] | None]
_VARIANTS = ("video", "thumbnail", "spritesheet")


class AsyncVideoClient:
    """Async client for every provider vidgate speaks.

    Args:
        api_key: key for the provider (else the provider's environment variable).
        api_base: endpoint override (else the provider's environment variable or default).
        organization: sent as ``OpenAI-Organization`` to OpenAI-compatible servers.
        timeout: seconds per request (default 600, connect 5).
        max_retries: retries for failed requests (default 2).
        default_headers: headers added to every request.

    Example:
        >>> client = AsyncVideoClient()
        >>> video = await client.create_and_poll("a fox", model="local/preview")  # doctest: +SKIP
    """

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
        self.api_key = api_key
        self.api_base = api_base
        self.organization = organization
        self.default_headers = dict(default_headers or {})
        self._engine = engine or Engine(timeout=timeout, max_retries=max_retries)
        self._clock = clock

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
        ref = _ids.parse_model(model)
        provider = self._provider(ref.provider, api_key, api_base, organization, extra_headers)
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
        video = await self._engine.run(
            provider, provider.create(params), timeout=timeout, max_retries=max_retries
        )
        audio = provider.audio(params.extra_body)
        return self._noted(provider, self._public(video, ref.provider, ref.model, audio=audio))

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
            video_id, extra_headers, api_key, api_base, timeout, max_retries, organization
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
        if variant not in _VARIANTS:
            raise BadRequestError(
                f"Invalid value for 'variant': {variant!r}. Supported values are video, "
                "thumbnail and spritesheet.",
                param="variant",
                code="invalid_value",
            )
        vref = _ids.decode_video_id(video_id)
        provider = self._provider(vref.provider, api_key, api_base, organization, extra_headers)
        with _public_ids(vref.upstream_id, video_id):
            source = await self._engine.run(
                provider,
                provider.content(vref.upstream_id, model=vref.model, variant=variant),
                timeout=timeout,
                max_retries=max_retries,
            )
        if source.derive is not None:
            return await self._derived_variant(provider, source, timeout, max_retries)
        if source.data is not None:
            return _inline_content(source.data, source.content_type or "video/mp4")
        assert source.request is not None, "a ContentSource holds a request or data"
        with _public_ids(vref.upstream_id, video_id):
            opened = await self._engine.open(
                provider, source.request, timeout=timeout, max_retries=max_retries
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
        vref = _ids.decode_video_id(video_id)
        provider = self._provider(vref.provider, api_key, api_base, organization, extra_headers)
        with _public_ids(vref.upstream_id, video_id):
            deleted = await self._engine.run(
                provider,
                provider.delete(vref.upstream_id, model=vref.model),
                timeout=timeout,
                max_retries=max_retries,
            )
        if not _lists_natively(provider):
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
        adapter = self._provider(name, api_key, api_base, organization, extra_headers)
        if not _lists_natively(adapter):
            return await self._list_noted(
                name,
                limit=limit,
                after=after,
                order=order,
                extra_headers=extra_headers,
                api_key=api_key,
                api_base=api_base,
                timeout=timeout,
                max_retries=max_retries,
                organization=organization,
            )
        upstream_after = _ids.decode_video_id(after).upstream_id if after else None
        page = await self._engine.run(
            adapter,
            adapter.list(limit=limit, after=upstream_after, order=order),
            timeout=timeout,
            max_retries=max_retries,
        )
        data = [self._public(v, name, _model_of(v, name)) for v in page.data]
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
        vref = _ids.decode_video_id(video_id)
        provider = self._provider(vref.provider, api_key, api_base, organization, extra_headers)
        if vref.model:
            caps = provider.capabilities(vref.model)
            if not caps.remix:
                raise BadRequestError(
                    f"{vref.provider}/{vref.model} cannot remix videos.",
                    param="video_id",
                    code="unsupported_operation",
                )
            check_prompt(prompt, caps)
        else:
            check_prompt(prompt)
        with _public_ids(vref.upstream_id, video_id):
            video = await self._engine.run(
                provider,
                provider.remix(vref.upstream_id, model=vref.model, prompt=prompt),
                timeout=timeout,
                max_retries=max_retries,
            )
        return self._noted(provider, self._public(video, vref.provider, vref.model or video.model))

    async def wait(
        self,
        video_id: str,
        *,
        deadline: float | None = None,
        poll_interval: float | None = None,
        on_progress: ProgressCallback | None = None,
        extra_headers: Mapping[str, str] | None = None,
        api_key: str | None = None,
        api_base: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        organization: str | None = None,
    ) -> Video:
        """Poll until the job is ``completed`` and return it.

        Args:
            deadline: seconds to wait in all; past it ``APITimeoutError`` is raised.
            poll_interval: seconds between polls; by default the server's
                ``openai-poll-after-ms`` hint, else the provider's usual cadence.
            on_progress: called with the video after every poll (may be async).

        Raises:
            VideoGenerationFailed: the job ended ``failed``; the provider's reason is on it.
            APITimeoutError: the deadline passed first.
        """
        end = None if deadline is None else self._clock() + deadline
        while True:
            video, headers, cadence = await self._retrieve(
                video_id, extra_headers, api_key, api_base, timeout, max_retries, organization
            )
            if on_progress is not None:
                maybe = on_progress(video)
                if inspect.isawaitable(maybe):
                    await maybe
            if video.status == "completed":
                return video
            if video.status == "failed":
                raise VideoGenerationFailed(video)
            interval = next_poll_interval(headers, requested=poll_interval, default=cadence)
            pause = sleep_before_next_poll(interval, now=self._clock(), deadline=end)
            if pause is None:
                raise APITimeoutError(
                    f"Video {video_id} is still {video.status} ({video.progress}%) after "
                    f"{deadline} s."
                )
            await self._engine.sleep(pause)

    async def create_and_poll(
        self,
        prompt: str,
        *,
        model: str = "sora-2",
        seconds: str | int | None = None,
        size: str | None = None,
        input_reference: InputReference | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        deadline: float | None = None,
        poll_interval: float | None = None,
        on_progress: ProgressCallback | None = None,
        api_key: str | None = None,
        api_base: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        organization: str | None = None,
    ) -> Video:
        """``create`` then ``wait``: returns the completed video or raises."""
        video = await self.create(
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
        if on_progress is not None:
            maybe = on_progress(video)
            if inspect.isawaitable(maybe):
                await maybe
        return await self.wait(
            video.id,
            deadline=deadline,
            poll_interval=poll_interval,
            on_progress=on_progress,
            extra_headers=extra_headers,
            api_key=api_key,
            api_base=api_base,
            timeout=timeout,
            max_retries=max_retries,
            organization=organization,
        )

    async def download_to_file(
        self,
        video_id: str,
        path: str | os.PathLike[str],
        *,
        variant: VideoContentVariant = "video",
        extra_headers: Mapping[str, str] | None = None,
        api_key: str | None = None,
        api_base: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        organization: str | None = None,
    ) -> Path:
        """Stream a variant to ``path`` (written to a temporary name, then renamed)."""
        target = Path(path)
        content = await self.download_content(
            video_id,
            variant=variant,
            stream=True,
            extra_headers=extra_headers,
            api_key=api_key,
            api_base=api_base,
            timeout=timeout,
            max_retries=max_retries,
            organization=organization,
        )
        partial = target.with_name(target.name + ".part")
        try:
            await content.awrite_to_file(partial)
            os.replace(partial, target)
        finally:
            await content.aclose()
            partial.unlink(missing_ok=True)
        return target

    async def aclose(self) -> None:
        """Close the connections this client opened on the running loop."""
        await self._engine.aclose()

    async def __aenter__(self) -> AsyncVideoClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- internals ---------------------------------------------------------------------------

    def _provider(
        self,
        name: str,
        api_key: str | None,
        api_base: str | None,
        organization: str | None,
        extra_headers: Mapping[str, str] | None,
    ) -> Provider:
        cls = providers.get(name)
        if cls is None:  # ids and model names are checked earlier; this is a safety net
            raise BadRequestError(f"Unknown provider '{name}'.", param="model")
        return cls(
            _prepare.resolve_credentials(
                cls,
                api_key=api_key or self.api_key,
                api_base=api_base or self.api_base,
                organization=organization or self.organization,
                extra_headers={**self.default_headers, **(extra_headers or {})},
            )
        )

    async def _retrieve(
        self,
        video_id: str,
        extra_headers: Mapping[str, str] | None,
        api_key: str | None,
        api_base: str | None,
        timeout: float | None,
        max_retries: int | None,
        organization: str | None,
    ) -> tuple[Video, Mapping[str, str], float]:
        """The video, the last response's headers (poll hints) and the provider's cadence."""
        vref = _ids.decode_video_id(video_id)
        provider = self._provider(vref.provider, api_key, api_base, organization, extra_headers)
        flow = provider.retrieve(vref.upstream_id, model=vref.model)
        with _public_ids(vref.upstream_id, video_id):
            video, headers = await self._engine.run_with_headers(
                provider, flow, timeout=timeout, max_retries=max_retries
            )
        known = {"size": video.size or vref.size, "seconds": video.seconds or vref.seconds}
        return (
            self._public(
                video.model_copy(update=known),
                vref.provider,
                vref.model or video.model,
                audio=vref.audio,
            ),
            headers,
            provider.poll_interval,
        )

    @staticmethod
    def _noted(provider: Provider, video: Video) -> Video:
        """Note a new video where its provider cannot list it (see ``_ledger``)."""
        if not _lists_natively(provider):
            _ledger.note(video.id, provider.name, video.created_at)
        return video

    async def _list_noted(
        self,
        provider: str,
        *,
        limit: int | None,
        after: str | None,
        order: Order | None,
        **options: Any,
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
                return await self.retrieve(video_id, **options)
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
        self,
        provider: Provider,
        source: ContentSource,
        timeout: float | None,
        max_retries: int | None,
    ) -> VideoContent:
        """A thumbnail or spritesheet the provider does not make: fetch the video to a
        temporary directory (streamed) and make the image locally with PyAV."""
        from .local.render import make_variants

        with tempfile.TemporaryDirectory(prefix="vidgate-") as tmp:
            video_path = Path(tmp) / "video.mp4"
            if source.data is not None:
                video_path.write_bytes(source.data)
            else:
                assert source.request is not None, "a ContentSource holds a request or data"
                opened = await self._engine.open(
                    provider, source.request, timeout=timeout, max_retries=max_retries
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
        return _inline_content(data, CONTENT_TYPES[variant])

    def _public(
        self, video: Video, provider: str, model: str, *, audio: bool | None = None
    ) -> Video:
        """The video as callers see it: a routable id, the public model id, and usage
        (``audio=False`` prices a silent video where sound changes the price)."""
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
                cost_usd=_pricing.cost_usd(
                    provider, ref.model, video.size, video.seconds, audio=audio
                ),
            )
        return video.model_copy(update=update)


@contextlib.contextmanager
def _public_ids(upstream_id: str, public_id: str) -> Iterator[None]:
    """Errors name the id the caller used, not the provider's native one inside it."""
    try:
        yield
    except APIError as exc:
        if upstream_id != public_id and upstream_id in exc.message:
            exc.message = exc.message.replace(upstream_id, public_id)
            exc.args = (exc.message,)
        raise


def _lists_natively(provider: Provider) -> bool:
    """Whether the adapter implements ``list`` (else the base class refuses it)."""
    return type(provider).list is not Provider.list


def _inline_content(data: bytes, content_type: str) -> VideoContent:
    headers = {"content-type": content_type, "content-length": str(len(data))}
    return VideoContent(content_type=content_type, headers=headers, content=data)


def _model_of(video: Video, provider: str) -> str:
    prefix = f"{provider}/"
    return video.model.removeprefix(prefix) if provider != _ids.DEFAULT_PROVIDER else video.model


def _env(names: tuple[str, ...]) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def _sync_method(
    fn: Callable[Concatenate[AsyncVideoClient, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[VideoClient, P], T]:
    """A ``VideoClient`` method that runs the ``AsyncVideoClient`` one on the shared loop."""

    def method(self: VideoClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return _sync.run(fn(self._async, *args, **kwargs))

    method.__name__ = fn.__name__
    method.__qualname__ = f"VideoClient.{fn.__name__}"
    method.__doc__ = fn.__doc__
    method.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    return method


class VideoClient:
    """Sync twin of :class:`AsyncVideoClient`: the same methods and parameters, blocking.

    Example:
        >>> with VideoClient() as client:                                  # doctest: +SKIP
        ...     video = client.create_and_poll("a red fox", model="local/preview")
        ...     client.download_to_file(video.id, "fox.mp4")
    """

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
        self._async = AsyncVideoClient(
            api_key=api_key,
            api_base=api_base,
            organization=organization,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            engine=engine,
            clock=clock,
        )

    create = _sync_method(AsyncVideoClient.create)
    retrieve = _sync_method(AsyncVideoClient.retrieve)
    download_content = _sync_method(AsyncVideoClient.download_content)
    delete = _sync_method(AsyncVideoClient.delete)
    list = _sync_method(AsyncVideoClient.list)
    remix = _sync_method(AsyncVideoClient.remix)
    wait = _sync_method(AsyncVideoClient.wait)
    create_and_poll = _sync_method(AsyncVideoClient.create_and_poll)
    download_to_file = _sync_method(AsyncVideoClient.download_to_file)

    def close(self) -> None:
        _sync.run(self._async.aclose())

    def __enter__(self) -> VideoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
