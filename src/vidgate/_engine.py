"""The only place vidgate does HTTP I/O: it drives provider flows over pooled HTTP clients
(``_transport``: one per event loop), with retries, timeouts, error mapping and streaming
bodies."""

from __future__ import annotations

import asyncio
import random
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from . import _log
from ._constants import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    InternalServerError,
    NotFoundError,
    error_for_status,
)
from ._models import Flow, Request, Response
from ._retry import (
    RetryPolicy,
    retry_delay,
    should_retry_connection_error,
    should_retry_status,
)
from ._transport import AiohttpTransport, HttpxTransport, Opened, SendError, Transport
from ._urlguard import check_url
from .local.capabilities import LOCAL_BASE
from .providers import Provider

T = TypeVar("T")

_NETWORK = "network"


class Engine:
    """Sends requests for flows. One engine serves many calls and event loops; it keeps one
    pooled client per loop and transport, reused across calls.

    ``sleep`` and ``rand`` are injectable so retry timing is testable without waiting.
    ``network`` picks the HTTP client for remote providers (see ``_transport``).
    """

    def __init__(
        self,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        network: Literal["httpx", "aiohttp"] = "httpx",
        transport: Transport | None = None,
        mounts: Mapping[str, Callable[[], Transport]] | None = None,
    ) -> None:
        self.network = network
        self.timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        self.max_retries = DEFAULT_MAX_RETRIES if max_retries is None else max_retries
        self._sleep = sleep
        self._rand = rand
        # ``transport`` answers every request no mount claims (httpx's ``transport=``, e.g. a
        # MockTransport in tests); ``mounts`` map URL prefixes to transport factories, made
        # once per event loop. The built-in engine is mounted at LOCAL_BASE by default.
        self._transport = transport
        self._mounts: dict[str, Callable[[], Transport]] = (
            {LOCAL_BASE: _local_transport} if mounts is None else dict(mounts)
        )
        self._clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, Transport]
        ] = weakref.WeakKeyDictionary()

    # -- clients -----------------------------------------------------------------------------

    def _client(self, url: str) -> Transport:
        """The transport for ``url``: a mount's (made once per loop), else the network."""
        for prefix, factory in self._mounts.items():
            if url.startswith(prefix):
                per_loop = self._clients.setdefault(asyncio.get_running_loop(), {})
                client = per_loop.get(prefix)
                if client is None:
                    client = per_loop[prefix] = factory()
                return client
        return self._network_client()

    async def sleep(self, seconds: float) -> None:
        """Wait between polls (injectable, so poll loops are testable without waiting)."""
        await self._sleep(seconds)

    async def aclose(self) -> None:
        """Close the clients opened on the running loop."""
        loop = asyncio.get_running_loop()
        for client in self._clients.pop(loop, {}).values():
            await client.aclose()

    # -- flows -------------------------------------------------------------------------------

    async def run(
        self,
        provider: Provider,
        flow: Flow[T],
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> T:
        """Drive ``flow`` to its result, sending each request it yields.

        An error response is thrown into the flow, so an adapter can turn it into a result
        (a refusal at result fetch is a failed video, not an exception); a flow that does not
        catch it lets it propagate unchanged.
        """
        try:
            request = next(flow)
            while True:
                try:
                    response = await self.send(
                        provider, request, timeout=timeout, max_retries=max_retries
                    )
                except APIStatusError as exc:
                    request = flow.throw(exc)
                    continue
                try:
                    request = flow.send(response)
                except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
                    # The adapter could not read the provider's answer (not JSON, a field
                    # missing, a wrong type: a list where an object belongs makes ``.get`` an
                    # AttributeError): a broken upstream, not a bug of the caller's.
                    raise InternalServerError(
                        f"{provider.name} sent a response vidgate cannot read "
                        f"({type(exc).__name__}: {str(exc)[:300]}).",
                        status_code=502,
                        code="upstream_protocol_error",
                    ) from exc
        except StopIteration as stop:
            result: T = stop.value
            return result

    async def run_with_headers(
        self,
        provider: Provider,
        flow: Flow[T],
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> tuple[T, Mapping[str, str]]:
        """Like :meth:`run`, also returning the last response's headers (poll hints such as
        ``openai-poll-after-ms`` ride on them)."""
        last: dict[str, Mapping[str, str]] = {}

        def watched() -> Flow[T]:
            request = next(flow)
            try:
                while True:
                    try:
                        response = yield request
                    except APIStatusError as exc:
                        request = flow.throw(exc)
                        continue
                    last["headers"] = response.headers
                    request = flow.send(response)
            except StopIteration as stop:
                result: T = stop.value
                return result

        result = await self.run(provider, watched(), timeout=timeout, max_retries=max_retries)
        return result, last.get("headers", {})

    async def send(
        self,
        provider: Provider,
        request: Request,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Response:
        """Send with retries; an error status becomes the provider's mapped exception."""
        streamed = await self.open(provider, request, timeout=timeout, max_retries=max_retries)
        try:
            content, more = await _read_capped(streamed, MAX_RESPONSE_BYTES)
        except SendError as exc:
            raise _connection_error(exc, request) from exc
        finally:
            await streamed.aclose()
        if more:
            raise InternalServerError(
                f"{provider.name} sent a response larger than vidgate reads "
                f"({MAX_RESPONSE_BYTES} bytes) from {_log.redact_url(request.url)}.",
                status_code=502,
                code="upstream_protocol_error",
            )
        return Response(streamed.status_code, streamed.headers, content, url=request.url)

    async def open(
        self,
        provider: Provider,
        request: Request,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Opened:
        """Send ``request`` and return once the headers arrive, retrying as the policy allows.
        The caller owns the returned stream and must ``aclose`` it."""
        policy = RetryPolicy(
            max_retries=self.max_retries if max_retries is None else max_retries,
            may_duplicate_work=request.creates_job and not _has_idempotency_key(request),
        )
        client = self._client(request.url)
        trusted_host = _host(provider)
        await check_url(request.url, trusted_host=trusted_host)
        retries = 0
        limit = self.timeout if timeout is None else timeout
        while True:
            started = time.perf_counter()
            try:
                response = await client.send(request, timeout=limit, trusted_host=trusted_host)
            except SendError as exc:
                elapsed = time.perf_counter() - started
                _log.log_request(request.method, request.url, "error", elapsed, retries)
                if should_retry_connection_error(
                    policy, retries_taken=retries, request_sent=exc.sent
                ):
                    await self._sleep(retry_delay(retries, rand=self._rand))
                    retries += 1
                    continue
                raise _connection_error(exc, request) from exc
            elapsed = time.perf_counter() - started
            _log.log_request(request.method, request.url, response.status_code, elapsed, retries)
            if response.status_code < 400:
                return response
            try:
                body, _ = await _read_capped(response, MAX_ERROR_BYTES)
            except SendError:
                body = b""
            finally:
                await response.aclose()
            headers = response.headers
            if should_retry_status(response.status_code, headers, policy, retries_taken=retries):
                await self._sleep(retry_delay(retries, headers, rand=self._rand))
                retries += 1
                continue
            answer = Response(response.status_code, headers, body, url=request.url)
            if request.download and answer.status_code in provider.expired_link_statuses:
                raise download_link_expired(provider, answer)
            raise provider.parse_error(answer)

    async def fetch(
        self, url: str, *, max_bytes: int, timeout: float, trusted_host: str | None = None
    ) -> tuple[bytes, str | None]:
        """GET a caller-named URL over the network client: the outbound URL guard checks it
        and every redirect hop, the body is cut off past ``max_bytes`` and the whole fetch
        past ``timeout`` seconds. Returns the body and its ``Content-Type``.

        Raises:
            PermissionDeniedError: the guard refused the URL or a redirect.
            APIStatusError: the server answered an error status.
            APIConnectionError / APITimeoutError: no answer, or not in time.
            ValueError: the body is larger than ``max_bytes``.
        """
        request = Request("GET", url)
        await check_url(url, trusted_host=trusted_host)
        client = self._network_client()
        try:
            async with asyncio.timeout(timeout):
                response = await client.send(request, timeout=timeout, trusted_host=trusted_host)
                try:
                    if response.status_code >= 400:
                        raise error_for_status(response.status_code)(
                            f"{_log.redact_url(url)} answered HTTP {response.status_code}.",
                            status_code=response.status_code,
                        )
                    body, more = await _read_capped(response, max_bytes)
                    if more:
                        raise ValueError(f"it is larger than the limit of {max_bytes} bytes")
                finally:
                    await response.aclose()
        except SendError as exc:
            raise _connection_error(exc, request) from exc
        except TimeoutError:
            raise APITimeoutError(
                f"Request to {_log.redact_url(url)} timed out after {timeout:g} s."
            ) from None
        return body, response.headers.get("content-type")

    def _network_client(self) -> Transport:
        if self._transport is not None:
            return self._transport
        loop = asyncio.get_running_loop()
        per_loop = self._clients.setdefault(loop, {})
        client = per_loop.get(_NETWORK)
        if client is None:
            client = AiohttpTransport() if self.network == "aiohttp" else HttpxTransport()
            per_loop[_NETWORK] = client
        return client


def download_link_expired(provider: Provider, response: Response) -> NotFoundError:
    """The one error for a download of finished content whose link no longer works (one of
    the provider's ``expired_link_statuses``): a 404 ``download_link_expired`` naming the
    provider, the upstream status and how long the provider's links last. The upstream's
    headers are kept, and its body when it is JSON (a CDN's HTML page is not worth keeping)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    return NotFoundError(
        f"{provider.label or provider.name}'s download link has expired or is no longer valid "
        f"(HTTP {response.status_code}). {provider.link_lifetime} Keep a copy of the video "
        "once it completes.",
        status_code=404,
        code="download_link_expired",
        body=body,
        headers=dict(response.headers),
    )


def _local_transport() -> Transport:
    from .local import transport

    return transport()


def _host(provider: Provider) -> str | None:
    try:
        return urlsplit(provider.api_base).hostname
    except APIError:  # a provider with no endpoint configured yet
        return None


def _has_idempotency_key(request: Request) -> bool:
    return any(k.lower() == "idempotency-key" for k in request.headers)


# Bodies read whole (status JSON, error pages) stop here: a hostile or broken upstream cannot
# make the gateway hold gigabytes. Generous, because Vertex and Gemini may return the finished
# video inline, base64 in the status JSON (8 s of 4K is well under this); the video files
# themselves are streamed, never read whole.
MAX_RESPONSE_BYTES = 256 * 1024 * 1024
# Of an error body, only this much is kept (for its message); the rest is never read.
MAX_ERROR_BYTES = 1024 * 1024


async def _read_capped(response: Opened, limit: int) -> tuple[bytes, bool]:
    """The body, up to ``limit`` bytes, and whether there was more (left unread: closing the
    response then drops the connection)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return b"", True
    body = bytearray()
    async for chunk in response.chunks:
        body += chunk
        if len(body) > limit:
            return bytes(body[:limit]), True
    return bytes(body), False


def _connection_error(exc: SendError, request: Request) -> APIError:
    where = _log.redact_url(request.url)
    if exc.timed_out:
        return APITimeoutError(f"Request to {where} timed out ({exc}).")
    return APIConnectionError(f"Could not reach {where}: {exc}.")
