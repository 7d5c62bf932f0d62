"""Who may reach a gateway without a strong master key: loopback only.

Decided here, in the app, so every way of running it gets the same refusal: ``vidgate
serve`` and ``python -m vidgate.gateway`` refuse to listen beyond loopback at start
(:func:`bind_refusal`), and an app served by any ASGI server (``uvicorn
vidgate.gateway:create_app --factory --host 0.0.0.0``) answers a request that did not arrive
on loopback with a 403 (:class:`LoopbackOnlyMiddleware`).
"""

from __future__ import annotations

import ipaddress
import json

from starlette.types import ASGIApp, Receive, Scope, Send

from .auth import weak_master_key

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """``127.0.0.0/8``, ``::1`` and ``localhost`` are loopback; everything else is not."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def bind_refusal(host: str, master_key: str | None) -> str | None:
    """Why the gateway may not listen on ``host`` with this master key, or ``None``."""
    if is_loopback(host):
        return None
    reason = weak_master_key(master_key)
    if reason is None:
        return None
    return (
        f"Refusing to listen on {host}: {reason}. Anyone who can reach this address could "
        "generate videos on your provider accounts and read every video. Set a long random "
        "master key (general_settings.master_key or VIDGATE_MASTER_KEY, e.g. "
        "`python -c 'import secrets; print(\"sk-\" + secrets.token_urlsafe(32))'`), or "
        "listen on 127.0.0.1."
    )


class LoopbackOnlyMiddleware:
    """Installed when the master key is missing or weak: a request whose connection is not on
    loopback at both ends gets a 403 in the OpenAI envelope, and reaches nothing else."""

    def __init__(self, app: ASGIApp, reason: str) -> None:
        self.app = app
        body = {
            "error": {
                "message": f"This gateway only answers on loopback: {reason}.",
                "type": "invalid_request_error",
                "param": None,
                "code": "loopback_only",
            }
        }
        self._body = json.dumps(body).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not (
            _on_loopback(scope, "client") and _on_loopback(scope, "server")
        ):
            await send(
                {
                    "type": "http.response.start",
                    "status": 403,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(self._body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": self._body})
            return
        await self.app(scope, receive, send)


# The names Starlette's and httpx's in-process test clients put in the scope: no socket.
_IN_PROCESS = frozenset({"testclient", "testserver"})


def _on_loopback(scope: Scope, end: str) -> bool:
    address = scope.get(end)
    # No address (a Unix socket) or an in-process client: not a network peer.
    return not address or is_loopback(str(address[0])) or str(address[0]) in _IN_PROCESS
