"""Debug logging switched on by ``vidgate.set_verbose = True`` (the seed's switch), with
secrets redacted: credentials never reach a log line."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

logger = logging.getLogger("vidgate")

_SECRET_PARAM = re.compile(r"(key|token|sig|signature|secret|credential|auth|password)", re.I)
_SECRET_HEADERS = frozenset(
    {"authorization", "api-key", "x-api-key", "x-goog-api-key", "proxy-authorization", "cookie"}
)
REDACTED = "[REDACTED]"
_handler: logging.Handler | None = None


def verbose() -> bool:
    module = sys.modules.get("vidgate")
    return bool(getattr(module, "set_verbose", False))


def redact_url(url: str) -> str:
    """Drop userinfo and the values of secret-looking query parameters (signed URLs, keys)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    query = urlencode(
        [
            (k, REDACTED if _SECRET_PARAM.search(k) else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="[]",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class RedactQueryFilter(logging.Filter):
    """Redacts secret-looking query parameters in uvicorn's access log lines, whose third
    argument is the request path with its query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        path = args[2] if isinstance(args, tuple) and len(args) >= 3 else None
        if isinstance(path, str) and "?" in path and isinstance(args, tuple):
            record.args = (*args[:2], redact_url(path), *args[3:])
        return True


def install_access_log_redaction(name: str = "uvicorn.access") -> None:
    """Add :class:`RedactQueryFilter` to the access logger once."""
    access = logging.getLogger(name)
    if not any(isinstance(f, RedactQueryFilter) for f in access.filters):
        access.addFilter(RedactQueryFilter())


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: (REDACTED if k.lower() in _SECRET_HEADERS else v) for k, v in headers.items()}


def log_request(method: str, url: str, status: int | str, elapsed: float, attempt: int) -> None:
    if not verbose() and not logger.isEnabledFor(logging.DEBUG):
        return
    _ensure_handler()
    retry = f" (retry {attempt})" if attempt else ""
    logger.log(
        logging.INFO if verbose() else logging.DEBUG,
        "%s %s -> %s in %.1f ms%s",
        method,
        redact_url(url),
        status,
        elapsed * 1000,
        retry,
    )


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (it may be swapped after start-up)."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def _ensure_handler() -> None:
    """``set_verbose`` prints to stderr, as the seed's debug mode does. Without it, records go
    to the ``vidgate`` logger at DEBUG for applications that configure logging themselves."""
    global _handler
    if not verbose():
        return
    if _handler is None:
        _handler = _StderrHandler()
        _handler.setFormatter(logging.Formatter("vidgate: %(message)s"))
        logger.addHandler(_handler)
    if not logger.isEnabledFor(logging.INFO):
        logger.setLevel(logging.INFO)
