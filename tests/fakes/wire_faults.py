"""A small HTTP/1.1 proxy that sits in front of any fake upstream and misbehaves on the wire.

The fakes inject faults as *answers* (a 429 with a body); what they cannot do is break the
connection itself. This proxy forwards each request to the fake (over a fresh connection, so
the fake's state moves exactly as it would without the proxy) and, for a request a fault
matches, answers the gateway the way real networks, CDNs and load balancers fail:

============================  ==============================================================
``Reset``                     The connection is reset (RST) part-way through the response:
                              a pod restarted or a load balancer dropped an idle upstream
                              during a deploy (``ECONNRESET`` mid-body).
``Stall(at="headers")``       The request is accepted and nothing comes back: a hung backend
                              behind a proxy that keeps the socket open.
``Stall(at="body")``          Headers and part of the body, then silence (a stalled CDN edge).
``Trickle``                   The body arrives a byte at a time, each byte just inside any
                              per-read timeout (a slow-loris upstream).
``Truncate``                  The connection closes cleanly (FIN) after part of the body: fewer
                              bytes than ``Content-Length`` (a CDN edge cut off mid-object).
``ShortLength``               A ``Content-Length`` smaller than the body sent after it (a
                              buggy compressing proxy that counts the wrong bytes).
``ShortBody``                 A consistent but short answer: ``Content-Length`` and body both
                              cut to ``fraction`` (a CDN edge serving a partly cached object
                              as if whole). Nothing on the wire is wrong; only the content is.
``HtmlError``                 A load balancer's HTML error page (nginx/Cloudflare-style
                              ``502 Bad Gateway``): providers.md §5 lists 502/503/504 as the
                              statuses to retry; the page is not JSON. Not forwarded.
``Status``                    A plain 5xx (a burst of ``503 Service Unavailable`` while the
                              provider sheds load, providers.md §5 and §7). Not forwarded.
``InvalidJson``               The request is forwarded (the provider acts on it), but the 200
                              that comes back is not JSON (a truncated write, a captive page).
``Flood``                     An endless answer (``size`` bytes, declared or chunked): a hostile
                              or broken upstream that would make the gateway hold gigabytes.
                              Not forwarded.
``Redirect``                  ``302`` to an address the gateway must never fetch: the cloud
                              metadata service (169.254.169.254) or a private network address.
                              Not forwarded.
============================  ==============================================================

:meth:`FaultProxy.refuse_for` closes the listening socket for a while, so new connections
are refused before anything is sent (the one connection failure a create may retry).

Each fault matches requests by method and a path test, ``times`` times. The proxy counts the
requests it saw (``seen``) and the client connections open now (``open_connections``), so a
test can tell whether the gateway still holds connections after a fault.

The proxy runs its own event loop in a thread; every public method is thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

METADATA_URL = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
PRIVATE_URL = "http://10.255.0.7/internal/admin"

_HOP_HEADERS = frozenset(
    {b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"proxy-connection"}
)
_REASONS = {200: "OK", 302: "Found", 500: "Internal Server Error", 502: "Bad Gateway"}
_REASONS |= {503: "Service Unavailable", 504: "Gateway Timeout"}

NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


# -- faults ----------------------------------------------------------------------------------


@dataclass
class Fault:
    """What to do instead of answering normally; subclasses say what (see module docs)."""

    method: str | None = None
    path: Callable[[str], bool] | None = None
    times: int = 1
    served: int = 0
    forward: bool = True  # whether the fake sees the request at all

    def matches(self, method: str, path: str) -> bool:
        return (
            self.served < self.times
            and (self.method is None or self.method == method)
            and (self.path is None or self.path(path))
        )


@dataclass
class Reset(Fault):
    """Headers and ``fraction`` of the body, then a TCP reset; a negative ``fraction``
    resets before the headers."""

    fraction: float = 0.5


@dataclass
class Stall(Fault):
    """Nothing (``at="headers"``) or headers and half the body (``at="body"``), then hold the
    connection open until the client gives up."""

    at: Literal["headers", "body"] = "headers"


@dataclass
class Trickle(Fault):
    """The whole response, one body byte every ``delay`` seconds."""

    delay: float = 0.05


@dataclass
class Truncate(Fault):
    """The true ``Content-Length``, ``fraction`` of the body, then a clean close."""

    fraction: float = 0.5


@dataclass
class ShortLength(Fault):
    """``Content-Length`` says ``fraction`` of the body; the whole body follows, then a close."""

    fraction: float = 0.5


@dataclass
class ShortBody(Fault):
    """``fraction`` of the body, with a ``Content-Length`` that matches it."""

    fraction: float = 0.5


@dataclass
class HtmlError(Fault):
    """A load balancer's HTML error page; the fake never sees the request."""

    status: int = 502
    forward: bool = False


@dataclass
class Status(Fault):
    """A bare error status with a plain-text body; the fake never sees the request."""

    status: int = 503
    forward: bool = False


@dataclass
class InvalidJson(Fault):
    """The fake answers; the gateway gets ``200`` with ``body`` as ``application/json``."""

    body: bytes = b'{"id": "job_'


@dataclass
class Flood(Fault):
    """``status`` with ``size`` bytes of JSON-ish filler, streamed; ``sent`` counts what was
    written before the client hung up."""

    status: int = 200
    size: int = 64 * 1024 * 1024
    chunked: bool = False
    sent: int = 0
    forward: bool = False


@dataclass
class Redirect(Fault):
    """``302`` to ``location``; the fake never sees the request."""

    location: str = METADATA_URL
    forward: bool = False


@dataclass
class Seen:
    method: str
    path: str
    fault: str | None  # the fault's class name, when one answered it


# -- HTTP/1.1 framing ------------------------------------------------------------------------


@dataclass
class _Message:
    start: bytes  # request or status line, without CRLF
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


async def _read_message(reader: asyncio.StreamReader, *, to_eof: bool) -> _Message:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    message = _Message(lines[0])
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        message.headers.append((name.strip(), value.strip()))
    if (message.header(b"transfer-encoding") or b"").lower() == b"chunked":
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers from our peers
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        message.body = bytes(body)
    elif (length := message.header(b"content-length")) is not None:
        message.body = await reader.readexactly(int(length))
    elif to_eof:
        message.body = await reader.read()
    return message


def _head(start: bytes, headers: list[tuple[bytes, bytes]], length: int) -> bytes:
    lines = [start] + [k + b": " + v for k, v in headers if k.lower() not in _HOP_HEADERS]
    lines.append(b"content-length: " + str(length).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _status_line(status: int) -> bytes:
    return f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}".encode()


# -- the proxy -------------------------------------------------------------------------------


class FaultProxy:
    """Forwards to ``target`` (``http://127.0.0.1:PORT``), misbehaving where a fault says."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        assert parts.hostname and parts.port, target
        self._target = (parts.hostname, parts.port)
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.seen: list[Seen] = []
        self._open: set[asyncio.StreamWriter] = set()
        self._idle: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._stopping = asyncio.Event()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- control, from any thread ------------------------------------------------------------

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.seen.clear()

    def requests(self, method: str, path: Callable[[str], bool]) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.method == method and path(s.path)]

    @property
    def open_connections(self) -> int:
        return self._call(self._count_open)

    def refuse_for(self, seconds: float) -> None:
        """Stop listening (new connections are refused) and close idle keep-alive
        connections, so the next request must connect; listen again after ``seconds``."""
        self._call(self._refuse, seconds)

    def drop_idle(self) -> None:
        """Close every keep-alive connection waiting for its next request."""
        self._call(self._drop_idle)

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._listen)
        return self

    def stop(self) -> None:
        self._call(self._shutdown)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _call(self, fn: Callable[..., object], *args: object) -> int:
        async def run() -> int:
            result = fn(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return int(result or 0)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=10)

    # -- on the proxy's loop -----------------------------------------------------------------

    def _count_open(self) -> int:
        return len(self._open)

    async def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._serve, sock=sock)

    async def _refuse(self, seconds: float) -> None:
        assert self._server is not None
        self._server.close()
        self._drop_idle()

        async def reopen() -> None:
            await asyncio.sleep(seconds)
            await self._listen()

        self._loop.create_task(reopen())

    def _drop_idle(self) -> None:
        for writer in list(self._idle):
            writer.close()

    async def _shutdown(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.close()
        for writer in list(self._open):
            writer.transport.abort()
        await asyncio.sleep(0)

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            fault = next((f for f in self._faults if f.matches(method, path)), None)
            if fault is not None:
                fault.served += 1
            name = type(fault).__name__ if fault else None
            self.seen.append(Seen(method, path, name))
            return fault

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            while True:
                self._idle.add(writer)
                try:
                    request = await _read_message(reader, to_eof=False)
                except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                    return
                finally:
                    self._idle.discard(writer)
                method, target = request.start.split(b" ")[:2]
                path = urlsplit(target.decode()).path
                fault = self._take(method.decode(), path)
                if fault is None:
                    status, headers, body = await self._forward(request)
                    writer.write(_head(status, headers, len(body)) + body)
                    await writer.drain()
                    continue
                if fault.forward:
                    status, headers, body = await self._forward(request)
                else:
                    status, headers, body = b"", [], b""
                if not await self._misbehave(fault, reader, writer, status, headers, body):
                    return
        except ConnectionError:
            return
        finally:
            self._open.discard(writer)
            writer.close()

    async def _forward(self, request: _Message) -> tuple[bytes, list[tuple[bytes, bytes]], bytes]:
        reader, writer = await asyncio.open_connection(*self._target)
        try:
            headers = [(k, v) for k, v in request.headers if k.lower() not in _HOP_HEADERS]
            headers.append((b"connection", b"close"))
            writer.write(_head(request.start, headers, len(request.body)) + request.body)
            await writer.drain()
            response = await _read_message(reader, to_eof=True)
        finally:
            writer.close()
        return response.start, response.headers, response.body

    async def _misbehave(
        self,
        fault: Fault,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        status: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> bool:
        """Answer as ``fault`` says; ``True`` if the connection may serve another request."""
        if isinstance(fault, Reset):
            if fault.fraction >= 0:
                part = body[: int(len(body) * fault.fraction)]
                writer.write(_head(status, headers, len(body)) + part)
                await writer.drain()
            await asyncio.sleep(0.01)  # let the client read what was sent before the reset
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if isinstance(fault, Stall):
            if fault.at == "body":
                writer.write(_head(status, headers, len(body)) + body[: len(body) // 2])
                await writer.drain()
            await self._until_client_leaves(reader)
            return False
        if isinstance(fault, Trickle):
            writer.write(_head(status, headers, len(body)))
            for i in range(len(body)):
                if writer.is_closing() or self._stopping.is_set():
                    return False
                writer.write(body[i : i + 1])
                await writer.drain()
                await asyncio.sleep(fault.delay)
            return True
        if isinstance(fault, Truncate):
            writer.write(
                _head(status, headers, len(body)) + body[: int(len(body) * fault.fraction)]
            )
            await writer.drain()
            return False
        if isinstance(fault, ShortLength):
            writer.write(_head(status, headers, int(len(body) * fault.fraction)) + body)
            await writer.drain()
            await asyncio.sleep(0.05)  # the stray bytes sit on the connection, then it closes
            return False
        if isinstance(fault, ShortBody):
            part = body[: int(len(body) * fault.fraction)]
            writer.write(_head(status, headers, len(part)) + part)
            await writer.drain()
            return True
        if isinstance(fault, Flood):
            await self._flood(fault, writer)
            return False
        if isinstance(fault, HtmlError):
            head = [(b"content-type", b"text/html"), (b"server", b"nginx")]
            writer.write(_head(_status_line(fault.status), head, len(NGINX_502)) + NGINX_502)
        elif isinstance(fault, Status):
            text = f"upstream unavailable ({fault.status})".encode()
            head = [(b"content-type", b"text/plain")]
            writer.write(_head(_status_line(fault.status), head, len(text)) + text)
        elif isinstance(fault, InvalidJson):
            head = [(b"content-type", b"application/json")]
            writer.write(_head(_status_line(200), head, len(fault.body)) + fault.body)
        elif isinstance(fault, Redirect):
            head = [(b"location", fault.location.encode())]
            writer.write(_head(_status_line(302), head, 0))
        else:  # pragma: no cover - every fault is handled above
            raise AssertionError(f"unknown fault {fault!r}")
        await writer.drain()
        return True

    async def _flood(self, fault: Flood, writer: asyncio.StreamWriter) -> None:
        head = [(b"content-type", b"application/json")]
        if fault.chunked:
            lines = [_status_line(fault.status), b"content-type: application/json"]
            writer.write(b"\r\n".join([*lines, b"transfer-encoding: chunked"]) + b"\r\n\r\n")
        else:
            writer.write(_head(_status_line(fault.status), head, fault.size))
        piece = b"[" + b" " * (64 * 1024 - 1)
        while fault.sent < fault.size and not self._stopping.is_set():
            data = piece[: fault.size - fault.sent]
            writer.write(b"%x\r\n%s\r\n" % (len(data), data) if fault.chunked else data)
            await writer.drain()  # raises once the client has closed
            fault.sent += len(data)

    async def _until_client_leaves(self, reader: asyncio.StreamReader) -> None:
        stop = asyncio.ensure_future(self._stopping.wait())
        read = asyncio.ensure_future(reader.read())
        try:
            await asyncio.wait({stop, read}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            read.cancel()


@contextlib.contextmanager
def proxy_for(target: str) -> Iterator[FaultProxy]:
    """A started :class:`FaultProxy` in front of ``target``; stopped on exit."""
    proxy = FaultProxy(target).start()
    try:
        yield proxy
    finally:
        proxy.stop()
