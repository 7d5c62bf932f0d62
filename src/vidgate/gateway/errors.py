"""Every error the gateway sends, mapped to OpenAI's envelope (spec §4) in this one module.

Our own exceptions carry their status; errors from an upstream provider are translated by
:func:`from_upstream` (an upstream 401 is the gateway's misconfiguration, not the caller's);
anything unexpected becomes a 500 that names the request id and nothing internal.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from .._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    InternalServerError,
)

log = logging.getLogger("vidgate.gateway")


class GatewayError(APIStatusError):
    """An error with any status (413, 502, 503 ...) that ``error_for_status`` has no class
    for; ``headers`` are sent with the response (``Retry-After``)."""

    def __init__(self, status_code: int, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("type", "invalid_request_error" if status_code < 500 else "api_error")
        super().__init__(message, status_code=status_code, **kwargs)


def payload_too_large(limit: int) -> GatewayError:
    # The rest of the body is never read, so the connection cannot carry another request:
    # say so, rather than leave the client to find a reset connection.
    return GatewayError(
        413,
        f"The request body is larger than this gateway accepts ({limit} bytes).",
        code="request_too_large",
        headers={"connection": "close"},
    )


def from_upstream(exc: APIError, provider: str) -> APIError:
    """What the caller sees for a provider's error.

    Client errors (400, 404, 409, 422, 429) pass through with the provider's message; the
    provider refusing *our* credentials (401, 403) or failing (5xx, network) is a 502/504 from
    the gateway, since nothing the caller changes would fix it.
    """
    if isinstance(exc, APITimeoutError):
        return GatewayError(
            504, f"The provider '{provider}' did not answer in time.", code="upstream_timeout"
        )
    if isinstance(exc, APIConnectionError):
        return GatewayError(
            502, f"Could not reach the provider '{provider}'.", code="upstream_unreachable"
        )
    if isinstance(exc, APIStatusError) and exc.code == "outbound_url_refused":
        # The provider led us toward an address the URL guard refuses: the provider's fault,
        # said as what it is (never as a credentials problem).
        return GatewayError(502, exc.message, code="outbound_url_refused")
    if isinstance(exc, APIStatusError):
        status = exc.status_code
        if status in (401, 403):
            return GatewayError(
                502,
                f"The provider '{provider}' rejected the gateway's credentials (HTTP {status}).",
                code="upstream_auth_failed",
            )
        if status >= 500 and exc.code == "upstream_protocol_error":
            # The engine's own verdict on an answer it could not read: keep its code.
            return GatewayError(502, exc.message, code="upstream_protocol_error")
        if status >= 500:
            return GatewayError(
                502,
                f"The provider '{provider}' failed (HTTP {status}): {exc.message}",
                code="upstream_error",
            )
        return exc
    return GatewayError(502, f"The provider '{provider}' failed: {exc.message}")


def _response(exc: APIError, request: Request) -> JSONResponse:
    status = exc.status_code if isinstance(exc, APIStatusError) else 500
    headers: dict[str, str] = {}
    if isinstance(exc, APIStatusError):
        # Only headers we chose to send (never an upstream's): Retry-After, and Connection
        # on the gateway's own errors.
        ours = isinstance(exc, GatewayError)
        headers = {
            k: v
            for k, v in exc.headers.items()
            if k.lower().startswith("retry-after") or (ours and k.lower() == "connection")
        }
    return JSONResponse(exc.to_dict(), status_code=status or 500, headers=headers)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into the OpenAI envelope."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, APIError)
        return _response(exc, request)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
        param = ".".join(loc) or None
        message = f"Invalid value for '{param}': {first.get('msg', 'invalid')}."
        if param is None:
            message = f"Invalid request: {first.get('msg', 'invalid')}."
        error = APIStatusError(
            message,
            status_code=400,
            type="invalid_request_error",
            param=param,
            code="invalid_value",
        )
        return _response(error, request)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            message = f"Invalid URL ({request.method} {request.url.path})."
            code = "unknown_url"
        elif exc.status_code == 405:
            message = f"Method {request.method} is not allowed on {request.url.path}."
            code = "method_not_allowed"
        else:
            message, code = str(exc.detail), None
        error = GatewayError(exc.status_code, message, code=code)
        return _response(error, request)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None)
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        error = InternalServerError(
            f"The gateway hit an internal error (request id {request_id}).",
            code="internal_error",
        )
        return _response(error, request)

    app.add_exception_handler(APIError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
