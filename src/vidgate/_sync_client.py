"""``VideoClient``: the sync twin of :class:`AsyncVideoClient`, a thin facade that runs each
async method on vidgate's one background event loop (``_sync``): the same methods and
parameters, blocking, and no second copy of any logic."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Concatenate, ParamSpec, TypeVar

from . import _sync
from ._client import AsyncVideoClient
from ._engine import Engine
from ._options import RequestOptions

P = ParamSpec("P")
T = TypeVar("T")


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

    @property
    def options(self) -> RequestOptions:
        """This client's default options."""
        return self._async.options

    def with_options(
        self,
        *,
        api_key: str | None = None,
        api_base: str | None = None,
        organization: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> VideoClient:
        """A client with these defaults changed, sharing this one's connections."""
        other = VideoClient.__new__(VideoClient)
        other._async = self._async.with_options(
            api_key=api_key,
            api_base=api_base,
            organization=organization,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
        )
        return other

    def close(self) -> None:
        _sync.run(self._async.aclose())

    def __enter__(self) -> VideoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
