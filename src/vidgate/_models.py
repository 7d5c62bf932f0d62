"""The wire contract between the engine and the provider adapters (the role of httpx's
``_models.py``): a :class:`Request` an adapter wants sent, the :class:`Response` it gets back,
a :data:`Flow` (a generator of requests that returns a result), where content comes from
(:class:`ContentSource`) and the :class:`Credentials` a provider is called with.

Public inside the package: the engine, the gateway, the SDK and the adapters all speak these.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from .types.video import VideoContentVariant

T = TypeVar("T")

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)

Order = Literal["asc", "desc"]


@dataclass
class Request:
    """One HTTP request an adapter wants sent."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    # A body sent as these exact bytes (a signed webhook event: the signature covers them).
    content: bytes | None = None
    # Creates are the only requests that can start paid work; the engine retries them only
    # when that cannot start a second job.
    creates_job: bool = False
    # A download of finished content (the video, a thumbnail, a spritesheet): the engine reads
    # the statuses the provider lists in ``expired_link_statuses`` as an expired link.
    download: bool = False


@dataclass
class Response:
    """One HTTP response handed back to a flow (the body already read).

    ``received_at`` (epoch seconds) is stamped when the engine builds the response. It is a
    flow's only clock: a flow that needs "now" (a ``created_at`` the provider does not send)
    reads it here, so its result depends on its inputs and responses alone, and tests pass a
    fixed value."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes
    url: str = ""
    received_at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.content) if self.content else None

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def summary(self, limit: int = 300) -> str:
        """The body as an error message: text as sent (whitespace folded, cut at ``limit``),
        but never a raw HTML page (a load balancer's or proxy's): its ``<title>``, or a note
        that one came."""
        text = self.text.strip()
        kind = self.headers.get("content-type", "").lower()
        if "html" in kind or text[:15].lower().startswith(("<!doctype", "<html", "<head")):
            title = _TITLE.search(text)
            shown = " ".join(title.group(1).split())[:120] if title else ""
            return f"HTTP {self.status_code} with an HTML page" + (f": {shown}" if shown else "")
        return " ".join(text.split())[:limit]


@dataclass(frozen=True)
class ContentSource:
    """Where a variant's bytes come from: ``request`` is streamed, or ``data`` holds them
    already (providers that return the video inline, base64 in the status JSON). When
    ``derive`` is set, those bytes are the video and the named variant is made from it
    locally."""

    request: Request | None = None
    derive: VideoContentVariant | None = None
    content_type: str | None = None
    data: bytes | None = None


Flow = Generator[Request, Response, T]


@dataclass(frozen=True)
class Credentials:
    """Credentials and endpoint for one provider, resolved from arguments, then environment."""

    api_key: str | None = None
    api_base: str | None = None
    organization: str | None = None
    extra_headers: Mapping[str, str] = field(default_factory=dict)
