"""The HTTP clients under the engine: httpx or aiohttp for the network, httpx for in-process
servers (the ``local`` engine is an ``httpx`` transport).

The gateway uses aiohttp, chosen by measurement (``bench/results/gateways-http-clients-*.md``):
on loopback it answered a status GET in 0.28 ms p50 against httpx's 1.17 ms, and with 32
requests in flight it spent about 100 µs of CPU per request against httpx's 2.2 ms, which is
what the gateway's poller and creates pay. The SDK keeps httpx by default: a script's event
loop ends without closing sessions, which aiohttp reports as a leak on every exit, and one
caller's requests are few.

Both transports give the engine the same thing: an :class:`Opened` response (headers now,
body chunk by chunk) or a :class:`SendError` that says whether the request may have reached
the server. Redirects are followed here, each hop checked by the outbound URL guard, and
credentials are dropped when a redirect leaves the host they were meant for.

``timeout`` bounds waiting, not only each socket read (which alone lets an upstream that sends
a byte at a time hold a request for hours): the headers of each hop must arrive within the
connect timeout plus ``timeout``, and a body must keep coming (see :func:`paced`).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from ._constants import DEFAULT_CONNECT_TIMEOUT
from ._models import Request, Response
from ._urlguard import check_url

CHUNK_SIZE = 64 * 1024
# A body must bring at least this many bytes (or its end) per ``timeout`` seconds spent waiting
# for it: a slow link passes, a trickle of a byte per read timeout does not.
MIN_PROGRESS = 64 * 1024
MAX_REDIRECTS = 10
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Never forwarded to another host by a redirect.
_CREDENTIAL_HEADERS = frozenset(
    {"authorization", "api-key", "x-api-key", "x-goog-api-key", "cookie", "proxy-authorization"}
)


class SendError(Exception):
    """No usable response. ``sent`` is False only when the request provably never left."""

    def __init__(self, message: str, *, sent: bool, timed_out: bool) -> None:
        super().__init__(message)
        self.sent = sent
        self.timed_out = timed_out


@dataclass
class Opened:
    """A response whose headers have arrived; the body follows through ``chunks``."""

    status_code: int
    headers: dict[str, str]  # names lower-cased
    chunks: AsyncIterator[bytes]
    aclose: Callable[[], Awaitable[None]]


class Transport(Protocol):
    async def send(
        self, request: Request, *, timeout: float, trusted_host: str | None
    ) -> Opened: ...

    async def aclose(self) -> None: ...


def _redirect(request: Request, status: int, location: str) -> Request:
    """The next request of a redirect chain (as browsers and httpx do it)."""
    url = urljoin(request.url, location)
    method = request.method
    body: dict[str, Any] = {
        "json": request.json,
        "data": request.data,
        "files": request.files,
        "content": request.content,
    }
    if status == 303 or (status in (301, 302) and method == "POST"):
        method, body = "GET", {"json": None, "data": None, "files": None, "content": None}
    headers = dict(request.headers)
    if urlsplit(url).netloc != urlsplit(request.url).netloc:
        headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
    # Still a download of finished content after the hop (a CDN's signed-URL redirect).
    return Request(method, url, headers, params={}, download=request.download, **body)


async def paced(chunks: AsyncIterator[bytes], timeout: float) -> AsyncIterator[bytes]:
    """``chunks``, failing with a timed-out :class:`SendError` when ``timeout`` seconds of
    waiting bring fewer than :data:`MIN_PROGRESS` bytes. Only the time spent waiting on the
    upstream counts, not the time the consumer takes between chunks."""
    waited = 0.0
    got = 0
    while True:
        started = time.monotonic()
        try:
            chunk = await anext(chunks)
        except StopAsyncIteration:
            return
        waited += time.monotonic() - started
        got += len(chunk)
        if got >= MIN_PROGRESS:
            waited, got = 0.0, 0
        elif waited > timeout:
            raise SendError(
                f"the response body came too slowly ({got} bytes in {waited:.1f} s)",
                sent=True,
                timed_out=True,
            )
        yield chunk


async def follow_redirects(
    send_once: Callable[[Request], Awaitable[Opened]], request: Request, trusted_host: str | None
) -> Opened:
    """Send ``request``, following redirects; every hop passes the outbound URL guard."""
    for _hop in range(MAX_REDIRECTS + 1):
        response = await send_once(request)
        location = response.headers.get("location")
        if response.status_code not in _REDIRECTS or not location:
            return response
        await response.aclose()
        request = _redirect(request, response.status_code, location)
        await check_url(request.url, trusted_host=trusted_host)
    raise SendError(f"more than {MAX_REDIRECTS} redirects", sent=True, timed_out=False)


class AiohttpTransport:
    """Network requests over one pooled ``aiohttp.ClientSession`` (made on first use, on the
    running loop)."""

    def __init__(self, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
        import aiohttp

        self._aiohttp = aiohttp
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> Any:
        if self._session is None:
            aiohttp = self._aiohttp
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, ttl_dns_cache=300),
                auto_decompress=True,
                # Our own JSON bodies are serialized here, compactly, like httpx does.
                json_serialize=lambda obj: json.dumps(obj, separators=(",", ":")),
            )
        return self._session

    async def send(self, request: Request, *, timeout: float, trusted_host: str | None) -> Opened:
        aiohttp = self._aiohttp
        limits = aiohttp.ClientTimeout(
            total=None, sock_connect=min(timeout, self._connect_timeout), sock_read=timeout
        )

        async def once(hop: Request) -> Opened:
            try:
                async with asyncio.timeout(_headers_deadline(timeout, self._connect_timeout)):
                    response = await self._client().request(
                        hop.method,
                        hop.url,
                        headers=hop.headers,
                        params=hop.params or None,
                        json=hop.json,
                        data=self._form(hop),
                        timeout=limits,
                        allow_redirects=False,
                    )
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                # Refused, unreachable or unresolvable: nothing reached a server.
                raise SendError(
                    str(exc) or type(exc).__name__,
                    sent=False,
                    timed_out=isinstance(exc, asyncio.TimeoutError),
                ) from exc
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise SendError(
                    str(exc) or type(exc).__name__,
                    sent=True,
                    timed_out=isinstance(exc, asyncio.TimeoutError),
                ) from exc
            headers = {k.lower(): v for k, v in response.headers.items()}
            return Opened(
                response.status, headers, self._body(response, timeout), self._closer(response)
            )

        return await follow_redirects(once, request, trusted_host)

    def _form(self, request: Request) -> Any:
        if request.content is not None:
            return request.content
        if request.files is None and request.data is None:
            return None
        form = self._aiohttp.FormData()
        for name, value in (request.data or {}).items():
            form.add_field(name, value)
        for name, (filename, data, content_type) in (request.files or {}).items():
            form.add_field(name, data, filename=filename, content_type=content_type)
        return form

    async def _body(self, response: Any, timeout: float) -> AsyncIterator[bytes]:
        aiohttp = self._aiohttp
        try:
            async for chunk in paced(response.content.iter_chunked(CHUNK_SIZE), timeout):
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SendError(
                f"connection lost reading the response: {exc or type(exc).__name__}",
                sent=True,
                timed_out=isinstance(exc, asyncio.TimeoutError),
            ) from exc

    @staticmethod
    def _closer(response: Any) -> Callable[[], Awaitable[None]]:
        async def close() -> None:
            # A fully read body returns the connection to the pool; a partly read one
            # closes it, so no stray bytes reach the next request.
            response.release()

        return close

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class HttpxTransport:
    """Requests through ``httpx``: over the network (``transport=None``) or to an in-process
    server (an ``httpx`` transport such as the ``local`` engine's)."""

    def __init__(self, transport: Any = None) -> None:
        import httpx

        self._httpx = httpx
        self._client = httpx.AsyncClient(
            transport=transport,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
        )

    async def send(self, request: Request, *, timeout: float, trusted_host: str | None) -> Opened:
        httpx = self._httpx
        limits = httpx.Timeout(timeout, connect=min(timeout, DEFAULT_CONNECT_TIMEOUT))

        async def once(hop: Request) -> Opened:
            built = self._client.build_request(
                hop.method,
                hop.url,
                headers=hop.headers,
                params=hop.params or None,
                json=hop.json,
                data=hop.data,
                files=hop.files,
                content=hop.content,
                timeout=limits,
            )
            try:
                async with asyncio.timeout(_headers_deadline(timeout, DEFAULT_CONNECT_TIMEOUT)):
                    response = await self._client.send(built, stream=True)
            except TimeoutError as exc:
                raise SendError(
                    "the response headers did not arrive in time", sent=True, timed_out=True
                ) from exc
            except httpx.HTTPError as exc:
                not_sent = isinstance(
                    exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
                )
                raise SendError(
                    str(exc) or type(exc).__name__,
                    sent=not not_sent,
                    timed_out=isinstance(exc, httpx.TimeoutException),
                ) from exc
            return Opened(
                response.status_code,
                {k.lower(): v for k, v in response.headers.items()},
                self._body(response, timeout),
                response.aclose,
            )

        return await follow_redirects(once, request, trusted_host)

    async def _body(self, response: Any, timeout: float) -> AsyncIterator[bytes]:
        httpx = self._httpx
        try:
            async for chunk in paced(response.aiter_bytes(CHUNK_SIZE), timeout):
                yield chunk
        except httpx.HTTPError as exc:
            raise SendError(
                f"connection lost reading the response: {exc or type(exc).__name__}",
                sent=True,
                timed_out=isinstance(exc, httpx.TimeoutException),
            ) from exc

    async def aclose(self) -> None:
        await self._client.aclose()


class MockTransport:
    """Answers every request with ``handler(request)`` (a :class:`Response`, or an awaitable
    of one): ``Engine(transport=MockTransport(handler))`` runs any flow without a network, as
    httpx's ``MockTransport`` does for a client. Redirects are followed as on the network."""

    def __init__(self, handler: Callable[[Request], Response | Awaitable[Response]]) -> None:
        self._handler = handler

    async def send(self, request: Request, *, timeout: float, trusted_host: str | None) -> Opened:
        async def once(hop: Request) -> Opened:
            answer = self._handler(hop)
            response = await answer if inspect.isawaitable(answer) else answer
            headers = {k.lower(): v for k, v in response.headers.items()}
            return Opened(response.status_code, headers, _one_chunk(response.content), _noop)

        return await follow_redirects(once, request, trusted_host)

    async def aclose(self) -> None:
        pass


async def _one_chunk(content: bytes) -> AsyncIterator[bytes]:
    if content:
        yield content


async def _noop() -> None:
    pass


def _headers_deadline(timeout: float, connect_timeout: float) -> float:
    """How long one hop may take to bring its headers: connecting, then ``timeout``."""
    return min(timeout, connect_timeout) + timeout
