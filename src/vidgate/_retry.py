"""Pure retry decisions (spec §5): which failures to retry and how long to wait.

The engine asks; nothing here sleeps or does I/O, so every rule is testable with plain values.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ._constants import INITIAL_RETRY_DELAY, MAX_RETRY_AFTER_DELAY, MAX_RETRY_DELAY

RETRYABLE_STATUSES = frozenset({408, 409, 429})
# A create that got one of these was refused before any job started, so repeating it is safe.
CREATE_SAFE_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """How one request may be retried.

    ``may_duplicate_work`` is true for a create without an idempotency key: a retry after a
    response that might have started a job (5xx, read timeout) could pay for a second video.
    """

    max_retries: int
    may_duplicate_work: bool = False


def parse_retry_after(
    headers: Mapping[str, str], *, now: Callable[[], float] = time.time
) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, then ``retry-after`` as seconds
    or as an HTTP date. ``None`` when absent or unparsable."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return float(email.utils.mktime_tz(parsed)) - now()


def should_retry_status(
    status_code: int, headers: Mapping[str, str], policy: RetryPolicy, *, retries_taken: int
) -> bool:
    """Whether an error response should be retried (openai ``_should_retry``, plus the
    paid-create rule)."""
    if retries_taken >= policy.max_retries:
        return False
    retry_after = parse_retry_after(headers)
    if (
        retry_after is not None
        and math.isfinite(retry_after)
        and retry_after > MAX_RETRY_AFTER_DELAY
    ):
        return False
    explicit = headers.get("x-should-retry")
    if explicit == "true":
        return True
    if explicit == "false":
        return False
    if policy.may_duplicate_work:
        return status_code in CREATE_SAFE_STATUSES
    return status_code in RETRYABLE_STATUSES or status_code >= 500


def should_retry_connection_error(
    policy: RetryPolicy, *, retries_taken: int, request_sent: bool
) -> bool:
    """Connection errors are retried, unless the request may have reached a server that could
    have started paid work (``request_sent`` with ``may_duplicate_work``)."""
    if retries_taken >= policy.max_retries:
        return False
    return not (policy.may_duplicate_work and request_sent)


def backoff(attempt: int, *, base: float, cap: float) -> float:
    """``min(cap, base * 2**attempt)``, ``attempt`` counted from 0: the one exponential
    backoff (engine retries, the gateway's poll errors, webhook deliveries). The exponent is
    bounded, so a long run of failures never overflows."""
    return min(cap, base * 2.0 ** min(max(attempt, 0), 32))


def retry_delay(
    retries_taken: int,
    headers: Mapping[str, str] | None = None,
    *,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before the next attempt: the server's hint when it is in (0, 120],
    else ``min(0.5 * 2**n, 8) * (1 - 0.25 * jitter)``."""
    if headers is not None:
        hint = parse_retry_after(headers)
        if hint is not None and 0 < hint <= MAX_RETRY_AFTER_DELAY:
            return hint
    base = backoff(retries_taken, base=INITIAL_RETRY_DELAY, cap=MAX_RETRY_DELAY)
    return base * (1 - 0.25 * rand())
