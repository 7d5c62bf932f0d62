"""Google API plumbing shared by the ``vertex`` and ``gemini`` adapters, kept sans-IO.

* OAuth 2.0 access tokens for Vertex AI (providers.md §3: "Authorization: Bearer <OAuth access
  token> (ADC / service account)"; Addenda: "Tokens come from service-account credentials
  through google-auth (``token_uri`` in the credentials file)"). The JWT assertion is signed
  locally with google-auth's signing primitives (``google.auth.crypt`` + ``google.auth.jwt``);
  google-auth never performs HTTP here. The token exchange (RFC 7523 jwt-bearer grant,
  ``POST {token_uri}``) is a :class:`Request` the calling flow yields, so the engine sends it
  with its usual retries and timeouts, and tests serve it from a fake.
* ``google.rpc`` error bodies (``{"error": {"code", "message", "status", "details"}}``,
  providers.md §2.1 "Errors") turned into vidgate exceptions.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.auth import crypt, jwt

from .._constants import USER_AGENT
from .._exceptions import APIStatusError, AuthenticationError, error_for_status
from .._models import Flow, Request, Response

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 3600  # seconds; Google accepts at most one hour
REFRESH_MARGIN = 300  # a cached token is renewed this many seconds before it expires


@dataclass(frozen=True)
class ServiceAccount:
    """The fields of a service-account key file that signing and the exchange need."""

    email: str
    private_key: str
    private_key_id: str | None
    token_uri: str
    project_id: str | None

    @classmethod
    def from_info(cls, info: Mapping[str, Any]) -> ServiceAccount:
        if info.get("type", "service_account") != "service_account":
            raise _auth_error(
                f"Google credentials of type '{info.get('type')}' are not supported: pass a "
                "service-account key (JSON or its path) or an OAuth access token."
            )
        email, key = info.get("client_email"), info.get("private_key")
        if not isinstance(email, str) or not isinstance(key, str):
            raise _auth_error("The service-account key has no client_email or private_key.")
        return cls(
            email=email,
            private_key=key,
            private_key_id=info.get("private_key_id"),
            token_uri=str(info.get("token_uri") or DEFAULT_TOKEN_URI),
            project_id=info.get("project_id"),
        )

    def assertion(self, *, scope: str, now: float) -> str:
        """The signed JWT the token endpoint exchanges for an access token."""
        info = {"private_key": self.private_key, "private_key_id": self.private_key_id}
        try:
            signer = crypt.RSASigner.from_service_account_info(info)  # type: ignore[no-untyped-call]
        except ValueError as exc:
            raise _auth_error(f"The service-account private key cannot be read: {exc}") from exc
        issued = int(now)
        claims = {
            "iss": self.email,
            "scope": scope,
            "aud": self.token_uri,
            "iat": issued,
            "exp": issued + ASSERTION_LIFETIME,
        }
        token: bytes = jwt.encode(signer, claims)  # type: ignore[no-untyped-call]
        return token.decode("ascii")


@dataclass(frozen=True)
class GoogleCredentials:
    """Either a service account (tokens minted and cached) or a ready access token."""

    service_account: ServiceAccount | None = None
    access_token: str | None = None


def load_credentials(value: str | None) -> GoogleCredentials:
    """Credentials from ``api_key`` / ``GOOGLE_APPLICATION_CREDENTIALS``: a service-account
    key as JSON text or as a path to the file, else an OAuth access token.

    Raises:
        AuthenticationError: nothing given, or a key file that cannot be used (before any
            request is sent).
    """
    if not value or not value.strip():
        raise _auth_error(
            "No Google credentials: pass api_key (a service-account key as JSON or its path, "
            "or an access token) or set GOOGLE_APPLICATION_CREDENTIALS."
        )
    text = value.strip()
    if is_key_file_path(text):
        # Files are read by the credential resolver (``vidgate._prepare``), never here.
        raise _auth_error(
            "The Google credentials name a file; the file was not read (credentials are "
            "resolved by the SDK or the gateway, which read key files)."
        )
    if not text.startswith("{"):
        return GoogleCredentials(access_token=text)
    try:
        info = json.loads(text)
    except ValueError as exc:
        raise _auth_error(f"The Google credentials are not valid JSON: {exc}") from exc
    if not isinstance(info, dict):
        raise _auth_error("The Google credentials JSON must be an object.")
    return GoogleCredentials(service_account=ServiceAccount.from_info(info))


def is_key_file_path(value: str) -> bool:
    """Whether a Google credential names a key file rather than holding the key's JSON text or
    an OAuth access token. Pure (looks at the text, touches no file), for the credential
    resolver (``vidgate._prepare``), which reads such files and hands adapters the JSON.

    Example:
        >>> is_key_file_path("/etc/vidgate/sa.json"), is_key_file_path('{"type": "x"}')
        (True, False)
    """
    text = value.strip()
    return bool(text) and not text.startswith("{") and (os.sep in text or text.endswith(".json"))


class TokenCache:
    """Access tokens by (service-account email, scope), each kept until ``REFRESH_MARGIN``
    seconds before it expires. Thread-safe: the sync facade and the gateway drive flows from
    several threads.

    Bounded: one entry per service account (the scope is fixed), never one per job, and a
    lookup drops every entry past its use, so it holds only the accounts used within the
    last hour."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str], now: float) -> str | None:
        with self._lock:
            stale = [
                k for k, (_, expires) in self._tokens.items() if now >= expires - REFRESH_MARGIN
            ]
            for k in stale:
                del self._tokens[k]
            entry = self._tokens.get(key)
            return None if entry is None else entry[0]

    def put(self, key: tuple[str, str, str], token: str, expires_at: float) -> None:
        with self._lock:
            self._tokens[key] = (token, expires_at)

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


# Module-level on purpose: adapters are built afresh for every SDK call (``_client._provider``)
# and hold no state, so a token minted by one call would otherwise be thrown away and every
# poll would pay a token exchange. Tokens are bearer secrets scoped to one service account and
# expire within the hour; nothing else is kept here. Tests call ``TOKEN_CACHE.clear()``.
TOKEN_CACHE = TokenCache()


def access_token(
    creds: GoogleCredentials,
    *,
    scope: str = CLOUD_PLATFORM_SCOPE,
    clock: Callable[[], float] = time.time,
) -> Flow[str]:
    """A sub-flow (``token = yield from access_token(creds)``) that returns a bearer token,
    yielding the token exchange only when no unexpired token is cached.

    The one clock an adapter reads: whether a cached token is still good, and the signed
    assertion's issue time, are decided before any request, so no response can carry that
    time (``clock`` is injectable for tests). The token's expiry is counted from the exchange
    response's ``received_at``, the engine's time."""
    if creds.access_token is not None:
        return creds.access_token
    account = creds.service_account
    assert account is not None, "GoogleCredentials holds a service account or a token"
    # A token is good only at the endpoint that minted it: two token URIs (two projects'
    # emulators, or a gateway and a test double in one process) never share one.
    key = (account.email, scope, account.token_uri)
    now = clock()
    cached = TOKEN_CACHE.get(key, now)
    if cached is not None:
        return cached
    response = yield Request(
        "POST",
        account.token_uri,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        data={"grant_type": JWT_BEARER_GRANT, "assertion": account.assertion(scope=scope, now=now)},
    )
    body = response.json()
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise _auth_error("The Google token endpoint answered without an access_token.")
    expires_in = body.get("expires_in", ASSERTION_LIFETIME)
    TOKEN_CACHE.put(key, token, response.received_at + float(expires_in))
    return token


def token_endpoint_error(response: Response) -> APIStatusError | None:
    """An OAuth error body (``{"error": "invalid_grant", "error_description": ...}``) from the
    token endpoint: a refused key is an authentication failure whatever the status."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return None
    if response.status_code == 429 or response.status_code >= 500:
        return google_error(response)
    reason = body.get("error_description") or body["error"]
    return _auth_error(
        f"Google refused the service-account credentials: {reason}",
        code=str(body["error"]),
        body=body,
        headers=response.headers,
    )


def google_error(response: Response, *, auth: bool = False) -> APIStatusError:
    """The exception for a ``google.rpc`` error body. ``auth`` forces
    :class:`AuthenticationError` (a key Google did not accept, whatever the status)."""
    message = f"HTTP {response.status_code}"
    code: str | None = None
    body: Any = None
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        body = parsed["error"]
        message = str(body.get("message") or message)
        code = str(body.get("status") or body.get("code") or "") or None
    elif isinstance(parsed, list) and parsed and isinstance(parsed[0], dict):
        # Some Google front ends wrap the envelope in a one-element list.
        return google_error(
            Response(response.status_code, response.headers, json.dumps(parsed[0]).encode()),
            auth=auth,
        )
    elif response.content:
        body = response.text
        message = response.summary()
    cls = AuthenticationError if auth else error_for_status(response.status_code)
    return cls(
        message,
        status_code=401 if auth else response.status_code,
        code=code,
        body=body,
        headers=dict(response.headers),
        request_id=response.headers.get("x-request-id"),
    )


def error_reasons(response: Response) -> list[str]:
    """The ``reason`` of each ``google.rpc.ErrorInfo`` in an error body's ``details``."""
    try:
        parsed = response.json()
    except ValueError:
        return []
    error = parsed.get("error") if isinstance(parsed, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    if not isinstance(details, list):
        return []
    return [str(d["reason"]) for d in details if isinstance(d, dict) and d.get("reason")]


def _auth_error(
    message: str,
    *,
    code: str = "invalid_credentials",
    body: object | None = None,
    headers: Mapping[str, str] | None = None,
) -> AuthenticationError:
    return AuthenticationError(
        message, status_code=401, code=code, body=body, headers=dict(headers or {})
    )
