"""A fake of fal.ai's queue API, following ``shared/spec/providers.md`` §7 (and §1.1 status
mapping, §1.2 delivery, the addenda on late 422s).

Routes (relative to the fake's base, which stands for ``https://queue.fal.run``):

* ``POST /{app}`` (e.g. ``/fal-ai/kling-video/v2.1/master/text-to-video``): submit; answers
  ``{"request_id", "response_url", "status_url", "cancel_url", "queue_position"}`` whose URLs
  use only ``owner/alias`` (``/fal-ai/kling-video/requests/{id}``), as §7's gotcha says.
* ``GET /{owner}/{alias}/requests/{id}/status``: ``IN_QUEUE`` (with ``queue_position``) for
  ``queued_polls`` polls, then ``IN_PROGRESS``, then ``COMPLETED`` at poll
  ``polls_to_complete`` (``error``/``error_type`` set when the job failed).
* ``GET /{owner}/{alias}/requests/{id}``: the output ``{"video": {"url", "content_type",
  "file_name", "file_size"}}``; 400 while unfinished; 422 ``{"detail": [...]}`` for a job
  refused only at this point (addenda).
* ``PUT /{owner}/{alias}/requests/{id}/cancel``: 202 ``CANCELLATION_REQUESTED``; 400
  ``ALREADY_COMPLETED`` (fake's choice of status: §7 names the value only); 404 ``NOT_FOUND``.
* ``GET /cdn/{id}/output.mp4``: the "CDN", no auth; 403 once ``expire_downloads`` is set.

Auth is ``Authorization: Key <api_key>`` on every queue route; anything else is 401
``{"detail": ...}`` (fake's wording). A prompt containing ``[fail]``, ``[refuse]`` or
``[refuse-late]`` ends failed, refused at status, or refused when the result is fetched.
``inject`` makes a route answer a canned error (e.g. 429 with ``Retry-After``) N times.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# §7 model inputs for the apps the tests use: allowed durations and the required image field.
APPS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "fal-ai/kling-video/v2/master/text-to-video": (("5", "10"), None),
    "fal-ai/kling-video/v2/master/image-to-video": (("5", "10"), "image_url"),
    "fal-ai/kling-video/v2.1/master/text-to-video": (("5", "10"), None),
    "fal-ai/kling-video/v2.1/master/image-to-video": (("5", "10"), "image_url"),
    "fal-ai/kling-video/v2.1/pro/image-to-video": (("5", "10"), "image_url"),
    "fal-ai/kling-video/v2.1/standard/image-to-video": (("5", "10"), "image_url"),
    "fal-ai/minimax/hailuo-02/standard/text-to-video": (("6", "10"), None),
    "fal-ai/minimax/hailuo-02/standard/image-to-video": (("6", "10"), "image_url"),
    "fal-ai/wan-25-preview/text-to-video": (("5", "10"), None),
    "fal-ai/wan-25-preview/image-to-video": (("5", "10"), "image_url"),
}
REFUSAL = (
    "The content could not be processed because it contained material flagged by a content checker."
)
FAILURE = "Runner crashed while generating the video."
_JOB_PATH = re.compile(
    r"^/(?P<root>[^/]+/[^/]+)/requests/(?P<id>[0-9a-f-]+)(?P<op>/status|/cancel)?$"
)


@dataclass
class Recorded:
    """One request as received; ``headers`` lower-cased."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any


@dataclass
class Job:
    id: str
    app: str
    root: str
    input: dict[str, Any]
    polls: int = 0
    state: str = "IN_QUEUE"
    error: str | None = None
    error_type: str | None = None
    late_refusal: bool = False


@dataclass
class Fault:
    method: str
    path_prefix: str
    status: int
    body: Any
    headers: dict[str, str]
    times: int


@dataclass
class FakeFalState:
    """Config (``api_key``, ``queued_polls``, ``polls_to_complete``, ``video_bytes``,
    ``expire_downloads``) and what happened (``requests``, ``jobs``)."""

    api_key: str = "fal-test"
    queued_polls: int = 1
    polls_to_complete: int = 3
    video_bytes: bytes = b"\x00\x00\x00\x18ftypmp42"
    expire_downloads: bool = False
    requests: list[Recorded] = field(default_factory=list)
    jobs: dict[str, Job] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.api_key, self.queued_polls, self.polls_to_complete = "fal-test", 1, 3
            self.expire_downloads = False
            self.requests.clear()
            self.jobs.clear()
            self.faults.clear()

    def inject(
        self,
        method: str,
        path_prefix: str,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` and ``body``."""
        with self.lock:
            self.faults.append(Fault(method, path_prefix, status, body, headers or {}, times))

    def requests_for(self, method: str, path_prefix: str = "/") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.method == method and path.startswith(fault.path_prefix):
                fault.times -= 1
                return fault
        return None


def _error(
    status: int, detail: Any, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status, headers=headers)


def _submit(state: FakeFalState, base: str, app: str, body: Any) -> Response:
    if app not in APPS:
        return _error(404, f"Application '{app}' not found")
    seconds, image_field = APPS[app]
    problems = []
    if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
        problems.append({"loc": ["body", "prompt"], "msg": "field required", "type": "missing"})
        body = body if isinstance(body, dict) else {}
    if str(body.get("duration", seconds[0])) not in seconds:
        problems.append(
            {"loc": ["body", "duration"], "msg": f"value is not one of {list(seconds)}",
             "type": "enum", "input": body.get("duration")}
        )  # fmt: skip
    if image_field and not body.get(image_field):
        problems.append({"loc": ["body", image_field], "msg": "field required", "type": "missing"})
    if problems:
        return _error(422, problems)
    parts = app.split("/")
    job = Job(id=str(uuid.uuid4()), app=app, root="/".join(parts[:2]), input=body)
    prompt = body["prompt"]
    if "[fail]" in prompt:
        job.error, job.error_type = FAILURE, "runner_server_error"
    elif "[refuse]" in prompt:
        job.error, job.error_type = REFUSAL, "content_policy_violation"
    job.late_refusal = "[refuse-late]" in prompt
    state.jobs[job.id] = job
    url = f"{base}/{job.root}/requests/{job.id}"
    return JSONResponse(
        {
            "request_id": job.id,
            "response_url": url,
            "status_url": f"{url}/status",
            "cancel_url": f"{url}/cancel",
            "queue_position": 0,
        }
    )


def _status(state: FakeFalState, job: Job) -> Response:
    if job.state != "COMPLETED":
        job.polls += 1
        if job.polls > state.queued_polls:
            job.state = "IN_PROGRESS"
        if job.polls >= state.polls_to_complete:
            job.state = "COMPLETED"
    body: dict[str, Any] = {"status": job.state, "request_id": job.id, "logs": None}
    if job.state == "IN_QUEUE":
        body["queue_position"] = 0
    if job.state == "COMPLETED":
        body["metrics"] = {"inference_time": 12.5}
        if job.error:
            body.update(error=job.error, error_type=job.error_type)
    return JSONResponse(body)


def _result(base: str, job: Job, state: FakeFalState) -> Response:
    if job.state != "COMPLETED":
        return _error(400, "Request is still in progress")
    if job.late_refusal:
        item = {"loc": ["body", "prompt"], "msg": REFUSAL, "type": "content_policy_violation"}
        return _error(422, [item], headers={"x-fal-error-type": "content_policy_violation"})
    if job.error:
        return _error(500, job.error, error_type=job.error_type)
    video = {
        "url": f"{base}/cdn/{job.id}/output.mp4",
        "content_type": "video/mp4",
        "file_name": "output.mp4",
        "file_size": len(state.video_bytes),
    }
    return JSONResponse({"video": video, "seed": 7})


def _cancel(job: Job) -> Response:
    if job.state == "COMPLETED":
        return JSONResponse({"status": "ALREADY_COMPLETED"}, status_code=400)
    job.state, job.error, job.error_type = "COMPLETED", "Request was cancelled", "client_cancelled"
    return JSONResponse({"status": "CANCELLATION_REQUESTED"}, status_code=202)


async def _endpoint(request: Request) -> Response:
    state: FakeFalState = request.app.state.fal
    raw = await request.body()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    path, method = request.url.path, request.method
    base = str(request.base_url).rstrip("/")
    with state.lock:
        headers = {k.lower(): v for k, v in request.headers.items()}
        state.requests.append(Recorded(method, path, dict(request.query_params), headers, parsed))
        fault = state._take_fault(method, path)
        if fault is not None:
            return JSONResponse(fault.body, status_code=fault.status, headers=fault.headers)
        if path.startswith("/cdn/"):  # §1.2: a signed public CDN URL, no key needed
            if state.expire_downloads:
                return Response("<Error>AccessDenied: Request has expired</Error>", 403)
            return Response(state.video_bytes, media_type="video/mp4")
        if headers.get("authorization") != f"Key {state.api_key}":
            return _error(401, "Invalid authentication credentials")
        if method == "POST":
            return _submit(state, base, path.lstrip("/"), parsed)
        match = _JOB_PATH.match(path)
        job = state.jobs.get(match["id"]) if match else None
        if match is None or job is None or match["root"] != job.root:
            if method == "PUT":
                return JSONResponse({"status": "NOT_FOUND"}, status_code=404)
            return _error(404, "Request not found")
        if method == "PUT" and match["op"] == "/cancel":
            return _cancel(job)
        if method == "GET" and match["op"] == "/status":
            return _status(state, job)
        if method == "GET" and match["op"] is None:
            return _result(base, job, state)
        return _error(405, "Method not allowed")


def create_app(state: FakeFalState) -> Starlette:
    app = Starlette(routes=[Route("/{path:path}", _endpoint, methods=["GET", "POST", "PUT"])])
    app.state.fal = state
    return app
