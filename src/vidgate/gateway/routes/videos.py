"""``/videos``: the OpenAI Videos API (spec §2), answered from job records.

Every response is the full 13-key Video object (spec §3.1, nullable keys as ``null``) plus
``usage``; the cost is also sent as ``x-vidgate-cost-usd``, and unfinished videos carry the
``openai-poll-after-ms`` hint (spec §6) so the SDK's poll helper paces itself.
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from ..._exceptions import BadRequestError, NotFoundError
from ...types.video import CONTENT_TYPES, VARIANTS, video_json
from ..body import parse_create, parse_remix
from ..errors import GatewayError
from ..state import CallerDep, State
from ..store import JobRecord

router = APIRouter(tags=["videos"])

# Our ids are 54 characters; a longer one cannot exist, and is refused before any lookup
# (so a 100k-character id is not echoed into the error).
VideoId = Annotated[str, Path(max_length=128)]


def video_object(job: JobRecord) -> dict[str, Any]:
    """A job record as the OpenAI Video object, plus ``usage``."""
    # ``cancelled`` is internal (deleted before finishing); callers only see the spec's four.
    status = "failed" if job.status == "cancelled" else job.status
    data = video_json({**vars(job), "status": status, "remixed_from_video_id": job.remixed_from})
    data["usage"] = {
        "seconds": _seconds(job.seconds),
        "cost_usd": round(job.cost, 4) if job.priced else None,
    }
    return data


class _StoredFile(FileResponse):
    """A stored variant, streamed with ``Range`` support (RFC 9110 §14).

    Range headers are checked here first, strictly: a unit other than ``bytes`` is ignored
    (the whole file, as §14.2 says); a malformed or unsatisfiable set of ranges is a 416 in
    the OpenAI error envelope, with ``Content-Range: bytes */size``.
    """

    # 1 MiB reads: a quarter of the thread hops of the 64 KiB default for the same bytes,
    # and still a bounded buffer per download.
    chunk_size = 1024 * 1024

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        header = Headers(scope=scope).get("range")
        if header is not None and self.stat_result is not None:
            verdict = check_range(header, self.stat_result.st_size)
            if verdict == "ignore":
                headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"range"]
                scope = {**scope, "headers": headers}
            elif verdict is not None:
                size = self.stat_result.st_size
                error = GatewayError(416, verdict, param="Range", code="range_not_satisfiable")
                response = JSONResponse(
                    error.to_dict(), status_code=416, headers={"content-range": f"bytes */{size}"}
                )
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


_RANGE_SPEC = re.compile(r"^([0-9]{1,19})?-([0-9]{1,19})?$")


def check_range(header: str, size: int) -> str | None:
    """What to do with a ``Range`` header for a file of ``size`` bytes: ``None`` to serve the
    ranges, ``"ignore"`` to serve the whole file, or why the ranges cannot be served."""
    unit, sep, specs = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return "ignore"  # another unit, or no unit at all: not a byte range we know
    parts = [p.strip() for p in specs.split(",") if p.strip()]
    if not parts:
        return "The Range header names no byte range."
    satisfiable = False
    for part in parts:
        match = _RANGE_SPEC.match(part)
        if match is None or match.group(1) is match.group(2) is None:
            return f"Malformed byte range '{part[:40]}' in the Range header."
        first, last = match.group(1), match.group(2)
        if first is not None and last is not None and int(last) < int(first):
            return f"Invalid byte range '{part}': the last byte is before the first."
        if first is None:
            satisfiable = satisfiable or (int(last or 0) > 0 and size > 0)
        else:
            satisfiable = satisfiable or int(first) < size
    if not satisfiable:
        return f"None of the requested byte ranges is within the {size} bytes of this file."
    # Starlette refuses a set where any range starts past the end: serve the whole file then.
    for part in parts:
        first, _, last = part.partition("-")
        if (first and int(first) >= size) or (not first and int(last) == 0):
            return "ignore"
    return None


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
async def retrieve_video(video_id: VideoId, state: State, caller: CallerDep) -> JSONResponse:
    """The job as last recorded (never waits on the provider)."""
    return video_response(await state.videos.get(caller, video_id), state)


@router.get("/videos/{video_id}/content", response_model=None)
async def video_content(
    video_id: VideoId,
    state: State,
    caller: CallerDep,
    variant: str = Query(default="video", max_length=32),
) -> FileResponse:
    """The stored MP4, thumbnail (WebP) or spritesheet (JPEG), with ``Range`` support."""
    if variant not in VARIANTS:
        raise BadRequestError(
            f"Invalid value for 'variant': '{variant}'. Supported values are 'video', "
            "'thumbnail' and 'spritesheet'.",
            param="variant",
            code="invalid_value",
        )
    job = await state.videos.get(caller, video_id)
    if job.expires_at is not None and job.expires_at <= time.time():
        # Past its retention: the record stays, the content is (or is about to be) deleted.
        expired = datetime.fromtimestamp(job.expires_at, UTC).isoformat()
        raise NotFoundError(
            f"The content of video '{video_id}' expired at {expired.replace('+00:00', 'Z')} "
            f"(expires_at {job.expires_at}) and is no longer available.",
            param="video_id",
            code="video_expired",
        )
    if job.status != "completed" or job.storage_path is None:
        raise BadRequestError(
            f"Video '{video_id}' is {video_object(job)['status']}; its content is available "
            "once it is completed.",
            param="video_id",
            code="video_not_ready",
        )
    path = state.storage.file(job.storage_path, variant)
    try:
        info = await asyncio.to_thread(os.stat, path)
    except OSError:
        info = None
    if info is None or not stat.S_ISREG(info.st_mode):
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
        stat_result=info,
    )


@router.delete("/videos/{video_id}")
async def delete_video(video_id: VideoId, state: State, caller: CallerDep) -> JSONResponse:
    """Delete the video and its stored files; an unfinished job is cancelled and refunded."""
    job = await state.videos.delete(caller, video_id)
    return JSONResponse({"id": job.id, "object": "video.deleted", "deleted": True})


@router.post("/videos/{video_id}/remix")
async def remix_video(
    video_id: VideoId, request: Request, state: State, caller: CallerDep
) -> JSONResponse:
    """A new video from a completed one and a new prompt."""
    prompt = await parse_remix(request)
    job = await state.videos.remix(caller, video_id, prompt)
    return video_response(job, state)
