"""A faithful fake of OpenAI's Videos API (Sora 2), and of Azure OpenAI's v1 copy of it.

The wire contract is ``/work/shared/spec/openai-videos-api.md``; "spec §N" below points at its
sections. Where the spec marks a behaviour **UNVERIFIED**, this fake makes a choice and says so
in a comment ("fake's choice"). Wording that is OpenAI's general validation style, but is not
quoted in the spec, is marked "OpenAI style".

Usage::

    state = FakeOpenAIState()                 # config + jobs + recorded requests + faults
    with run_fake_openai(state) as base_url:  # "http://127.0.0.1:PORT/v1"
        client = OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
        video = client.videos.create(prompt="A cat")
        state.inject(method="POST", path="/v1/videos", status=429,
                     headers={"retry-after-ms": "10"}, times=2)
        assert state.jobs_created == 1
        assert state.requests[-1].form["prompt"] == "A cat"

Or in process, without a socket:
``httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(state)))``
(``drop_connection`` faults need the uvicorn server of :func:`run_fake_openai`).

Routes (relative to ``/v1``, or ``/openai/v1`` with ``azure=True``, spec §2 and §9):

* ``POST /videos`` (JSON or multipart), ``GET /videos/{id}``, ``GET /videos/{id}/content``,
  ``DELETE /videos/{id}``, ``GET /videos``, ``POST /videos/{id}/remix`` (JSON or multipart).
* Anything else is ``404 Invalid URL (METHOD /path)`` (OpenAI style). The newer
  ``/videos/edits``, ``/videos/extensions`` and ``/videos/characters`` (spec §2.7–2.9) are not
  implemented.

The server runs in one event-loop thread; handlers are synchronous and take ``state.lock``, so a
test thread may read ``state`` or call ``state.inject`` while the server runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

__all__ = [
    "CONTENT_TYPES",
    "FakeJob",
    "FakeOpenAIState",
    "Fault",
    "RecordedFile",
    "RecordedRequest",
    "create_app",
    "fake_content",
    "run_fake_openai",
]

JSON = Any
VideoStatus = Literal["queued", "in_progress", "completed", "failed"]

# spec §2.3: video → video/mp4, thumbnail → image/webp (SPEC); spritesheet → image/jpeg
# (spec says the spritesheet type is UNVERIFIED; GUIDE saves it as .jpg).
CONTENT_TYPES: dict[str, str] = {
    "video": "video/mp4",
    "thumbnail": "image/webp",
    "spritesheet": "image/jpeg",
}
TERMINAL_STATUSES = ("completed", "failed")
DEFAULT_MODEL = "sora-2"  # spec §2.1
DEFAULT_SECONDS = "4"  # spec §2.1
DEFAULT_SIZE = "720x1280"  # spec §2.1
MAX_PROMPT_CHARS = 32000  # spec §2.1 (SPEC maxLength)
ASSET_TTL_SECONDS = 86400  # spec §2.2: expires_at = created_at + 86400
LIST_DEFAULT_LIMIT = 20  # spec §2.5 (default UNVERIFIED; 20 as other OpenAI lists)
LIST_MAX_LIMIT = 100  # spec §2.5 (SPEC maximum)

# spec §3.3 published enums; used in error messages, which quote the published enum (spec §4.1).
PUBLISHED_SECONDS = ("4", "8", "12")
PUBLISHED_SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
# spec §8.1: GUIDE/CHANGELOG also allow 16/20 s and 1080p; a compatible server accepts them.
OPENAI_SECONDS = (*PUBLISHED_SECONDS, "16", "20")
OPENAI_SIZES = (*PUBLISHED_SIZES, "1920x1080", "1080x1920")
# spec §9 / providers §4.2: Azure Sora 2 allows 720x1280 / 1280x720 and 4/8/12 s only.
AZURE_SECONDS = PUBLISHED_SECONDS
AZURE_SIZES = ("720x1280", "1280x720")

# spec §2.2: the one failure payload with a (third-party) source.
MODERATION_ERROR: dict[str, str] = {
    "code": "moderation_blocked",
    "message": "Your request was blocked by our moderation system.",
}

_JSON_PARSE_ERROR = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
    "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
    "valid JSON. If you have trouble figuring out how to fix this, please contact us through our "
    "help center at help.openai.com.)"
)  # OpenAI style
_AZURE_401 = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
    "valid key for an active subscription and use a correct regional API endpoint for your "
    "resource."
)  # Azure's wording for a bad api-key
_AZURE_NO_DEPLOYMENT = (
    "The API deployment for this resource does not exist. If you created the deployment within "
    "the last 5 minutes, please wait a moment and try again."
)  # Azure's wording, code DeploymentNotFound


# --------------------------------------------------------------------------------------------
# Errors (spec §4.1): always {"error": {"message", "type", "param", "code"}}, nulls explicit.
# --------------------------------------------------------------------------------------------


class _ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_envelope(message, type=type, param=param, code=code)


def error_envelope(
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> dict[str, dict[str, str | None]]:
    """Build the OpenAI error envelope with all four keys present (spec §4.1)."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def _type_name(value: object) -> str:
    # OpenAI style: "... but got an integer instead."
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _quote_list(values: tuple[str, ...], conj: str) -> str:
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 2:
        return f" {conj} ".join(quoted)
    return ", ".join(quoted[:-1]) + f", {conj} " + quoted[-1]


def _invalid_type(param: str, expected: str, value: object) -> _ApiError:
    return _ApiError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {_type_name(value)} instead.",
        param=param,
        code="invalid_type",
    )


def _invalid_value(param: str, value: object, supported: tuple[str, ...]) -> _ApiError:
    return _ApiError(
        400,
        f"Invalid value: '{value}'. Supported values are: {_quote_list(supported, 'and')}.",
        param=param,
        code="invalid_value",
    )


def _not_found(video_id: str) -> _ApiError:
    # Fake's choice: spec has no 404 sample for videos.
    return _ApiError(404, f"Video with id '{video_id}' not found.", param=None, code="not_found")


# --------------------------------------------------------------------------------------------
# Recorded traffic, jobs, faults
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedFile:
    """One multipart file part as received (``name`` is the form field name)."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    """One request as the fake received it. ``status`` is the HTTP status sent back (``None``
    if the connection was dropped); ``fault`` is the injected :class:`Fault` that answered it.

    ``headers`` has lower-case names (h11 lower-cases them; the original case is not visible).
    ``json`` is the parsed JSON body (``None`` if not JSON); ``form`` the multipart/urlencoded
    text fields (last value wins; all values in ``form_items``); ``files`` the file parts.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    content_type: str | None
    json: JSON = None
    form: dict[str, str] = field(default_factory=dict)
    form_items: list[tuple[str, str]] = field(default_factory=list)
    files: list[RecordedFile] = field(default_factory=list)
    status: int | None = None
    fault: Fault | None = None
    request_id: str | None = None


@dataclass
class FakeJob:
    """Server-side record of one video job. ``to_video()`` is its wire form (spec §3.1)."""

    id: str
    seq: int
    model: str
    prompt: str
    size: str
    seconds: str
    created_at: int
    status: VideoStatus = "queued"
    progress: int = 0
    completed_at: int | None = None
    expires_at: int | None = None
    remixed_from_video_id: str | None = None
    error: dict[str, Any] | None = None
    polls: int = 0
    deleted: bool = False
    # Not on the wire: what the create request referenced ({"file": RecordedFile} or the JSON
    # object {"image_url": ...} / {"file_id": ...}), and unknown body keys (e.g. "characters").
    input_reference: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_video(self) -> dict[str, Any]:
        """All 13 keys of SPEC ``VideoResource``; nullable ones as explicit null (spec §3.1, §8)."""
        return {
            "id": self.id,
            "object": "video",
            "model": self.model,
            "status": self.status,
            "progress": self.progress,
            "created_at": self.created_at,
            "completed_at": self.completed_at,
            "expires_at": self.expires_at,
            "prompt": self.prompt,
            "size": self.size,
            "seconds": self.seconds,
            "remixed_from_video_id": self.remixed_from_video_id,
            "error": dict(self.error) if self.error is not None else None,
        }


def _path_matches(pattern: str | None, path: str) -> bool:
    """``None`` matches anything; ``{name}`` or ``*`` segments match exactly one path segment."""
    if pattern is None:
        return True
    want = pattern.rstrip("/").split("/")
    got = path.rstrip("/").split("/")
    if len(want) != len(got):
        return False
    return all(
        w == g or w == "*" or (w.startswith("{") and w.endswith("}"))
        for w, g in zip(want, got, strict=True)
    )


@dataclass
class Fault:
    """A canned failure that the fake serves instead of (or after) handling a request.

    See :meth:`FakeOpenAIState.inject` for the meaning of each field. ``served`` counts how many
    times it fired.
    """

    method: str | None
    path: str | None
    status: int | None
    headers: dict[str, str]
    body: JSON | str | bytes | None
    content_type: str | None
    times: int
    process_request: bool
    drop_connection: bool
    delay: float
    served: int = 0

    @property
    def remaining(self) -> int:
        return self.times - self.served

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method.upper()) and _path_matches(
            self.path, path
        )

    def render(self) -> Response:
        assert self.status is not None
        headers = dict(self.headers)
        if isinstance(self.body, bytes):
            content = self.body
            media = self.content_type or "application/octet-stream"
        elif isinstance(self.body, str):
            content = self.body.encode()
            media = self.content_type or "text/plain; charset=utf-8"
        else:
            payload = self.body if self.body is not None else _default_fault_body(self.status)
            content = json.dumps(payload).encode()
            media = self.content_type or "application/json"
        return Response(content, status_code=self.status, headers=headers, media_type=media)


def _default_fault_body(status: int) -> dict[str, dict[str, str | None]]:
    # OpenAI style bodies for the statuses the SDK retries (spec §4.2, §5).
    if status == 429:
        return error_envelope(
            "Rate limit reached for requests. Please try again later.",
            type="requests",
            code="rate_limit_exceeded",
        )
    if status == 500:
        return error_envelope(
            "The server had an error while processing your request. Sorry about that!",
            type="server_error",
        )
    if status == 503:
        return error_envelope(
            "The server is overloaded or not ready yet.", type="server_error", code=None
        )
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return error_envelope(f"Injected fault (HTTP {status}).", type=kind)


# --------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------

_CONFIG_FIELDS = (
    "api_key",
    "azure",
    "azure_deployments",
    "polls_to_complete",
    "queued_polls",
    "poll_after_ms",
    "fail_marker",
    "video_bytes",
    "thumbnail_bytes",
    "spritesheet_bytes",
    "chunk_bytes",
    "not_ready_status",
    "allow_delete_unfinished",
    "allowed_seconds",
    "allowed_sizes",
    "clock",
)


@dataclass
class FakeOpenAIState:
    """Configuration and runtime state of one fake upstream.

    Config (constructor arguments; may also be changed at runtime; :meth:`reset` restores them):

    * ``api_key``: accepted key. OpenAI mode: ``Authorization: Bearer <key>`` (spec §1);
      Azure mode: ``api-key: <key>`` or Bearer (spec §9).
    * ``azure``: serve under ``/openai/v1`` with Azure auth; ``model`` must be a deployment
      name from ``azure_deployments`` (spec §9), else ``404 DeploymentNotFound``.
    * ``polls_to_complete``: the N-th ``GET /videos/{id}`` after ``queued_polls`` queued ones
      returns the terminal status; GETs before it return ``in_progress`` with progress
      ``100*k//N`` (values < 1 count as 1). Create always returns ``queued`` (spec §2.1).
    * ``poll_after_ms``: value of ``openai-poll-after-ms`` on non-terminal Video responses
      (spec §6); ``None`` omits the header.
    * ``fail_marker``: a prompt containing it ends ``failed`` with ``moderation_blocked``
      (spec §2.2); ``None`` disables.
    * ``video_bytes`` / ``thumbnail_bytes`` / ``spritesheet_bytes``: sizes of the fake content
      (spec §2.3); ``chunk_bytes`` is the streaming chunk size.
    * ``not_ready_status``: HTTP status for content/remix/delete of a job that is not finished
      (spec §11 says UNVERIFIED; fake's choice 400 because the SDK retries 409, spec §4.2).
    * ``allow_delete_unfinished``: allow ``DELETE`` of queued/in_progress jobs (SPEC summary
      says "completed or failed"; spec §2.4 says the status is UNVERIFIED).
    * ``allowed_seconds`` / ``allowed_sizes``: ``None`` = the mode's defaults (spec §8.1, §9).
    * ``clock``: returns unix time; used for ``created_at``/``completed_at``.

    Runtime (read these in tests): ``requests``, ``jobs``, ``jobs_created``, ``faults``,
    ``internal_errors``.
    """

    api_key: str = "sk-test"
    azure: bool = False
    azure_deployments: tuple[str, ...] = ("sora-2",)
    polls_to_complete: int = 3
    queued_polls: int = 0
    poll_after_ms: int | None = 10
    fail_marker: str | None = "FAIL"
    video_bytes: int = 64 * 1024
    thumbnail_bytes: int = 4 * 1024
    spritesheet_bytes: int = 16 * 1024
    chunk_bytes: int = 16 * 1024
    not_ready_status: int = 400
    allow_delete_unfinished: bool = False
    allowed_seconds: tuple[str, ...] | None = None
    allowed_sizes: tuple[str, ...] | None = None
    clock: Callable[[], float] = time.time

    requests: list[RecordedRequest] = field(default_factory=list, init=False)
    jobs: dict[str, FakeJob] = field(default_factory=dict, init=False)
    faults: list[Fault] = field(default_factory=list, init=False)
    jobs_created: int = field(default=0, init=False)
    internal_errors: list[BaseException] = field(default_factory=list, init=False)
    lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)
    _seq: int = field(default=0, init=False, repr=False)
    _initial: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    # Set by run_fake_openai: aborts the TCP connection of the given client address.
    _abort_connection: Callable[[tuple[str, int] | None], bool] | None = field(
        default=None, init=False, repr=False
    )

    def __post_init__(self) -> None:
        self._initial = {name: getattr(self, name) for name in _CONFIG_FIELDS}

    # ---- config-derived -------------------------------------------------------------------

    @property
    def prefix(self) -> str:
        """URL prefix of every route: ``/v1`` or, in Azure mode, ``/openai/v1`` (spec §9)."""
        return "/openai/v1" if self.azure else "/v1"

    @property
    def seconds_values(self) -> tuple[str, ...]:
        if self.allowed_seconds is not None:
            return self.allowed_seconds
        return AZURE_SECONDS if self.azure else OPENAI_SECONDS

    @property
    def size_values(self) -> tuple[str, ...]:
        if self.allowed_sizes is not None:
            return self.allowed_sizes
        return AZURE_SIZES if self.azure else OPENAI_SIZES

    def content_size(self, variant: str) -> int:
        return {
            "video": self.video_bytes,
            "thumbnail": self.thumbnail_bytes,
            "spritesheet": self.spritesheet_bytes,
        }[variant]

    # ---- test helpers ---------------------------------------------------------------------

    def reset(self) -> None:
        """Forget jobs, requests and faults, and restore the constructor's config."""
        with self.lock:
            for name, value in self._initial.items():
                setattr(self, name, value)
            self.requests.clear()
            self.jobs.clear()
            self.faults.clear()
            self.internal_errors.clear()
            self.jobs_created = 0
            self._seq = 0

    def inject(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = 500,
        headers: Mapping[str, str] | None = None,
        body: JSON | str | bytes | None = None,
        content_type: str | None = None,
        times: int = 1,
        process_request: bool = False,
        drop_connection: bool = False,
        delay: float = 0.0,
    ) -> Fault:
        """Queue a canned failure for the next ``times`` matching requests (FIFO per match).

        Args:
            method: HTTP method to match, or ``None`` for any.
            path: full path to match (e.g. ``"/v1/videos"``); ``{id}`` or ``*`` matches one
                segment (``"/v1/videos/{id}/content"``); ``None`` matches any path.
            status: HTTP status to return. ``None`` = no canned response: only ``delay``
                applies and the request is handled normally.
            headers: response headers, e.g. ``{"retry-after-ms": "10"}`` or
                ``{"x-should-retry": "false"}`` (spec §5). ``x-request-id`` is added if absent.
            body: JSON-able value (sent as JSON), ``str``/``bytes`` (sent raw, e.g. a non-JSON
                error page), or ``None`` for an OpenAI-style envelope matching ``status``.
            content_type: overrides the response Content-Type.
            times: how many matching requests this fault answers.
            process_request: handle the request for real first (e.g. the job IS created, and
                counted in ``jobs_created``), then return the fault instead of the real answer.
                Otherwise the request has no effect (no job is created).
            drop_connection: abort the TCP connection without any response (a connection
                reset). Needs :func:`run_fake_openai`; in-process ASGI raises
                ``ConnectionResetError`` in the app instead.
            delay: seconds to wait (without blocking other requests) before answering; with
                ``status=None`` this just slows the normal response (for client timeouts).
        """
        fault = Fault(
            method=method,
            path=path,
            status=status,
            headers=dict(headers or {}),
            body=body,
            content_type=content_type,
            times=times,
            process_request=process_request,
            drop_connection=drop_connection,
            delay=delay,
        )
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def requests_for(
        self, method: str | None = None, path: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests filtered by method and path (same matching as :meth:`inject`)."""
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method.upper()) and _path_matches(path, r.path)
            ]

    def video(self, video_id: str) -> dict[str, Any]:
        """The current wire form of a job (without advancing it)."""
        with self.lock:
            return self.jobs[video_id].to_video()

    def videos(self) -> list[dict[str, Any]]:
        """All non-deleted jobs, oldest first, in wire form."""
        with self.lock:
            return [j.to_video() for j in self.jobs.values() if not j.deleted]

    def expected_content(self, video_id: str, variant: str = "video") -> bytes:
        """The exact bytes ``GET /videos/{id}/content?variant=`` serves for this job."""
        return fake_content(video_id, variant, self.content_size(variant))

    def complete(self, video_id: str) -> dict[str, Any]:
        """Force a job to ``completed`` now (skipping the poll schedule)."""
        with self.lock:
            job = self.jobs[video_id]
            self._finish(job, failed=False)
            return job.to_video()

    def fail(
        self,
        video_id: str,
        *,
        code: str = MODERATION_ERROR["code"],
        message: str = MODERATION_ERROR["message"],
    ) -> dict[str, Any]:
        """Force a job to ``failed`` now with the given ``Video.error`` (spec §3.2)."""
        with self.lock:
            job = self.jobs[video_id]
            self._finish(job, failed=True, error={"code": code, "message": message})
            return job.to_video()

    def seed_video(
        self,
        *,
        prompt: str = "seeded",
        status: VideoStatus = "completed",
        model: str = DEFAULT_MODEL,
        size: str = DEFAULT_SIZE,
        seconds: str = DEFAULT_SECONDS,
    ) -> dict[str, Any]:
        """Add a job directly (not counted in ``jobs_created``, not recorded as a request)."""
        with self.lock:
            job = self._new_job(model=model, prompt=prompt, size=size, seconds=seconds)
            if status in TERMINAL_STATUSES:
                self._finish(job, failed=status == "failed")
            elif status == "in_progress":
                job.status, job.progress = "in_progress", 50
            return job.to_video()

    # ---- job lifecycle (call with lock held) ----------------------------------------------

    def _now(self) -> int:
        return int(self.clock())

    def _new_job(self, *, model: str, prompt: str, size: str, seconds: str) -> FakeJob:
        self._seq += 1
        # spec §3.1: ids look like "video_" + 48 hex chars.
        job = FakeJob(
            id="video_" + secrets.token_hex(24),
            seq=self._seq,
            model=model,
            prompt=prompt,
            size=size,
            seconds=seconds,
            created_at=self._now(),
        )
        self.jobs[job.id] = job
        return job

    def _advance(self, job: FakeJob) -> None:
        """One ``GET /videos/{id}`` moves the job one step along the schedule."""
        if job.status in TERMINAL_STATUSES:
            return
        job.polls += 1
        queued = max(0, self.queued_polls)
        steps = max(1, self.polls_to_complete)
        if job.polls <= queued:
            job.status, job.progress = "queued", 0
            return
        step = job.polls - queued
        if step < steps:
            job.status, job.progress = "in_progress", max(1, min(99, step * 100 // steps))
            return
        failed = self.fail_marker is not None and self.fail_marker in job.prompt
        self._finish(job, failed=failed)

    def _finish(self, job: FakeJob, *, failed: bool, error: dict[str, Any] | None = None) -> None:
        now = self._now()
        job.completed_at = now
        if failed:
            # spec §2.2: failed is HTTP 200 with status "failed" and error {code, message};
            # the example shows progress 0. No assets, so expires_at stays null (fake's choice).
            job.status, job.progress = "failed", 0
            job.error = dict(error or MODERATION_ERROR)
            job.expires_at = None
        else:
            job.status, job.progress = "completed", 100
            job.error = None
            job.expires_at = job.created_at + ASSET_TTL_SECONDS  # spec §2.2

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.remaining > 0 and fault.matches(method, path):
                    fault.served += 1
                    if fault.remaining <= 0:
                        self.faults.remove(fault)
                    return fault
        return None


# --------------------------------------------------------------------------------------------
# Fake content (spec §2.3)
# --------------------------------------------------------------------------------------------

_MAGIC: dict[str, bytes] = {
    # ISO-BMFF "ftyp" box, RIFF/WEBP header, JPEG SOI+APP0: lets clients sniff the type.
    "video": b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41",
    "thumbnail": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    "spritesheet": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
}


def fake_content(video_id: str, variant: str, size: int) -> bytes:
    """Deterministic pseudo-random bytes for (id, variant), starting with the format's magic."""
    data = bytearray(hashlib.shake_256(f"{video_id}:{variant}".encode()).digest(size))
    magic = _MAGIC[variant]
    if variant == "thumbnail" and size >= 8:
        magic = magic[:4] + (size - 8).to_bytes(4, "little") + magic[8:]
    head = magic[:size]
    data[: len(head)] = head
    return bytes(data)


# --------------------------------------------------------------------------------------------
# Request parsing and handlers
# --------------------------------------------------------------------------------------------


@dataclass
class _Parsed:
    """The request body as the handlers see it: a dict of fields plus file parts."""

    fields: dict[str, Any]
    files: dict[str, RecordedFile]
    multipart: bool
    error: _ApiError | None = None


async def _record(request: Request) -> tuple[RecordedRequest, _Parsed]:
    raw = await request.body()
    ctype = request.headers.get("content-type")
    rec = RecordedRequest(
        method=request.method,
        path=request.url.path,
        query=dict(request.query_params),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=raw,
        content_type=ctype,
    )
    parsed = _Parsed(fields={}, files={}, multipart=False)
    media = (ctype or "").split(";")[0].strip().lower()
    if media in ("multipart/form-data", "application/x-www-form-urlencoded"):
        parsed.multipart = True
        try:
            # Starlette re-reads the cached body, so `raw` above stays intact.
            form = await request.form(max_part_size=32 * 1024 * 1024)
        except Exception as exc:  # malformed multipart → 400, like a real server
            parsed.error = _ApiError(400, f"Could not parse multipart form: {exc}")
            return rec, parsed
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                file = RecordedFile(
                    name=name,
                    filename=value.filename,
                    content_type=value.content_type,
                    data=await value.read(),
                )
                rec.files.append(file)
                parsed.files[name] = file
            else:
                rec.form_items.append((name, value))
                rec.form[name] = value
                parsed.fields[name] = value
        await form.close()
    elif raw.strip():
        try:
            rec.json = json.loads(raw)
        except ValueError:
            parsed.error = _ApiError(400, _JSON_PARSE_ERROR)
            return rec, parsed
        if not isinstance(rec.json, dict):
            parsed.error = _invalid_type("body", "an object", rec.json)  # OpenAI style
            return rec, parsed
        parsed.fields = dict(rec.json)
    return rec, parsed


def _validate_prompt(fields: Mapping[str, Any]) -> str:
    prompt = fields.get("prompt")
    if prompt is None:
        raise _ApiError(
            400,
            "Missing required parameter: 'prompt'.",
            param="prompt",
            code="missing_required_parameter",
        )  # OpenAI style
    if not isinstance(prompt, str):
        raise _invalid_type("prompt", "a string", prompt)
    if len(prompt) < 1:  # spec §2.1 minLength 1; wording OpenAI style
        raise _ApiError(
            400,
            "Invalid 'prompt': string too short. Expected a string with minimum length 1, "
            "but got an empty string instead.",
            param="prompt",
            code="string_below_min_length",
        )
    if len(prompt) > MAX_PROMPT_CHARS:  # spec §2.1 maxLength 32000
        raise _ApiError(
            400,
            f"Invalid 'prompt': string too long. Expected a string with maximum length "
            f"{MAX_PROMPT_CHARS}, but got a string with length {len(prompt)} instead.",
            param="prompt",
            code="string_above_max_length",
        )
    return prompt


def _enum_field(
    fields: Mapping[str, Any],
    name: str,
    default: str,
    allowed: tuple[str, ...],
    published: tuple[str, ...],
) -> str:
    value = fields.get(name)
    if value is None:  # omitted (the SDK never sends null, spec §2.1; null treated as omitted)
        return default
    if not isinstance(value, str):
        # spec §4.1: "Invalid type for 'seconds': expected one of '4', '8', or '12', but got an
        # integer instead." Messages quote the published enum.
        raise _invalid_type(name, "one of " + _quote_list(published, "or"), value)
    if value not in allowed:
        raise _invalid_value(name, value, published)
    return value


def _input_reference(parsed: _Parsed) -> dict[str, Any] | None:
    """spec §2.1 / §8.3: multipart → file part; JSON → {"image_url"} or {"file_id"}."""
    if "input_reference" in parsed.files:
        return {"file": parsed.files["input_reference"]}
    fields = parsed.fields
    if parsed.multipart:
        # spec §2.1: the SDK bracket-encodes a dict as input_reference[image_url]=...;
        # UNVERIFIED whether OpenAI parsed it. Fake's choice: accept it as the object form.
        obj = {
            key: fields[f"input_reference[{key}]"]
            for key in ("image_url", "file_id")
            if f"input_reference[{key}]" in fields
        }
        value: Any = obj if obj else fields.get("input_reference")
        if isinstance(value, str):
            # spec §4.1, multipart wording.
            raise _ApiError(
                400,
                "Invalid type for 'input_reference': expected a file, but got a string instead.",
                param="input_reference",
                code="invalid_type",
            )
    else:
        value = fields.get("input_reference")
        if isinstance(value, str):
            # spec §4.1, JSON wording.
            raise _invalid_type("input_reference", "an object", value)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid_type("input_reference", "an object", value)
    keys = [k for k in ("image_url", "file_id") if value.get(k) is not None]
    if len(keys) != 1:  # spec §3.3 ImageRefParam: "Provide exactly one of image_url or file_id"
        raise _ApiError(
            400,
            "Invalid 'input_reference': provide exactly one of 'image_url' or 'file_id'.",
            param="input_reference",
            code="invalid_value",
        )
    ref = value[keys[0]]
    if not isinstance(ref, str):
        raise _invalid_type(f"input_reference.{keys[0]}", "a string", ref)
    if keys[0] == "image_url" and not ref.startswith(("https://", "http://", "data:")):
        # spec §2.1: "<https URL or data: URL>"
        raise _ApiError(
            400,
            "Invalid 'input_reference.image_url': expected a URL or a data URL.",
            param="input_reference.image_url",
            code="invalid_value",
        )
    return {keys[0]: ref}


_KNOWN_CREATE_FIELDS = {"prompt", "model", "seconds", "size", "input_reference"}


def _check_model(state: FakeOpenAIState, model: object) -> str:
    if not isinstance(model, str):
        raise _invalid_type("model", "a string", model)
    if state.azure and model not in state.azure_deployments:
        # spec §9: model is the Azure deployment name.
        raise _ApiError(404, _AZURE_NO_DEPLOYMENT, param=None, code="DeploymentNotFound")
    return model


def _create(state: FakeOpenAIState, parsed: _Parsed) -> tuple[int, JSON]:
    """spec §2.1: POST /videos, JSON or multipart; returns a queued Video (HTTP 200)."""
    fields = parsed.fields
    prompt = _validate_prompt(fields)
    model_value = fields.get("model")
    model = _check_model(state, DEFAULT_MODEL if model_value is None else model_value)
    seconds = _enum_field(
        fields, "seconds", DEFAULT_SECONDS, state.seconds_values, PUBLISHED_SECONDS
    )
    size = _enum_field(fields, "size", DEFAULT_SIZE, state.size_values, PUBLISHED_SIZES)
    reference = _input_reference(parsed)
    job = state._new_job(model=model, prompt=prompt, size=size, seconds=seconds)
    job.input_reference = reference
    job.extra = {
        k: v
        for k, v in fields.items()
        if k not in _KNOWN_CREATE_FIELDS and not k.startswith("input_reference[")
    }
    state.jobs_created += 1
    return 200, job.to_video()


def _live_job(state: FakeOpenAIState, video_id: str) -> FakeJob:
    job = state.jobs.get(video_id)
    if job is None or job.deleted:
        raise _not_found(video_id)
    return job


def _not_ready(state: FakeOpenAIState, job: FakeJob, action: str) -> _ApiError:
    # spec §11: status/code UNVERIFIED. Fake's choice: `not_ready_status` (400 by default),
    # code "video_not_ready".
    return _ApiError(
        state.not_ready_status,
        f"Video '{job.id}' is {job.status}; {action} requires a completed video.",
        param=None,
        code="video_not_ready",
    )


def _retrieve(state: FakeOpenAIState, video_id: str) -> tuple[int, JSON]:
    """spec §2.2: GET /videos/{id}; each GET advances the job (see ``polls_to_complete``)."""
    job = _live_job(state, video_id)
    state._advance(job)
    return 200, job.to_video()


def _delete(state: FakeOpenAIState, video_id: str) -> tuple[int, JSON]:
    """spec §2.4 / §3.3: DELETE /videos/{id} → {"id", "object": "video.deleted", "deleted"}."""
    job = _live_job(state, video_id)
    if job.status not in TERMINAL_STATUSES and not state.allow_delete_unfinished:
        raise _not_ready(state, job, "deleting")
    job.deleted = True  # kept as a tombstone so an `after` cursor pointing at it still works
    return 200, {"id": job.id, "object": "video.deleted", "deleted": True}


def _list(state: FakeOpenAIState, query: Mapping[str, str]) -> tuple[int, JSON]:
    """spec §2.5: GET /videos?limit&after&order → VideoListResource."""
    limit = LIST_DEFAULT_LIMIT
    if "limit" in query:
        try:
            limit = int(query["limit"])
        except ValueError:
            raise _invalid_type("limit", "an integer", query["limit"]) from None
        if limit > LIST_MAX_LIMIT:  # OpenAI style wording
            raise _ApiError(
                400,
                f"Invalid 'limit': integer above maximum value. Expected a value <= "
                f"{LIST_MAX_LIMIT}, but got {limit} instead.",
                param="limit",
                code="integer_above_max_value",
            )
        if limit < 0:
            raise _ApiError(
                400,
                f"Invalid 'limit': integer below minimum value. Expected a value >= 0, "
                f"but got {limit} instead.",
                param="limit",
                code="integer_below_min_value",
            )
    order = query.get("order", "desc")  # default UNVERIFIED; desc as other OpenAI lists
    if order not in ("asc", "desc"):
        raise _invalid_value("order", order, ("asc", "desc"))
    ordered = sorted(state.jobs.values(), key=lambda j: j.seq, reverse=order == "desc")
    after = query.get("after")
    if after is not None:
        cursor = state.jobs.get(after)
        if cursor is None:
            # Fake's choice (UNVERIFIED): an unknown cursor is a 400 on `after`.
            raise _ApiError(
                400, f"Invalid 'after': no video with id '{after}'.", param="after", code=None
            )
        if order == "desc":
            ordered = [j for j in ordered if j.seq < cursor.seq]
        else:
            ordered = [j for j in ordered if j.seq > cursor.seq]
    live = [j for j in ordered if not j.deleted]
    page = live[:limit]
    return 200, {
        "object": "list",
        "data": [j.to_video() for j in page],
        "first_id": page[0].id if page else None,
        "last_id": page[-1].id if page else None,
        "has_more": len(live) > len(page),
    }


def _remix(state: FakeOpenAIState, video_id: str, parsed: _Parsed) -> tuple[int, JSON]:
    """spec §2.6: POST /videos/{id}/remix {"prompt"} → new Video with remixed_from_video_id."""
    source = _live_job(state, video_id)
    prompt = _validate_prompt(parsed.fields)
    if source.status != "completed":  # spec §2.6: "a remix of a completed video"
        raise _not_ready(state, source, "remixing")
    job = state._new_job(
        model=source.model, prompt=prompt, size=source.size, seconds=source.seconds
    )
    job.remixed_from_video_id = source.id
    state.jobs_created += 1
    return 200, job.to_video()


def _content(state: FakeOpenAIState, video_id: str, query: Mapping[str, str]) -> Response:
    """spec §2.3: GET /videos/{id}/content?variant= → bytes, Content-Type and Content-Length."""
    job = _live_job(state, video_id)
    variant = query.get("variant", "video")
    if variant not in CONTENT_TYPES:
        raise _invalid_value("variant", variant, tuple(CONTENT_TYPES))
    if job.status != "completed":
        raise _not_ready(state, job, "downloading content")
    data = state.expected_content(job.id, variant)
    chunk = max(1, state.chunk_bytes)

    async def chunks() -> Any:
        # Streamed in pieces with an explicit Content-Length (spec §6: a proxy must stream).
        for start in range(0, len(data), chunk):
            yield data[start : start + chunk]

    return StreamingResponse(
        chunks(),
        media_type=CONTENT_TYPES[variant],
        headers={"content-length": str(len(data))},
    )


_VIDEO = r"(?P<video_id>[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"/videos/?"), "create"),
    ("GET", re.compile(r"/videos/?"), "list"),
    ("GET", re.compile(rf"/videos/{_VIDEO}/content/?"), "content"),
    ("POST", re.compile(rf"/videos/{_VIDEO}/remix/?"), "remix"),
    ("GET", re.compile(rf"/videos/{_VIDEO}/?"), "retrieve"),
    ("DELETE", re.compile(rf"/videos/{_VIDEO}/?"), "delete"),
]


def _check_auth(state: FakeOpenAIState, headers: Mapping[str, str]) -> None:
    auth = headers.get("authorization", "")
    bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    if state.azure:
        # spec §9: `api-key: <key>` header, or `Authorization: Bearer <token>`.
        if state.api_key in (headers.get("api-key"), bearer):
            return
        raise _ApiError(401, _AZURE_401, param=None, code="401")
    # spec §1: Authorization: Bearer <key>. Wording: OpenAI style.
    if bearer == state.api_key:
        return
    if not bearer:
        message = (
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )
    else:
        masked = bearer if len(bearer) <= 8 else bearer[:3] + "*" * (len(bearer) - 7) + bearer[-4:]
        message = (
            f"Incorrect API key provided: {masked}. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
        )
    raise _ApiError(401, message, param=None, code="invalid_api_key")


def _handle(
    state: FakeOpenAIState, request: Request, rec: RecordedRequest, parsed: _Parsed
) -> Response:
    """Auth, routing and the endpoint itself; errors become the spec §4.1 envelope."""
    with state.lock:
        try:
            path = request.url.path
            route: tuple[str, re.Match[str]] | None = None
            if path.startswith(state.prefix + "/"):
                rel = path[len(state.prefix) :]
                for method, pattern, name in _ROUTES:
                    match = pattern.fullmatch(rel)
                    if match and method == request.method:
                        route = (name, match)
                        break
            if route is None:  # OpenAI style for unknown URLs (and methods)
                raise _ApiError(404, f"Invalid URL ({request.method} {path})")
            _check_auth(state, rec.headers)
            name, match = route
            video_id = match.groupdict().get("video_id", "")
            if name == "content":
                return _content(state, video_id, rec.query)
            if name == "list":
                status, payload = _list(state, rec.query)
            elif name == "retrieve":
                status, payload = _retrieve(state, video_id)
            elif name == "delete":
                status, payload = _delete(state, video_id)
            else:
                if parsed.error is not None:
                    raise parsed.error
                if name == "create":
                    status, payload = _create(state, parsed)
                else:
                    status, payload = _remix(state, video_id, parsed)
        except _ApiError as err:
            return _json(err.status, err.body)
        headers: dict[str, str] = {}
        # spec §6: non-terminal Video responses tell the SDK poll helper how long to wait.
        if (
            payload.get("object") == "video"
            and payload.get("status") not in TERMINAL_STATUSES
            and state.poll_after_ms is not None
        ):
            headers["openai-poll-after-ms"] = str(state.poll_after_ms)
        return _json(status, payload, headers)


def _json(status: int, payload: JSON, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload).encode(),
        status_code=status,
        headers=dict(headers or {}),
        media_type="application/json",
    )


async def _drop(state: FakeOpenAIState, request: Request) -> None:
    abort = state._abort_connection
    client = (request.client.host, request.client.port) if request.client else None
    if abort is None or not abort(client):
        raise ConnectionResetError("fake OpenAI upstream: injected connection drop")
    # Let uvicorn notice the closed transport, so it neither logs nor sends a 500.
    with contextlib.suppress(asyncio.TimeoutError):
        while (await asyncio.wait_for(request.receive(), 1.0))["type"] != "http.disconnect":
            pass


async def _endpoint(request: Request) -> Response:
    state: FakeOpenAIState = request.app.state.fake
    rec, parsed = await _record(request)
    rec.request_id = "req_" + secrets.token_hex(16)
    with state.lock:
        state.requests.append(rec)
    fault = state._take_fault(rec.method, rec.path)
    rec.fault = fault
    response: Response
    try:
        if fault is not None and fault.delay > 0:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.drop_connection:
            if fault.process_request:
                _handle(state, request, rec, parsed)
            await _drop(state, request)
            return Response(b"", status_code=499)  # never sent: the transport is gone
        if fault is not None and fault.status is not None:
            if fault.process_request:
                _handle(state, request, rec, parsed)
            response = fault.render()
        else:
            response = _handle(state, request, rec, parsed)
    except ConnectionResetError:
        raise
    except Exception as exc:  # a bug in the fake: report it as a 500, keep it for the test
        with state.lock:
            state.internal_errors.append(exc)
        response = _json(500, error_envelope(f"fake upstream bug: {exc!r}", type="server_error"))
    # spec §1: every response carries x-request-id (the SDK puts it on APIStatusError).
    if "x-request-id" not in response.headers:
        response.headers["x-request-id"] = rec.request_id
    rec.status = response.status_code
    return response


def create_app(state: FakeOpenAIState | None = None) -> Starlette:
    """ASGI app of the fake. The state is at ``app.state.fake``."""
    app = Starlette(
        routes=[
            Route(
                "/{path:path}",
                _endpoint,
                methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            )
        ]
    )
    app.state.fake = state if state is not None else FakeOpenAIState()
    return app


# --------------------------------------------------------------------------------------------
# Real server on loopback
# --------------------------------------------------------------------------------------------


def _abort_client(server: uvicorn.Server, client: tuple[str, int] | None) -> bool:
    """Abort (RST) the TCP connection of ``client``; runs on the server's event loop."""
    for conn in list(server.server_state.connections):
        if client is not None and getattr(conn, "client", None) == client:
            transport = getattr(conn, "transport", None)
            if transport is not None:
                transport.abort()
                return True
    return False


@contextlib.contextmanager
def run_fake_openai(
    state: FakeOpenAIState | None = None,
    *,
    host: str = "127.0.0.1",
    startup_timeout: float = 10.0,
) -> Iterator[str]:
    """Serve the fake with uvicorn on a free port in a background thread.

    Yields the base URL for an OpenAI client: ``http://127.0.0.1:PORT/v1``, or
    ``http://127.0.0.1:PORT/openai/v1`` when ``state.azure``. Stops the server on exit.
    """
    state = state if state is not None else FakeOpenAIState()
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # is TCP, and without it keep-alive responses stall ~40 ms on Nagle + delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))  # the kernel picks a free port; uvicorn listens on this very socket
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(state),
        host=host,
        port=port,
        http="h11",
        loop="asyncio",
        lifespan="off",
        access_log=False,
        log_level="warning",
        log_config=None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"fake-openai-{port}", daemon=True
    )
    state._abort_connection = lambda client: _abort_client(server, client)
    thread.start()
    try:
        ready = threading.Event()
        deadline = time.monotonic() + startup_timeout
        # Poll `server.started` (set once the socket is listening); no fixed sleeps.
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("fake OpenAI upstream failed to start")
            if time.monotonic() > deadline:
                raise TimeoutError("fake OpenAI upstream did not start in time")
            ready.wait(0.002)
        yield f"http://{host}:{port}{state.prefix}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        if thread.is_alive():  # a request is hanging (e.g. a long injected delay)
            server.force_exit = True
            thread.join(timeout=5)
        state._abort_connection = None
        sock.close()
