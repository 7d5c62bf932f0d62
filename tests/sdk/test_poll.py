"""Poll decisions: interval from ``openai-poll-after-ms`` and the deadline."""

from __future__ import annotations

from vidgate._poll import next_poll_interval, sleep_before_next_poll


def test_server_hint_is_used_on_every_response() -> None:
    assert next_poll_interval({"openai-poll-after-ms": "250"}, requested=None) == 0.25
    assert next_poll_interval({"openai-poll-after-ms": "5000"}, requested=None) == 5.0


def test_explicit_interval_wins_and_default_is_one_second() -> None:
    assert next_poll_interval({"openai-poll-after-ms": "250"}, requested=3.0) == 3.0
    assert next_poll_interval({}, requested=None) == 1.0
    assert next_poll_interval({"openai-poll-after-ms": "junk"}, requested=None) == 1.0


def test_hint_is_clamped() -> None:
    assert next_poll_interval({"openai-poll-after-ms": "0"}, requested=None) == 0.01
    assert next_poll_interval({"openai-poll-after-ms": "999999999"}, requested=None) == 60.0


def test_deadline_shortens_the_last_sleep_and_then_stops() -> None:
    assert sleep_before_next_poll(2.0, now=10.0, deadline=None) == 2.0
    assert sleep_before_next_poll(2.0, now=10.0, deadline=11.0) == 1.0
    assert sleep_before_next_poll(2.0, now=11.0, deadline=11.0) is None
