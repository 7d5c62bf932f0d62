"""Retry decisions (spec §5) with plain values: no sleeping, no network."""

from __future__ import annotations

import email.utils

import pytest

from vidgate._retry import (
    RetryPolicy,
    parse_retry_after,
    retry_delay,
    should_retry_connection_error,
    should_retry_status,
)

READ = RetryPolicy(max_retries=2)
CREATE = RetryPolicy(max_retries=2, may_duplicate_work=True)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status: int) -> None:
    assert should_retry_status(status, {}, READ, retries_taken=0)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    assert not should_retry_status(status, {}, READ, retries_taken=0)


def test_retries_stop_at_max_retries() -> None:
    assert should_retry_status(500, {}, READ, retries_taken=1)
    assert not should_retry_status(500, {}, READ, retries_taken=2)


def test_x_should_retry_overrides_status() -> None:
    assert should_retry_status(400, {"x-should-retry": "true"}, READ, retries_taken=0)
    assert not should_retry_status(500, {"x-should-retry": "false"}, READ, retries_taken=0)


def test_retry_after_beyond_120_seconds_is_not_retried() -> None:
    assert not should_retry_status(429, {"retry-after": "121"}, READ, retries_taken=0)
    assert should_retry_status(429, {"retry-after": "120"}, READ, retries_taken=0)


def test_create_without_idempotency_is_retried_only_when_refused_before_acceptance() -> None:
    # 429 and 408 mean the job never started; a 5xx or 409 might have started a paid job.
    assert should_retry_status(429, {}, CREATE, retries_taken=0)
    assert should_retry_status(408, {}, CREATE, retries_taken=0)
    assert not should_retry_status(500, {}, CREATE, retries_taken=0)
    assert not should_retry_status(409, {}, CREATE, retries_taken=0)


def test_connection_errors_on_create_retry_only_if_never_sent() -> None:
    assert should_retry_connection_error(CREATE, retries_taken=0, request_sent=False)
    assert not should_retry_connection_error(CREATE, retries_taken=0, request_sent=True)
    assert should_retry_connection_error(READ, retries_taken=0, request_sent=True)
    assert not should_retry_connection_error(READ, retries_taken=2, request_sent=False)


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "x", "retry-after": "2"}) == 2.0
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None
    date = email.utils.formatdate(1_000_030.0, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=lambda: 1_000_000.0) == 30.0


def test_delay_honours_server_hint_within_bounds() -> None:
    assert retry_delay(0, {"retry-after-ms": "10"}) == 0.01
    assert retry_delay(0, {"retry-after": "120"}) == 120.0
    # A hint of 0 or over 120 s falls back to exponential backoff.
    assert retry_delay(0, {"retry-after": "0"}, rand=lambda: 0.0) == 0.5
    assert retry_delay(1, {"retry-after": "500"}, rand=lambda: 0.0) == 1.0


def test_backoff_is_exponential_capped_with_jitter() -> None:
    assert [retry_delay(n, rand=lambda: 0.0) for n in range(6)] == [0.5, 1, 2, 4, 8, 8]
    assert retry_delay(0, rand=lambda: 1.0) == 0.375
    assert retry_delay(10, rand=lambda: 1.0) == 6.0
