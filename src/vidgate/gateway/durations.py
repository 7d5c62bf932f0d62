"""Durations as operators and callers write them (``30s``, ``15m``, ``12h``, ``30d``, ``2w``):
key lifetimes, retention periods. Parsed in this one place."""

from __future__ import annotations

import re

from .._exceptions import BadRequestError

_DURATION = re.compile(r"^\s*([0-9]{1,9})\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_DURATION_SECONDS = 100 * 365 * 86400

__all__ = ["MAX_DURATION_SECONDS", "parse_duration"]


def parse_duration(text: str) -> int:
    """``30s``, ``15m``, ``12h``, ``30d``, ``2w`` → seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise BadRequestError(
            f"Invalid value for 'duration': '{text}'. Use a number and a unit: 30s, 15m, 12h, "
            "30d or 2w.",
            param="duration",
            code="invalid_value",
        )
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0 or seconds > MAX_DURATION_SECONDS:
        raise BadRequestError(
            f"Invalid value for 'duration': '{text}' must be more than 0 s and at most 100 years.",
            param="duration",
            code="invalid_value",
        )
    return seconds
