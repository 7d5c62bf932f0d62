"""State shared by replicas through Redis (``general_settings.redis_url``).

Two things live there when it is set: per-key rate limits (one sliding window per key, kept
in a sorted set and decided by one atomic script, so all replicas together admit exactly
``rpm_limit`` creates a minute) and poller wake-ups (a create publishes on a channel; every
replica's subscriber wakes its own poller).

Redis is never on the critical path: a call that errors or takes longer than
``REDIS_TIMEOUT`` falls back to this replica's in-process limiter, a lost wake-up only means
the poller finds the job on its own cadence, and a warning is logged at most every
``WARN_EVERY`` seconds (for limits, and for wake-ups). No request fails because Redis is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable

import redis.asyncio as aioredis

from .limits import WINDOW_SECONDS, RateLimiter

log = logging.getLogger("vidgate.gateway.redis")

REDIS_TIMEOUT = 0.25  # seconds a create waits for Redis before using the in-process limiter
WARN_EVERY = 30.0  # seconds between "Redis unavailable" warnings
RESUBSCRIBE_WAIT = 1.0  # seconds between attempts to subscribe again after Redis went away
RATE_PREFIX = "vidgate:rpm:"
WAKE_CHANNEL = "vidgate:wake"

# KEYS[1]: the key's window; ARGV: window (ms), limit, a unique member.
# Returns nil when admitted, else milliseconds until the oldest hit leaves the window.
# Redis's own clock (TIME) is used, so replicas with skewed clocks still agree.
_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(0, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return false
"""


class _Warner:
    """Logs a warning at most once per ``WARN_EVERY`` seconds (for limits, and for wake-ups)."""

    def __init__(self) -> None:
        self._last = -WARN_EVERY

    def __call__(self, message: str, error: BaseException) -> None:
        now = time.monotonic()
        if now - self._last >= WARN_EVERY:
            self._last = now
            log.warning("%s (%s: %s)", message, type(error).__name__, error)


class SharedState:
    """Rate limits and wake-ups for one replica, shared with the others through Redis."""

    def __init__(self, url: str, *, fallback: RateLimiter, wake: Callable[[], None]) -> None:
        self.fallback = fallback
        self.instance = uuid.uuid4().hex
        self.received = 0  # wake-ups received from other replicas
        self._wake = wake
        self._url = url
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
        )
        self._script = self._redis.register_script(_SLIDING_WINDOW)
        # One per concern, so a warning about wake-ups never hides one about limits.
        self._warn_limits = _Warner()
        self._warn_wakes = _Warner()
        self._listener: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    async def take(self, key: str, limit: int) -> float | None:
        """Count one request for ``key``; ``None`` if allowed, else seconds until one is."""
        member = f"{self.instance}:{uuid.uuid4().hex}"
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                wait_ms = await self._script(
                    keys=[RATE_PREFIX + key], args=[int(WINDOW_SECONDS * 1000), limit, member]
                )
        except Exception as error:  # any Redis trouble: decide here, never fail the request
            self._warn_limits("Redis unavailable; rate limits are per replica for now", error)
            return self.fallback.hit(key, limit)
        return None if wait_ms is None else int(wait_ms) / 1000

    def wake(self) -> None:
        """Wake this replica's poller now and the others' through Redis (in the background)."""
        self._wake()
        task = asyncio.get_running_loop().create_task(self._publish())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _publish(self) -> None:
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                await self._redis.publish(WAKE_CHANNEL, self.instance)
        except Exception as error:
            self._warn_wakes("Redis unavailable; other replicas' pollers were not woken", error)

    def start(self) -> None:
        """Start listening for other replicas' wake-ups (needs a running loop)."""
        self._listener = asyncio.get_running_loop().create_task(
            self._listen(), name="vidgate-redis-wake"
        )

    async def _listen(self) -> None:
        # Its own client: a subscription waits indefinitely, so no socket timeout.
        client = aioredis.Redis.from_url(self._url, socket_connect_timeout=REDIS_TIMEOUT)
        try:
            while True:
                try:
                    async with client.pubsub() as pubsub:
                        await pubsub.subscribe(WAKE_CHANNEL)
                        async for message in pubsub.listen():
                            if message["type"] == "message" and message["data"] != (
                                self.instance.encode()
                            ):
                                self.received += 1
                                self._wake()
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    self._warn_wakes(
                        "Redis unavailable; not hearing other replicas' wake-ups", error
                    )
                    await asyncio.sleep(RESUBSCRIBE_WAIT)
        finally:
            await client.aclose()

    async def aclose(self) -> None:
        tasks = [t for t in (self._listener, *self._pending) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        await self._redis.aclose()
