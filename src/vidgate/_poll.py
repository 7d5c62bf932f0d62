"""Pure polling decisions: how long to wait before the next status check, and when to stop."""

from __future__ import annotations

from collections.abc import Mapping

from ._constants import (
    DEFAULT_POLL_INTERVAL,
    MAX_POLL_INTERVAL,
    MIN_POLL_INTERVAL,
    POLL_AFTER_HEADER,
)


def next_poll_interval(
    headers: Mapping[str, str], *, requested: float | None, default: float = DEFAULT_POLL_INTERVAL
) -> float:
    """Seconds until the next poll.

    An explicit ``requested`` interval wins. Otherwise the server's ``openai-poll-after-ms`` is
    honoured on every response (the ``openai`` SDK only reads the first one; a server that
    slows us down later means it), clamped to [10 ms, 60 s].
    """
    if requested is not None:
        return requested
    raw = headers.get(POLL_AFTER_HEADER)
    if raw:
        try:
            hinted = float(raw) / 1000
        except ValueError:
            return default
        return min(max(hinted, MIN_POLL_INTERVAL), MAX_POLL_INTERVAL)
    return default


def sleep_before_next_poll(interval: float, *, now: float, deadline: float | None) -> float | None:
    """How long to sleep before polling again, or ``None`` when the deadline has passed.

    The last sleep is shortened so the final poll happens at the deadline, not after it.
    """
    if deadline is None:
        return interval
    remaining = deadline - now
    if remaining <= 0:
        return None
    return min(interval, remaining)
