"""``vidgate keys create|list|info|revoke``: manage a running gateway's virtual keys.

Talks to the gateway through the SDK's ``GatewayAdmin`` with the master key (``--master-key`` or
``VIDGATE_MASTER_KEY``); ``--gateway`` (or ``VIDGATE_API_BASE``) says where it runs.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from . import _render
from ._common import JsonOption

DEFAULT_GATEWAY = "http://127.0.0.1:4000"

GatewayOption = Annotated[
    str,
    typer.Option(
        "--gateway",
        envvar="VIDGATE_API_BASE",
        metavar="URL",
        help="The gateway (http://127.0.0.1:4000; a trailing /v1 is fine).",
    ),
]
MasterKeyOption = Annotated[
    str | None,
    typer.Option(
        "--master-key",
        envvar="VIDGATE_MASTER_KEY",
        metavar="KEY",
        help="The gateway's master key (not needed by a keyless loopback gateway).",
    ),
]

app = typer.Typer(help="Create, list and revoke the gateway's virtual keys.", no_args_is_help=True)


def admin(gateway: str, master_key: str | None) -> Any:
    """The gateway's admin API (see :class:`vidgate._admin.GatewayAdmin`), run from the CLI's
    thread: ``admin(...).call("generate_key", ...)``."""
    from .._admin import GatewayAdmin

    return _SyncAdmin(GatewayAdmin(gateway, master_key))


class _SyncAdmin:
    def __init__(self, client: Any) -> None:
        self._client = client

    def call(self, name: str, **kwargs: Any) -> Any:
        from .. import _sync

        async def once() -> Any:
            try:
                return await getattr(self._client, name)(**kwargs)
            finally:
                await self._client.aclose()

        return _sync.run(once())


def _key_rows(keys: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            k["key_id"],
            k.get("key_alias") or "-",
            k.get("key_name") or "-",
            ", ".join(k.get("models") or []) or "all",
            _render.cost(k.get("spend")),
            "-" if k.get("max_budget") is None else _render.cost(k["max_budget"]),
            str(k.get("rpm_limit") or "-"),
            _render.timestamp(k.get("expires_at")),
            "revoked" if k.get("revoked") else "active",
        ]
        for k in keys
    ]


_HEADERS = ("KEY ID", "ALIAS", "KEY", "MODELS", "SPEND", "BUDGET", "RPM", "EXPIRES", "STATE")


@app.command("create")
def create(
    gateway: GatewayOption = DEFAULT_GATEWAY,
    master_key: MasterKeyOption = None,
    alias: Annotated[str | None, typer.Option(help="A name for the key.")] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="Allowed model (repeatable).")
    ] = None,
    max_budget: Annotated[float | None, typer.Option(help="Spend cap in USD.")] = None,
    rpm_limit: Annotated[int | None, typer.Option(help="Videos started per minute.")] = None,
    duration: Annotated[str | None, typer.Option(help="Lifetime: 30m, 12h, 30d ...")] = None,
    metadata: Annotated[str | None, typer.Option(help="JSON object kept with the key.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a key. Its secret is printed once: store it now."""
    body: dict[str, Any] = {"models": model or []}
    for name, value in (
        ("key_alias", alias),
        ("max_budget", max_budget),
        ("rpm_limit", rpm_limit),
        ("duration", duration),
    ):
        if value is not None:
            body[name] = value
    if metadata:
        try:
            body["metadata"] = json.loads(metadata)
        except ValueError:
            raise typer.BadParameter("must be a JSON object", param_hint="--metadata") from None
    created = admin(gateway, master_key).call("generate_key", **body)
    if as_json:
        _render.json_out(json.dumps(created, indent=2))
        return
    _render.plain(created["key"])
    _render.note(f"key id {created['key_id']}: this secret is shown only once.")


@app.command("list")
def list_keys(
    gateway: GatewayOption = DEFAULT_GATEWAY,
    master_key: MasterKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """List every key (never their secrets)."""
    keys = admin(gateway, master_key).call("list_keys")
    if as_json:
        _render.json_out(json.dumps(keys, indent=2))
        return
    _render.table(_HEADERS, _key_rows(keys))


@app.command("revoke")
def revoke(
    key: Annotated[str, typer.Argument(help="A key id (key_...) or the key itself.")],
    gateway: GatewayOption = DEFAULT_GATEWAY,
    master_key: MasterKeyOption = None,
) -> None:
    """Revoke a key: it stops working at once; its videos and spend history stay."""
    body = {"key_ids": [key]} if key.startswith("key_") else {"keys": [key]}
    deleted = admin(gateway, master_key).call("delete_keys", **body)
    _render.plain(f"revoked {', '.join(deleted)}")
