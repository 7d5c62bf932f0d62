"""Fault injection shared by the smaller fake upstreams: canned answers served in place of
the real handler for the next matching requests (``{id}`` in a path matches one segment)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Fault:
    method: str | None
    path: str | None
    status: int
    headers: dict[str, str]
    body: Any
    times: int
    served: int = 0


def path_matches(pattern: str | None, path: str) -> bool:
    """``/v1/tasks/{id}`` matches ``/v1/tasks/abc``; ``None`` matches every path."""
    if pattern is None:
        return True
    want, got = pattern.strip("/").split("/"), path.strip("/").split("/")
    return len(want) == len(got) and all(w in (g, "{id}") for w, g in zip(want, got, strict=True))


def take_fault(faults: list[Fault], method: str, path: str) -> Fault | None:
    """The first fault still to serve for this request, counted as served (caller locks)."""
    for fault in faults:
        if (
            fault.served < fault.times
            and (fault.method is None or fault.method == method)
            and path_matches(fault.path, path)
        ):
            fault.served += 1
            return fault
    return None
