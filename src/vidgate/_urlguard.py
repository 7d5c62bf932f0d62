"""Outbound URL checks: a download link handed to us by an upstream must not lead the SDK or
the gateway into the machine's own network (cloud metadata, admin ports, private services).

Requests to the provider's configured ``api_base`` host are trusted (the operator chose it).
Any other host, such as a CDN link from a provider's response, must be ``http(s)`` and must
not resolve to a link-local, multicast, reserved or unspecified address; a private or
loopback address is allowed only when it is the configured host itself.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from ._exceptions import PermissionDeniedError

_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def refusal(ip: IPAddress, *, trusted: bool) -> str | None:
    """Why a connection to ``ip`` is refused, or ``None`` if it is allowed."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return f"{ip} is a link-local, multicast or reserved address"
    if (ip.is_private or ip.is_loopback) and not trusted:
        return f"{ip} is a private or loopback address"
    return None


async def check_url(url: str, *, trusted_host: str | None) -> None:
    """Raise ``PermissionDeniedError`` if ``url`` may not be fetched (see module docs)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host and host == (trusted_host or "").lower():
        return
    if parts.scheme not in ("http", "https") or not host:
        raise _refused(url, "only http and https links are followed")
    if host in _METADATA_HOSTS:
        raise _refused(url, f"{host} is a cloud metadata service")
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host,
                parts.port or (443 if parts.scheme == "https" else 80),
                type=socket.SOCK_STREAM,
            )
        except OSError:
            return  # unresolvable: the request itself will fail with a connection error
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    trusted_ips = _literal(trusted_host)
    for ip in addresses:
        reason = refusal(ip, trusted=ip in trusted_ips)
        if reason is not None:
            raise _refused(url, reason)


def _literal(host: str | None) -> set[IPAddress]:
    try:
        return {ipaddress.ip_address(host or "")}
    except ValueError:
        return set()


def _refused(url: str, reason: str) -> PermissionDeniedError:
    shown = urlsplit(url)._replace(query="", fragment="").geturl()
    return PermissionDeniedError(
        f"Refused to fetch {shown}: {reason}.", code="outbound_url_refused", param=None
    )
