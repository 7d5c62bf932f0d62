"""``vidgate serve``: run the gateway on uvicorn (see :mod:`vidgate.gateway.server`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


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
    role: Annotated[
        str | None,
        typer.Option(help="all (default), api (answers clients) or worker (polls providers)."),
    ] = None,
) -> None:
    """Run the OpenAI-compatible gateway (POST /v1/videos, ...)."""
    from ..gateway.server import run

    code = run(config=config, host=host, port=port, log_level=log_level, role=role)
    if code:
        raise typer.Exit(code)


app = typer.Typer(add_completion=False)
app.command()(serve)

if __name__ == "__main__":  # ``python -m vidgate.cli.serve``
    app()
