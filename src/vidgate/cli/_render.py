"""Everything the CLI shows, and the only module that uses Rich.

Results go to stdout; progress, notes and errors go to stderr, so ``--json`` output (and any
output piped into another program) stays clean. Off a terminal there is no colour and no live
bar, and tables are never wrapped, so ids can be copied from logs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console, RenderableType
from rich.filesize import decimal
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    from vidgate import Video

# Off a terminal Rich would wrap at 80 columns; ids are longer than that.
_PIPE_WIDTH = 1000


def _console(*, stderr: bool = False) -> Console:
    # Built per call, so output follows sys.stdout / sys.stderr as they are now (tests swap them).
    file = sys.stderr if stderr else sys.stdout
    console = Console(file=file, highlight=False)
    if not console.is_terminal:
        console = Console(file=file, highlight=False, width=_PIPE_WIDTH)
    return console


def _emit(renderable: RenderableType) -> None:
    """Print a table or grid on stdout; off a terminal without Rich's trailing padding."""
    console = _console()
    if console.is_terminal:
        console.print(renderable)
        return
    with console.capture() as captured:
        console.print(renderable)
    plain("\n".join(line.rstrip() for line in captured.get().splitlines()))


# -- lines -----------------------------------------------------------------------------------


def error_line(message: str) -> None:
    """``error: <message>`` on stderr, on one line."""
    console = _console(stderr=True)
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def note(message: str) -> None:
    """A hint on stderr (never part of the result)."""
    _console(stderr=True).print(f"[dim]{escape(message)}[/]", soft_wrap=True)


def plain(text: str) -> None:
    """Text on stdout exactly as given."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def json_out(text: str) -> None:
    """A JSON document on stdout, unstyled, so it can be piped to ``jq``."""
    plain(text)


# -- values ----------------------------------------------------------------------------------


def cost(value: float | None) -> str:
    if value is None:
        return "unknown"
    if value == 0 or value >= 0.01:
        return f"${value:.2f}"
    return f"${value:.4f}"


def timestamp(value: int | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")


def file_size(path: Path) -> str:
    try:
        return decimal(path.stat().st_size)
    except OSError:
        return "?"


# -- tables ----------------------------------------------------------------------------------


def _fields(rows: Sequence[tuple[str, str]]) -> None:
    # Soft-wrapped lines, not a table: a long id wraps in the terminal but copies as one line.
    console = _console()
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        console.print(f"[bold]{key:<{width}}[/]  {escape(value)}", soft_wrap=True)


def video_fields(video: Video, *, saved: Path | None = None, elapsed: float | None = None) -> None:
    """One video as ``field  value`` lines: what ``create`` and ``get`` print."""
    rows: list[tuple[str, str]] = [
        ("id", video.id),
        ("model", video.model),
        ("status", video.status if video.done else f"{video.status} ({video.progress}%)"),
        ("size", video.size),
        ("seconds", video.seconds),
        ("cost", cost(video.usage.cost_usd if video.usage else None)),
        ("created", timestamp(video.created_at)),
    ]
    if video.completed_at is not None:
        rows.append(("completed", timestamp(video.completed_at)))
    if video.expires_at is not None:
        rows.append(("expires", timestamp(video.expires_at)))
    if video.remixed_from_video_id:
        rows.append(("remixed from", video.remixed_from_video_id))
    if video.error is not None:
        rows.append(("error", f"{video.error.code}: {video.error.message}"))
    if video.prompt:
        rows.append(("prompt", video.prompt))
    if elapsed is not None:
        rows.append(("took", f"{elapsed:.1f} s"))
    if saved is not None:
        rows.append(("saved", f"{saved} ({file_size(saved)})"))
    _fields(rows)


def video_table(videos: Sequence[Video]) -> None:
    """A page of videos, one row each: what ``list`` prints."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("id", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("model", no_wrap=True)
    table.add_column("size", no_wrap=True)
    table.add_column("seconds", justify="right", no_wrap=True)
    table.add_column("cost", justify="right", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("prompt", max_width=40, no_wrap=True, overflow="ellipsis")
    for v in videos:
        status = v.status if v.done else f"{v.status} {v.progress}%"
        table.add_row(
            v.id,
            status,
            escape(v.model),
            v.size,
            v.seconds,
            cost(v.usage.cost_usd if v.usage else None),
            timestamp(v.created_at),
            escape(v.prompt or ""),
        )
    _emit(table)


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A plain table of strings (``models``)."""
    out = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for header in headers:
        out.add_column(header, overflow="fold")
    for row in rows:
        out.add_row(*(escape(cell) for cell in row))
    _emit(out)


# -- progress --------------------------------------------------------------------------------


class JobProgress:
    """Shows a job moving towards ``completed``: a live bar (status, percent, elapsed time) on a
    terminal's stderr; elsewhere one line per status change, or nothing when ``quiet``."""

    def __init__(self, console: Console, *, quiet: bool) -> None:
        self._console = console
        self._quiet = quiet
        self._started = time.monotonic()
        self._last_status: str | None = None
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if console.is_terminal:
            self._bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self._task = self._bar.add_task("creating", total=100)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def update(self, video: Video) -> None:
        """The progress callback handed to the SDK (called after every poll)."""
        if self._bar is not None and self._task is not None:
            label = f"{escape(video.model)} [bold]{video.status}[/]"
            self._bar.update(self._task, completed=video.progress, description=label)
        elif not self._quiet and video.status != self._last_status:
            self._console.print(f"{video.status} {video.progress}%", soft_wrap=True)
        self._last_status = video.status

    def start(self) -> None:
        if self._bar is not None:
            self._bar.start()

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


@contextmanager
def job_progress(*, quiet: bool = False) -> Iterator[JobProgress]:
    """A :class:`JobProgress` on stderr, stopped (and its bar cleared) however the block ends."""
    progress = JobProgress(_console(stderr=True), quiet=quiet)
    progress.start()
    try:
        yield progress
    finally:
        progress.stop()
