"""The sync API is a thin facade over the async one: every sync call runs its coroutine on one
shared background event loop (``../STYLE.md`` habit 1), so there is no second copy of logic."""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="vidgate-sync", daemon=True)
            thread.start()
            _loop = loop
        return _loop


def run(awaitable: Awaitable[T]) -> T:
    """Run ``awaitable`` on the background loop and wait for its result in this thread."""
    loop = _background_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        raise RuntimeError("a vidgate sync call was made from vidgate's own event loop")

    async def _wrap() -> T:
        return await awaitable

    result = asyncio.run_coroutine_threadsafe(_wrap(), loop).result()
    # A streamed result (``VideoContent``) lives on the background loop: let it step there.
    bind = getattr(result, "_bind_runner", None)
    if callable(bind):
        bind(run)
    return result


def syncify(fn: Callable[P, Coroutine[Any, Any, T]], name: str) -> Callable[P, T]:
    """The sync twin ``name`` of an async function: same parameters, same docs, blocking."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return run(fn(*args, **kwargs))

    wrapper.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    wrapper.__name__ = wrapper.__qualname__ = name
    return wrapper
