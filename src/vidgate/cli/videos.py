"""``vidgate create | get | list | download | delete``: the Videos API from a shell.

Each command is a thin shell over ``AsyncVideoClient``; what it prints is in ``_render``, and
how failures become exit codes is in ``_common.VidgateGroup``.
"""

from __future__ import annotations

from collections.abc import Awaitable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from . import _render
from ._common import (
    EXIT_INTERRUPTED,
    VARIANT_EXTENSIONS,
    ApiBaseOption,
    ApiKeyOption,
    JsonOption,
    Remote,
    slug,
    unused_path,
)

if TYPE_CHECKING:
    from vidgate import AsyncVideoClient, Video
    from vidgate.types import VideoContentVariant


class SortOrder(StrEnum):
    asc = "asc"
    desc = "desc"


class Variant(StrEnum):
    video = "video"
    thumbnail = "thumbnail"
    spritesheet = "spritesheet"


_VARIANTS: dict[Variant, VideoContentVariant] = {
    Variant.video: "video",
    Variant.thumbnail: "thumbnail",
    Variant.spritesheet: "spritesheet",
}

VideoIdArgument = Annotated[
    str, typer.Argument(metavar="ID", help="A video id, as printed by create or list.")
]


def _checked_out(out: Path | None) -> Path | None:
    """Refuse an ``--out`` whose directory does not exist before any paid work starts."""
    if out is None or out.is_dir():
        return out
    if not out.parent.is_dir():
        raise typer.BadParameter(f"directory '{out.parent}' does not exist.", param_hint="'--out'")
    return out


def create(
    prompt: Annotated[str, typer.Argument(metavar="PROMPT", help="What the video should show.")],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Model id, 'provider/model' or a bare OpenAI name (see 'vidgate models'). "
            "Default: local/preview offline, sora-2 with --api-base.",
            show_default=False,
        ),
    ] = None,
    seconds: Annotated[
        int | None,
        typer.Option("--seconds", "-s", help="Duration. Default: the model's (4 s).", min=1),
    ] = None,
    size: Annotated[
        str | None,
        typer.Option("--size", metavar="WxH", help="Width x height, e.g. 1280x720 (landscape)."),
    ] = None,
    input_reference: Annotated[
        str | None,
        typer.Option(
            "--input-reference",
            "-i",
            metavar="FILE|URL",
            help="A JPEG, PNG or WebP image (file, https: or data: URL) the video starts from.",
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Seed: the same prompt and seed give the same local video."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="Where to save the video. Default: ./<prompt-slug>.mp4 (e.g. a-red-fox.mp4), "
            "numbered (-2, -3 ...) rather than overwriting; a directory keeps that name inside it.",
            show_default=False,
        ),
    ] = None,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Print the queued job and exit; nothing is saved.")
    ] = False,
    json_output: JsonOption = False,
    api_base: ApiBaseOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Create a video, wait for it with a progress bar, and save it.

    Prints the id, status, size, seconds, cost and where the MP4 was saved. Offline (no
    api base) it renders with the local engine: no key, no network.

    Example: vidgate create "a red fox in the snow" --seconds 4 --out fox.mp4
    """
    remote = Remote.of(api_base, api_key)
    if no_wait and out is not None:
        raise typer.BadParameter(
            "cannot be used with --no-wait; save the video later with "
            "'vidgate download ID --out FILE'.",
            param_hint="'--out'",
        )
    out = _checked_out(out)
    model_id = remote.model_id(model)

    def start(client: AsyncVideoClient) -> Awaitable[Video]:
        return client.create(
            prompt,
            model=model_id,
            seconds=seconds,
            size=size,
            input_reference=input_reference,
            extra_body={"seed": seed} if seed is not None else None,
        )

    if no_wait:
        video = remote.run(start)
        if json_output:
            _render.json_out(video.model_dump_json(indent=2))
        else:
            _render.video_fields(video)
            _render.note(f"follow it with: vidgate get {video.id}")
        return

    created: list[Video] = []
    with _render.job_progress(quiet=json_output) as progress:

        async def job(client: AsyncVideoClient) -> tuple[Video, Path]:
            video = await start(client)
            created.append(video)
            progress.update(video)
            video = await client.wait(video.id, on_progress=progress.update)
            target = out or unused_path(slug(prompt), ".mp4")
            if target.is_dir():
                target = unused_path(slug(prompt), ".mp4", target)
            return video, await client.download_to_file(video.id, target)

        try:
            video, saved = remote.run(job)
        except KeyboardInterrupt:
            if not created:
                raise
            progress.stop()
            video_id = created[0].id
            _render.error_line(f"interrupted; the job goes on: 'vidgate get {video_id}'")
            raise typer.Exit(EXIT_INTERRUPTED) from None
    if json_output:
        _render.json_out(video.model_dump_json(indent=2))
        _render.note(f"saved {saved}")
    else:
        _render.video_fields(video, saved=saved, elapsed=progress.elapsed)


def get(
    video_id: VideoIdArgument,
    json_output: JsonOption = False,
    api_base: ApiBaseOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Show a video job: status, progress, size, seconds, cost, error."""
    remote = Remote.of(api_base, api_key)
    video = remote.run(lambda client: client.retrieve(video_id))
    if json_output:
        _render.json_out(video.model_dump_json(indent=2))
    else:
        _render.video_fields(video)


def list_videos(
    limit: Annotated[
        int | None, typer.Option(help="Videos per page, 0 to 100. Default: 20.", show_default=False)
    ] = None,
    after: Annotated[
        str | None, typer.Option(metavar="ID", help="Start after this id (the next page).")
    ] = None,
    order: Annotated[
        SortOrder | None,
        typer.Option(help="By creation time. Default: desc (newest first).", show_default=False),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            help="Whose videos: 'local' (default offline) or 'openai' (the --api-base server).",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOption = False,
    api_base: ApiBaseOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """List videos, newest first, as a table."""
    remote = Remote.of(api_base, api_key)
    sort: Literal["asc", "desc"] | None = None
    if order is not None:
        sort = "asc" if order is SortOrder.asc else "desc"
    page = remote.run(
        lambda client: client.list(
            limit=limit, after=after, order=sort, provider=remote.list_provider(provider)
        )
    )
    if json_output:
        _render.json_out(page.model_dump_json(indent=2))
        return
    if not page.data:
        _render.note("no videos")
        return
    _render.video_table(page.data)
    if page.has_more:
        _render.note(f"more: vidgate list --after {page.last_id}")


def download(
    video_id: VideoIdArgument,
    variant: Annotated[
        Variant, typer.Option(help="The MP4, its WebP thumbnail or its JPEG spritesheet.")
    ] = Variant.video,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="Where to save it. Default: ./<ID>.mp4 (.webp, .jpg by variant), replaced if "
            "present; a directory keeps that name inside it.",
            show_default=False,
        ),
    ] = None,
    api_base: ApiBaseOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Save a finished video (or its thumbnail or spritesheet) to a file, streamed."""
    remote = Remote.of(api_base, api_key)
    default_name = f"{video_id}{VARIANT_EXTENSIONS[variant.value]}"
    target = _checked_out(out) or Path(default_name)
    if target.is_dir():
        target = target / default_name
    saved = remote.run(
        lambda client: client.download_to_file(video_id, target, variant=_VARIANTS[variant])
    )
    _render.plain(f"saved {saved} ({_render.file_size(saved)})")


def delete(
    video_id: VideoIdArgument,
    json_output: JsonOption = False,
    api_base: ApiBaseOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Delete a video and its files (a running job is cancelled first)."""
    remote = Remote.of(api_base, api_key)
    deleted = remote.run(lambda client: client.delete(video_id))
    if json_output:
        _render.json_out(deleted.model_dump_json(indent=2))
    else:
        _render.plain(f"deleted {deleted.id}")
