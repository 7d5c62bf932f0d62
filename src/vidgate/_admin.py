"""A gateway's admin API (``/key/*``, ``/spend/logs``) from Python, through the same engine
as every other call: ``GatewayAdmin(base_url, master_key)``. The CLI's ``keys`` and ``spend``
commands use it, so they make no HTTP call of their own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._engine import Engine
from ._models import Credentials, Request
from .providers import Provider
from .providers.openai import OpenAIProvider

ADMIN_TIMEOUT = 30.0


class GatewayAdmin:
    """Async client of one gateway's admin routes (master key, or a virtual key for its own
    info). Errors are the SDK's exceptions, read from the gateway's OpenAI error envelope."""

    def __init__(
        self,
        base_url: str,
        key: str | None = None,
        *,
        engine: Engine | None = None,
        timeout: float = ADMIN_TIMEOUT,
    ) -> None:
        root = base_url.rstrip("/").removesuffix("/v1")
        # The gateway speaks OpenAI's error envelope: its adapter reads the errors, and its
        # api_base (the gateway) is the host the engine trusts.
        self._peer: Provider = OpenAIProvider(Credentials(api_key=key, api_base=root))
        self._root = root
        self._engine = engine or Engine(max_retries=0)
        self._timeout = timeout

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        request = Request(
            method,
            f"{self._root}{path}",
            self._peer.headers(),
            params=dict(params or {}),
            json=dict(body) if body is not None else None,
        )
        response = await self._engine.send(self._peer, request, timeout=self._timeout)
        return response.json()

    async def generate_key(self, **fields: Any) -> dict[str, Any]:
        """``POST /key/generate``: a new key (its secret is in this answer only)."""
        created: dict[str, Any] = await self._call("POST", "/key/generate", body=fields)
        return created

    async def list_keys(self) -> list[dict[str, Any]]:
        """``GET /key/list``: every key, never their secrets."""
        keys: list[dict[str, Any]] = (await self._call("GET", "/key/list"))["keys"]
        return keys

    async def key_info(self, *, key: str | None = None, key_id: str | None = None) -> Any:
        """``POST /key/info``: a key's settings and spend (the key goes in the body)."""
        return await self._call("POST", "/key/info", body={"key": key, "key_id": key_id})

    async def delete_keys(
        self, *, keys: list[str] | None = None, key_ids: list[str] | None = None
    ) -> list[str]:
        """``POST /key/delete``: revoke keys; returns the ids revoked."""
        body = {"keys": keys or [], "key_ids": key_ids or []}
        deleted: list[str] = (await self._call("POST", "/key/delete", body=body))["deleted_keys"]
        return deleted

    async def spend_logs(self, **params: str) -> list[dict[str, Any]]:
        """``GET /spend/logs``: spend per video, newest first."""
        entries: list[dict[str, Any]] = await self._call("GET", "/spend/logs", params=params)
        return entries

    async def aclose(self) -> None:
        await self._engine.aclose()
