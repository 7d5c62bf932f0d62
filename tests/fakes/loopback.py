"""Run any ASGI app on a free loopback port in a background thread, for fake upstreams."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn


@contextlib.contextmanager
def serve_on_loopback(
    app: Any, *, startup_timeout: float = 10.0
) -> Iterator[tuple[str, uvicorn.Server]]:
    """Serve ``app`` with uvicorn on 127.0.0.1; yields ``("http://127.0.0.1:PORT", server)``.

    The listening socket is made with ``IPPROTO_TCP`` so asyncio sets ``TCP_NODELAY`` on
    accepted connections (without it, keep-alive responses stall ~40 ms on Nagle + delayed
    ACK). Readiness is awaited by polling ``server.started``; no fixed sleeps.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        http="h11",
        loop="asyncio",
        lifespan="auto",
        access_log=False,
        log_level="warning",
        log_config=None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"fake-{port}", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("fake upstream failed to start")
            if time.monotonic() > deadline:
                raise TimeoutError("fake upstream did not start in time")
            time.sleep(0.002)
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5)
        sock.close()
