"""``vidgate serve``: run the gateway on uvicorn.

With no config it serves the offline ``local`` engine (model ``local/preview``) on SQLite and
a local storage directory under ``$VIDGATE_HOME``. Without a strong master key it will only
listen on loopback, and then runs open (no key needed) for local use. SIGTERM stops taking
new connections and lets in-flight requests finish before exiting.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4000
GRACEFUL_SHUTDOWN_SECONDS = 30


def is_loopback(host: str) -> bool:
    """``127.0.0.0/8``, ``::1`` and ``localhost`` are loopback; everything else is not."""
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_refusal(host: str, master_key: str | None) -> str | None:
    """Why the gateway may not listen on ``host`` with this master key, or ``None``."""
    from ..gateway.auth import weak_master_key

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


def serve(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML config (model_list, general_settings, ...)."),
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 4000).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the OpenAI-compatible gateway (POST /v1/videos, ...)."""
    import uvicorn

    from ..gateway import ConfigError, create_app, load_settings

    try:
        settings = load_settings(config)
        app = create_app(settings)
    except ConfigError as exc:
        typer.echo(f"vidgate serve: bad config: {exc}", err=True)
        raise typer.Exit(2) from None
    host = host or settings.general_settings.host or DEFAULT_HOST
    port = port if port is not None else (settings.general_settings.port or DEFAULT_PORT)
    refusal = bind_refusal(host, settings.master_key)
    if refusal:
        typer.echo(f"vidgate serve: {refusal}", err=True)
        raise typer.Exit(2)
    if settings.master_key is None:
        typer.echo(
            "vidgate serve: no master key set: running open on loopback (any client on this "
            "machine may call without a key). Set VIDGATE_MASTER_KEY to require keys.",
            err=True,
        )
    if settings.uses_local_default:
        typer.echo("vidgate serve: no config: serving the offline engine as 'local/preview'.")
    typer.echo(f"vidgate serve: listening on http://{_url_host(host)}:{port}/v1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if log_level.lower() in ("debug", "trace"):
        # vidgate's own debug lines (each upstream request, redacted); libraries stay quiet.
        logging.getLogger("vidgate").setLevel(logging.DEBUG)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        access_log=log_level == "debug",
    )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


app = typer.Typer(add_completion=False)
app.command()(serve)

if __name__ == "__main__":  # ``python -m vidgate.cli.serve``, used by tests
    app()
