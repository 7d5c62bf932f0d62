"""The ``vidgate`` command line (entry point ``vidgate = "vidgate.cli:main"``).

One module per command group (``videos``, ``models``); Rich lives only in ``_render``; every
failure becomes one ``error:`` line and an exit code in ``_common.VidgateGroup``. Only Typer is
imported up front, so ``vidgate --help`` stays fast: each command imports the SDK when it runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from . import keys, models, serve, spend, videos
from ._common import VidgateGroup

__all__ = ["app", "main"]

_VIDEOS = "Videos"
_MODELS = "Models"
GATEWAY_PANEL = "Gateway"

app = typer.Typer(
    name="vidgate",
    cls=VidgateGroup,
    help="One OpenAI-compatible Videos API for every video model. Offline by default: "
    "the local engine renders real MP4s with no key and no network; with --api-base "
    "(or VIDGATE_API_BASE) every command talks to an OpenAI-compatible server instead, "
    "such as a vidgate gateway.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from vidgate import __version__

        typer.echo(f"vidgate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """One OpenAI-compatible Videos API for every video model."""


# -- video commands --------------------------------------------------------------------------
app.command("create", rich_help_panel=_VIDEOS)(videos.create)
app.command("get", rich_help_panel=_VIDEOS)(videos.get)
app.command("list", rich_help_panel=_VIDEOS)(videos.list_videos)
app.command("download", rich_help_panel=_VIDEOS)(videos.download)
app.command("delete", rich_help_panel=_VIDEOS)(videos.delete)
app.command("models", rich_help_panel=_MODELS)(models.models)

# -- gateway commands (FastAPI, SQLAlchemy and uvicorn load inside the commands) ------------
app.command("serve", rich_help_panel=GATEWAY_PANEL)(serve.serve)
app.add_typer(keys.app, name="keys", rich_help_panel=GATEWAY_PANEL)
app.command("spend", rich_help_panel=GATEWAY_PANEL)(spend.spend)


def main() -> None:
    """Run the CLI (the ``vidgate`` script)."""
    app()
