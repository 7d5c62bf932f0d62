"""``vidgate spend``: what videos cost on a running gateway, as a table.

Reads ``GET /spend/logs`` with the master key (every key) or a virtual key (its own).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from . import _render
from ._common import JsonOption
from .keys import DEFAULT_GATEWAY, GatewayOption, MasterKeyOption, admin

_HEADERS = ("VIDEO", "KEY", "MODEL", "STATUS", "SECONDS", "SIZE", "COST", "CREATED")


def spend(
    gateway: GatewayOption = DEFAULT_GATEWAY,
    master_key: MasterKeyOption = None,
    key_id: Annotated[str | None, typer.Option(help="Only this key's videos.")] = None,
    model: Annotated[str | None, typer.Option(help="Only this public model.")] = None,
    start_date: Annotated[str | None, typer.Option(help="From this day (YYYY-MM-DD, UTC).")] = None,
    end_date: Annotated[str | None, typer.Option(help="Up to this day, inclusive.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many entries.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Show spend per video, newest first, with the total."""
    params = {"limit": str(limit)}
    for name, value in (
        ("key_id", key_id),
        ("model", model),
        ("start_date", start_date),
        ("end_date", end_date),
    ):
        if value:
            params[name] = value
    entries = admin(gateway, master_key).call("spend_logs", **params)
    if as_json:
        _render.json_out(json.dumps(entries, indent=2))
        return
    rows = [
        [
            e["request_id"],
            e["key_id"],
            e["model"],
            ("refunded" if e.get("refunded") else e["status"])
            + (" (deleted)" if e.get("deleted") else ""),
            str(e["seconds"]),
            e["size"],
            _render.cost(e["spend"]),
            _render.timestamp(e["created_at"]),
        ]
        for e in entries
    ]
    _render.table(_HEADERS, rows)
    total = sum(float(e["spend"]) for e in entries)
    _render.plain(f"total {_render.cost(total)} over {len(entries)} video(s)")
