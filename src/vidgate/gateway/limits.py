"""Per-key rate limits, in process (a sliding one-minute window per key).

With ``redis_url`` set, ``redis_state.SharedState`` makes the same decision for all replicas
together and falls back to this limiter while Redis is unreachable.

``rpm_limit`` counts job-starting requests (create and remix), as providers count video quota
(spec §9: "only job creation counts"): a client polling its videos never trips its own limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

WINDOW_SECONDS = 60.0


class Limiter(Protocol):
    """What the create path asks: ``None`` if the request is allowed, else seconds to wait."""

    async def take(self, key: str, limit: int) -> float | None: ...


class RateLimiter:
    """Sliding-window counter. ``hit`` records a request if the key is under its limit."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        # Route handlers run on one loop, but keep it safe for threads too.
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int) -> float | None:
        """Count one request; returns ``None`` if allowed, else seconds until one is."""
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - WINDOW_SECONDS:
                hits.popleft()
            if len(hits) >= limit:
                return max(0.0, hits[0] + WINDOW_SECONDS - now)
            hits.append(now)
            return None

    async def take(self, key: str, limit: int) -> float | None:
        """``hit``, as the create path's ``Limiter`` asks it."""
        return self.hit(key, limit)


def retry_after_header(seconds: float) -> dict[str, str]:
    """``Retry-After`` in whole seconds (at least 1) and ``retry-after-ms``."""
    return {
        "retry-after": str(max(1, math.ceil(seconds))),
        "retry-after-ms": str(max(1, math.ceil(seconds * 1000))),
    }
