"""Who is calling: the master key, a virtual key, or (no master key, loopback only) anyone.

``Authorization: Bearer <key>`` (or ``api-key: <key>``, as Azure clients send). Keys are
compared by their SHA-256 in constant time. With no master key configured, ``vidgate serve``
only binds to loopback and runs *open*: a request without a virtual key acts as the local
owner ``local`` with admin rights (anyone on this machine can read the database file anyway);
a virtual key (``sk-vg-…``) still identifies its key, and an unknown one is still a 401.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from .._exceptions import AuthenticationError, PermissionDeniedError
from .store import KeyRecord
from .store.keys import KEY_PREFIX, hash_key

# Looks a key record up by the SHA-256 of the key.
KeyFinder = Callable[[str], KeyRecord | None]

MASTER_OWNER = "master"
OPEN_OWNER = "local"

# Master keys that appear in public docs and examples; with one of these (or a short key)
# the gateway refuses to listen beyond loopback.
KNOWN_WEAK_KEYS = frozenset(
    {
        "sk-1234",
        "sk-12345",
        "sk-123456",
        "sk-test",
        "sk-master",
        "sk-admin",
        "sk-litellm",
        "changeme",
        "change-me",
        "password",
        "secret",
        "admin",
        "master",
        "test",
        "1234",
    }
)
MIN_PUBLIC_KEY_LENGTH = 16


def weak_master_key(key: str | None) -> str | None:
    """Why ``key`` may not guard a public address, or ``None`` if it may."""
    if not key:
        return "no master key is set (general_settings.master_key or VIDGATE_MASTER_KEY)"
    if key.lower() in KNOWN_WEAK_KEYS:
        return f"the master key '{key}' is publicly known"
    if len(key) < MIN_PUBLIC_KEY_LENGTH:
        return f"the master key is shorter than {MIN_PUBLIC_KEY_LENGTH} characters"
    return None


@dataclass(frozen=True)
class Caller:
    """The authenticated principal of a request."""

    owner: str  # key id that owns what this caller creates
    admin: bool
    key: KeyRecord | None = None

    def may_use(self, model: str) -> bool:
        return self.key is None or not self.key.models or model in self.key.models


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    api_key = request.headers.get("api-key", "").strip()
    return api_key or None


def master_caller(token: str | None, master_key: str | None) -> Caller | None:
    """The master caller if ``token`` is the master key (no database needed), else ``None``."""
    if master_key and token and hmac.compare_digest(token.encode(), master_key.encode()):
        return Caller(owner=MASTER_OWNER, admin=True)
    return None


def check_key(
    token: str | None,
    *,
    master_key: str | None,
    find: KeyFinder,
    now: float | None = None,
) -> Caller:
    """The caller a token stands for.

    Raises:
        AuthenticationError: missing, unknown, revoked or expired key.
    """
    master = master_caller(token, master_key)
    if master is not None:
        return master
    if token is not None and (master_key or token.startswith(KEY_PREFIX)):
        digest = hash_key(token)
        record = find(digest)
        if record is None or not hmac.compare_digest(record.key_hash, digest):
            raise AuthenticationError(
                "Incorrect API key provided.", code="invalid_api_key", param=None
            )
        if record.revoked_at is not None:
            raise AuthenticationError("This API key was revoked.", code="invalid_api_key")
        if record.expires_at is not None and record.expires_at <= (now or time.time()):
            raise AuthenticationError("This API key has expired.", code="expired_api_key")
        return Caller(owner=record.id, admin=False, key=record)
    if master_key:
        raise AuthenticationError(
            "You didn't provide an API key. Send 'Authorization: Bearer <key>'.",
            code="missing_api_key",
        )
    return Caller(owner=OPEN_OWNER, admin=True)


def require_admin(caller: Caller) -> None:
    if not caller.admin:
        raise PermissionDeniedError("Only the master key may do this.", code="master_key_required")
