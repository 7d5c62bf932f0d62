"""Run a gateway on uvicorn: what ``vidgate serve`` and ``python -m vidgate.gateway`` share.

With no config it serves the offline ``local`` engine (model ``local/preview``) on SQLite and
a local storage directory under ``$VIDGATE_HOME``. Without a strong master key it will only
listen on loopback, and then runs open (no key needed) for local use. SIGTERM stops taking
new connections and lets in-flight requests finish before exiting.
"""

from __future__ import annotations

import logging
import os
import sys

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4000
GRACEFUL_SHUTDOWN_SECONDS = 30


def run(
    *,
    config: str | os.PathLike[str] | None = None,
    host: str | None = None,
    port: int | None = None,
    log_level: str = "info",
    role: str | None = None,
) -> int:
    """Serve until stopped; returns the process exit code (2 for a bad config or a refused
    address, with the reason on stderr)."""
    import uvicorn

    from .app import create_app
    from .config import ConfigError, load_settings
    from .policy import bind_refusal

    try:
        settings = load_settings(config)
        if role is not None:
            if role not in ("all", "api", "worker"):
                raise ConfigError(f"--role: '{role}' is not one of all, api, worker")
            settings.general_settings.role = role  # type: ignore[assignment]
        app = create_app(settings)
    except ConfigError as exc:
        _say(f"bad config: {exc}")
        return 2
    host = host or settings.general_settings.host or DEFAULT_HOST
    port = port if port is not None else (settings.general_settings.port or DEFAULT_PORT)
    refusal = bind_refusal(host, settings.master_key)
    if refusal:
        _say(refusal)
        return 2
    if settings.master_key is None:
        _say(
            "no master key set: running open on loopback (any client on this machine may call "
            "without a key). Set VIDGATE_MASTER_KEY to require keys."
        )
    if settings.uses_local_default:
        print("vidgate serve: no config: serving the offline engine as 'local/preview'.")
    print(f"vidgate serve: listening on http://{_url_host(host)}:{port}/v1", flush=True)
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
    return 0


def _say(message: str) -> None:
    print(f"vidgate serve: {message}", file=sys.stderr, flush=True)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
