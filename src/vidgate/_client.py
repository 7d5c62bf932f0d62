"""``AsyncVideoClient``: the SDK's one code path (``VideoClient`` is its sync facade).

The core calls live in :class:`BaseVideoClient` (``_client_core``); this adds what is built
on them: ``with_options``, ``wait``, ``create_and_poll`` and ``download_to_file``.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from ._client_core import BaseVideoClient
from ._exceptions import APITimeoutError, VideoGenerationFailed
from ._poll import next_poll_interval, sleep_before_next_poll
from ._validation import InputReference
from .types.video import Video, VideoContentVariant

ProgressCallback = Callable[[Video], Awaitable[None] | None]


class AsyncVideoClient(BaseVideoClient):
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

    def with_options(
        self,
        *,
        api_key: str | None = None,
        api_base: str | None = None,
        organization: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> AsyncVideoClient:
        """A client with these defaults changed, sharing this one's connections.

        Example:
            >>> fast = client.with_options(timeout=10, max_retries=0)  # doctest: +SKIP
        """
        other = AsyncVideoClient(engine=self._engine, clock=self._clock)
        other._defaults = self._defaults.with_changes(
            api_key=api_key,
            api_base=api_base,
            organization=organization,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
        )
        return other

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
        opts = self._options(api_key, api_base, organization, timeout, max_retries, extra_headers)
        end = None if deadline is None else self._clock() + deadline
        while True:
            video, headers, cadence = await self._retrieve(video_id, opts)
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
