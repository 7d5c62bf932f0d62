"""The per-call options every SDK call takes, as one value.

``api_key``, ``api_base``, ``organization``, ``timeout``, ``max_retries`` and
``extra_headers`` are declared here once: a client holds a bundle of defaults, each call makes
a bundle of what it was given, and :meth:`RequestOptions.over` layers the call's on the
client's. Internals pass the bundle along instead of six arguments (the request-options idea
of openai-python's ``FinalRequestOptions``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class RequestOptions:
    """Credentials, endpoint, limits and headers for requests; ``None`` means "not set here"."""

    api_key: str | None = None
    api_base: str | None = None
    organization: str | None = None
    timeout: float | None = None
    max_retries: int | None = None
    extra_headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    def over(self, base: RequestOptions) -> RequestOptions:
        """These options on top of ``base``: each value set here wins, headers are merged."""
        return RequestOptions(
            api_key=self.api_key or base.api_key,
            api_base=self.api_base or base.api_base,
            organization=self.organization or base.organization,
            timeout=self.timeout if self.timeout is not None else base.timeout,
            max_retries=self.max_retries if self.max_retries is not None else base.max_retries,
            extra_headers=MappingProxyType({**base.extra_headers, **self.extra_headers}),
        )

    def with_changes(self, **changes: Any) -> RequestOptions:
        """A copy with ``changes`` (``default_headers`` is accepted for ``extra_headers``)."""
        if "default_headers" in changes:
            changes["extra_headers"] = changes.pop("default_headers")
        if changes.get("extra_headers") is not None:
            changes["extra_headers"] = MappingProxyType(dict(changes["extra_headers"]))
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def call_options(
    api_key: str | None,
    api_base: str | None,
    organization: str | None,
    timeout: float | None,
    max_retries: int | None,
    extra_headers: Mapping[str, str] | None,
) -> RequestOptions:
    """The bundle for one call's keyword arguments."""
    return RequestOptions(
        api_key=api_key,
        api_base=api_base,
        organization=organization,
        timeout=timeout,
        max_retries=max_retries,
        extra_headers=MappingProxyType(dict(extra_headers)) if extra_headers else _EMPTY,
    )
