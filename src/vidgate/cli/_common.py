"""What every command shares: connection options, model resolution, the async runner, file
names, and the one place where exceptions become an error line and an exit code.

Only ``typer`` is imported at module level, so ``vidgate --help`` never loads the SDK, httpx or
PyAV; vidgate itself is imported inside the functions that need it.
"""

from __future__ import annotations

import asyncio
import re
import sys
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from vidgate import AsyncVideoClient

T = TypeVar("T")

LOCAL_MODEL = "local/preview"
REMOTE_MODEL = "sora-2"
# The SDK's provider for "any OpenAI-compatible server": it sends the rest of the id verbatim.
REMOTE_PROVIDER = "openai"
LOCAL_PROVIDER = "local"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_CONNECTION_PANEL = "Connection"

ApiBaseOption = Annotated[
    str | None,
    typer.Option(
        "--api-base",
        envvar="VIDGATE_API_BASE",
        show_envvar=True,
        metavar="URL",
        help="An OpenAI-compatible server (e.g. a vidgate gateway: http://127.0.0.1:4000/v1). "
        "Unset: the offline local engine (or the provider named by the model).",
        rich_help_panel=_CONNECTION_PANEL,
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="VIDGATE_API_KEY",
        show_envvar=True,
        metavar="KEY",
        help="Key sent to the server or provider as a bearer token.",
        rich_help_panel=_CONNECTION_PANEL,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON on stdout, and nothing else.")
]


@dataclass(frozen=True)
class Remote:
    """Where requests go: the local engine (``api_base`` unset) or an OpenAI-compatible server."""

    api_base: str | None = None
    api_key: str | None = None

    @classmethod
    def of(cls, api_base: str | None, api_key: str | None) -> Remote:
        # An empty --api-base / VIDGATE_API_BASE means "not configured".
        return cls(api_base=api_base or None, api_key=api_key or None)

    @property
    def is_server(self) -> bool:
        return self.api_base is not None

    def model_id(self, model: str | None) -> str:
        """The SDK model id for what the user typed.

        Without a server: the name as typed (``provider/model`` or a bare OpenAI name), default
        ``local/preview``. With a server the name must reach it verbatim, so it goes through the
        ``openai`` provider: ``local/preview`` → ``openai/local/preview`` (default ``sora-2``).
        """
        if not self.is_server:
            return model or LOCAL_MODEL
        name = model or REMOTE_MODEL
        return name if name.startswith(f"{REMOTE_PROVIDER}/") else f"{REMOTE_PROVIDER}/{name}"

    def list_provider(self, provider: str | None) -> str:
        """Whose videos ``list`` shows by default: the server's, else the local engine's."""
        if provider:
            return provider
        return REMOTE_PROVIDER if self.is_server else LOCAL_PROVIDER

    def run(self, job: Callable[[AsyncVideoClient], Awaitable[T]]) -> T:
        """Run ``job`` with a client on a fresh event loop, closing the client afterwards."""
        from vidgate import AsyncVideoClient

        async def main() -> T:
            async with AsyncVideoClient(api_key=self.api_key, api_base=self.api_base) as client:
                return await job(client)

        return asyncio.run(main())


# -- file names ------------------------------------------------------------------------------

VARIANT_EXTENSIONS: dict[str, str] = {"video": ".mp4", "thumbnail": ".webp", "spritesheet": ".jpg"}
_MAX_SLUG = 48


def slug(prompt: str) -> str:
    """``"A red fox, running!"`` → ``"a-red-fox-running"``; ``"video"`` if nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", prompt).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(text) > _MAX_SLUG:
        cut = text[:_MAX_SLUG]
        text = cut.rsplit("-", 1)[0] if "-" in cut else cut
    return text or "video"


def unused_path(stem: str, suffix: str, directory: Path | None = None) -> Path:
    """``stem + suffix`` in ``directory`` (default: the current one), or ``stem-2``, ``stem-3``
    … if taken: a default name never overwrites an earlier file."""
    base = directory or Path()  # relative: printed as the user would type it
    candidate = base / f"{stem}{suffix}"
    number = 2
    while candidate.exists():
        candidate = base / f"{stem}-{number}{suffix}"
        number += 1
    return candidate


# -- errors ----------------------------------------------------------------------------------


def _click_exception() -> type[Exception]:
    # Typer vendors click in newer releases; ClickException is an ancestor of BadParameter in
    # both layouts, so find it there rather than importing a private module.
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == "ClickException":
            return cls
    return typer.BadParameter  # pragma: no cover - every click has ClickException


def exit_code_for(exc: BaseException) -> int:
    """2 for bad input (the request was refused as invalid), 1 for every other failure."""
    from vidgate import BadRequestError, UnprocessableEntityError

    if isinstance(exc, BadRequestError | UnprocessableEntityError):
        return EXIT_USAGE
    return EXIT_ERROR


def describe(exc: BaseException) -> str:
    """One line saying what went wrong, with the parameter or provider code when known."""
    from vidgate import APIError, VideoGenerationFailed

    message = str(exc)
    if isinstance(exc, APIError):
        message = exc.message
        if isinstance(exc, VideoGenerationFailed):
            message += f" (code: {exc.code})" if exc.code else ""
        elif exc.param:
            message += f" (param: {exc.param})"
    return " ".join(message.split())


def _usage_line(exc: Exception) -> str:
    format_message: Callable[[], str] = getattr(exc, "format_message", lambda: str(exc))
    line = " ".join(format_message().split())
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and getattr(exc, "exit_code", None) == EXIT_USAGE:
        line = line if line.endswith((".", "?", "!")) else line + "."
        line += f" See '{ctx.command_path} --help'."
    return line


class VidgateGroup(TyperGroup):
    """The root command: runs the CLI and turns every expected failure into one ``error:`` line
    on stderr and an exit code (2 bad input or usage, 1 other errors, 130 Ctrl-C)."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
            code = result if isinstance(result, int) else EXIT_OK
        except KeyboardInterrupt:
            from . import _render

            _render.error_line("interrupted")
            code = EXIT_INTERRUPTED
        except typer.Abort:
            from . import _render

            _render.error_line("aborted")
            code = EXIT_ERROR
        except Exception as exc:
            code = self._handle(exc)
        if not standalone_mode:
            return code
        sys.exit(code)

    @staticmethod
    def _handle(exc: Exception) -> int:
        from . import _render

        if type(exc).__name__ == "NoArgsIsHelpError":
            _render.plain(getattr(exc, "format_message", lambda: str(exc))())
            return EXIT_USAGE
        if isinstance(exc, _click_exception()):
            _render.error_line(_usage_line(exc))
            return int(getattr(exc, "exit_code", EXIT_ERROR))
        from vidgate import APIError

        if isinstance(exc, APIError):
            _render.error_line(describe(exc))
            return exit_code_for(exc)
        if isinstance(exc, OSError):  # e.g. --out in a missing or read-only directory
            _render.error_line(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
            return EXIT_ERROR
        raise exc
