"""``/videos``: the OpenAI Videos API (spec §2), answered from job records.

Every response is the full 13-key Video object (spec §3.1, nullable keys as ``null``) plus
``usage``; the cost is also sent as ``x-vidgate-cost-usd``, and unfinished videos carry the
``openai-poll-after-ms`` hint (spec §6) so the SDK's poll helper paces itself.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from ..._exceptions import BadRequestError, NotFoundError
from ...types.video import CONTENT_TYPES
from ..body import parse_create, parse_remix
from ..state import CallerDep, State
from ..store import JobRecord

router = APIRouter(tags=["videos"])

_VARIANTS = ("video", "thumbnail", "spritesheet")


def video_object(job: JobRecord) -> dict[str, Any]:
    """A job record as the OpenAI Video object, plus ``usage``."""
    # ``cancelled`` is internal (deleted before finishing); callers only see the spec's four.
    status = "failed" if job.status == "cancelled" else job.status
    return {
        "id": job.id,
        "object": "video",
        "model": job.model,
        "status": status,
        "progress": job.progress,
        "created_at": job.created_at,
        "completed_at": job.completed_at,
        "expires_at": job.expires_at,
        "prompt": job.prompt,
        "size": job.size,
        "seconds": job.seconds,
        "remixed_from_video_id": job.remixed_from,
        "error": job.error,
        "usage": {
            "seconds": _seconds(job.seconds),
            "cost_usd": round(job.cost, 4) if job.priced else None,
        },
    }


class _StoredFile(FileResponse):
    # 1 MiB reads: a quarter of the thread hops of the 64 KiB default for the same bytes,
    # and still a bounded buffer per download.
    chunk_size = 1024 * 1024


def _cost_header(job: JobRecord) -> dict[str, str]:
    return {"x-vidgate-cost-usd": f"{job.cost:.4f}"} if job.priced else {}


def _seconds(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 0.0


def video_response(job: JobRecord, state: State) -> JSONResponse:
    headers = _cost_header(job)
    if job.status in ("queued", "in_progress"):
        headers["openai-poll-after-ms"] = str(state.settings.general_settings.poll_after_ms)
    return JSONResponse(video_object(job), headers=headers)


@router.post("/videos")
async def create_video(
    request: Request,
    state: State,
    caller: CallerDep,
    idempotency_key: str | None = Header(default=None, alias="idempotency-key", max_length=255),
) -> JSONResponse:
    """Start a video job (JSON or multipart body)."""
    body = await parse_create(request)
    job = await state.videos.create(caller, body, idempotency_key=idempotency_key)
    return video_response(job, state)


@router.get("/videos")
async def list_videos(
    state: State,
    caller: CallerDep,
    limit: int = Query(default=20, ge=0, le=100),
    after: str | None = Query(default=None, max_length=200),
    order: Literal["asc", "desc"] = Query(default="desc"),
) -> JSONResponse:
    """The caller's videos, newest first by default, ``after`` a video id."""
    after_seq = None
    if after:
        cursor = await state.db.call(state.db.jobs.get, after, owner=caller.owner)
        if cursor is None:
            raise NotFoundError(
                f"No video found with id '{after}'.", param="after", code="not_found"
            )
        after_seq = cursor.seq
    jobs, has_more = await state.db.call(
        state.db.jobs.page, caller.owner, after_seq=after_seq, order=order, limit=limit
    )
    data = [video_object(j) for j in jobs]
    return JSONResponse(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": has_more,
        }
    )


@router.get("/videos/{video_id}")
async def retrieve_video(video_id: str, state: State, caller: CallerDep) -> JSONResponse:
    """The job as last recorded (never waits on the provider)."""
    return video_response(await state.videos.get(caller, video_id), state)


@router.get("/videos/{video_id}/content", response_model=None)
async def video_content(
    video_id: str,
    state: State,
    caller: CallerDep,
    variant: str = Query(default="video", max_length=32),
) -> FileResponse:
    """The stored MP4, thumbnail (WebP) or spritesheet (JPEG), with ``Range`` support."""
    if variant not in _VARIANTS:
        raise BadRequestError(
            f"Invalid value for 'variant': '{variant}'. Supported values are 'video', "
            "'thumbnail' and 'spritesheet'.",
            param="variant",
            code="invalid_value",
        )
    job = await state.videos.get(caller, video_id)
    if job.status != "completed" or job.storage_path is None:
        raise BadRequestError(
            f"Video '{video_id}' is {video_object(job)['status']}; its content is available "
            "once it is completed.",
            param="video_id",
            code="video_not_ready",
        )
    path = state.storage.file(job.storage_path, variant)  # type: ignore[arg-type]
    if not path.is_file():
        raise NotFoundError(
            f"The {variant} of video '{video_id}' is not available.",
            param="variant",
            code="content_not_found",
        )
    # Streams in bounded chunks and answers Range requests (206).
    return _StoredFile(
        path,
        media_type=CONTENT_TYPES[variant],
        headers=_cost_header(job),
    )


@router.delete("/videos/{video_id}")
async def delete_video(video_id: str, state: State, caller: CallerDep) -> JSONResponse:
    """Delete the video and its stored files; an unfinished job is cancelled and refunded."""
    job = await state.videos.delete(caller, video_id)
    return JSONResponse({"id": job.id, "object": "video.deleted", "deleted": True})


@router.post("/videos/{video_id}/remix")
async def remix_video(
    video_id: str, request: Request, state: State, caller: CallerDep
) -> JSONResponse:
    """A new video from a completed one and a new prompt."""
    prompt = await parse_remix(request)
    job = await state.videos.remix(caller, video_id, prompt)
    return video_response(job, state)
