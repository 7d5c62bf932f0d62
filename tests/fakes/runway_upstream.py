"""A fake of Runway's developer API, following ``/work/shared/spec/providers.md`` §5 (and §1.1
for statuses). "§5" below points there; "fake's choice" marks behaviour the spec leaves open.

Usage::

    state = FakeRunwayState(video_bytes=mp4)
    with serve_on_loopback(create_app(state)) as (base_url, _):   # api_base = base_url
        ...
        state.inject(method="POST", path="/v1/text_to_video", status=429,
                     headers={"retry-after": "2"})
        assert state.requests_for("POST", "/v1/text_to_video")[0].json["ratio"] == "1280:720"

Routes:

* ``POST /v1/text_to_video``, ``POST /v1/image_to_video``: JSON bodies checked per model as
  the SDK's discriminated unions describe them (§5); ``{"id"}`` back.
* ``GET /v1/tasks/{id}``: each poll advances the task: ``pending_polls`` polls ``PENDING``
  (the first one ``THROTTLED`` when ``throttle_first``), then ``RUNNING`` with ``progress`` 0–1,
  then the terminal state; ``createdAt`` ISO time; ``cost.credits`` once terminal.
* ``DELETE /v1/tasks/{id}``: cancels an unfinished task (it reads ``CANCELLED``), deletes a
  finished one (404 afterwards); 204 either way (§5).
* ``GET /cdn/{id}.mp4?_jwt=…``: the signed output URL (another host in reality; no API key).
  ``expire_links`` makes it answer 403 with an S3/CloudFront-style XML body (fake's choice:
  what an expired signed URL returns).

Every API route needs ``Authorization: Bearer <api_key>`` (401 otherwise) and
``X-Runway-Version`` (400 otherwise, fake's choice of wording). Errors are ``{"error": "...",
"issues": [...]}`` (§5: "a JSON response with an error member").

Prompts pick the outcome: ``moderation_marker`` → ``FAILED`` with ``SAFETY.INPUT.TEXT``,
``fail_marker`` → ``FAILED`` with ``INTERNAL.BAD_OUTPUT.CODE01`` (§5 failure codes).
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.faults import Fault, path_matches, take_fault

API_VERSION = "2024-11-06"
GEN4_RATIOS = ("1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672")
VEO_RATIOS = ("1280:720", "720:1280", "1920:1080", "1080:1920")
# §5 per-model bodies: (text-to-video ratios or None, image-to-video ratios, durations,
# credits per second).
MODELS: dict[str, tuple[tuple[str, ...] | None, tuple[str, ...], tuple[int, ...], int]] = {
    "gen4.5": (("1280:720", "720:1280"), GEN4_RATIOS, tuple(range(2, 11)), 12),
    "gen4_turbo": (None, GEN4_RATIOS, tuple(range(2, 11)), 5),
    "veo3.1": (VEO_RATIOS, VEO_RATIOS, (4, 6, 8), 40),
    "veo3.1_fast": (VEO_RATIOS, VEO_RATIOS, (4, 6, 8), 15),
}
_CONFIG = (
    "api_key",
    "video_bytes",
    "pending_polls",
    "running_polls",
    "throttle_first",
    "moderation_marker",
    "fail_marker",
    "expire_links",
)
EXPIRED_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message></Error>"
)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    status: int = 0


@dataclass
class FakeTask:
    id: str
    model: str
    prompt: str
    ratio: str
    duration: int
    created_at: str
    body: dict[str, Any]
    polls: int = 0
    status: str = "PENDING"
    deleted: bool = False


@dataclass
class FakeRunwayState:
    api_key: str = "key_test"
    video_bytes: bytes = b""
    pending_polls: int = 1
    running_polls: int = 2
    throttle_first: bool = False
    moderation_marker: str = "UNSAFE"
    fail_marker: str = "FAIL"
    expire_links: bool = False

    requests: list[RecordedRequest] = field(default_factory=list)
    tasks: dict[str, FakeTask] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _initial: dict[str, Any] = field(default_factory=dict, repr=False)

    def inject(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int = 500,
        headers: dict[str, str] | None = None,
        body: Any = None,
        times: int = 1,
    ) -> Fault:
        """Answer the next ``times`` matching requests with ``status`` instead (``{id}`` in
        ``path`` matches one segment); nothing else happens for them."""
        fault = Fault(method, path, status, dict(headers or {}), body, times)
        with self.lock:
            self.faults.append(fault)
        return fault

    def requests_for(self, method: str, path: str) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.method == method and path_matches(path, r.path)]

    def __post_init__(self) -> None:
        self._initial = {name: getattr(self, name) for name in _CONFIG}

    def reset(self) -> None:
        """Forget tasks, requests and faults; restore the constructor's configuration."""
        with self.lock:
            for name, value in self._initial.items():
                setattr(self, name, value)
            self.requests.clear()
            self.tasks.clear()
            self.faults.clear()


class _Error(Exception):
    def __init__(self, status: int, message: str, issues: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"error": message}
        if issues:
            self.body["issues"] = issues


def _invalid(path: str, message: str) -> _Error:
    return _Error(400, "Validation of body failed", [{"path": [path], "message": message}])


def _check_auth(state: FakeRunwayState, headers: dict[str, str]) -> None:
    if headers.get("authorization") != f"Bearer {state.api_key}":
        raise _Error(401, "The API key you provided is incorrect or has been disabled.")
    if headers.get("x-runway-version") != API_VERSION:
        raise _Error(400, f"The X-Runway-Version header must be set to {API_VERSION}.")


def _create(state: FakeRunwayState, kind: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _Error(400, "The request body must be a JSON object.")
    model = body.get("model")
    if model not in MODELS:
        raise _invalid("model", f"Invalid model {model!r}.")
    text_ratios, image_ratios, durations, _ = MODELS[model]
    image = kind == "image_to_video"
    if not image and text_ratios is None:
        raise _invalid("model", f"{model} is not available for text_to_video.")
    prompt = body.get("promptText")
    if (not image or prompt is not None) and (not isinstance(prompt, str) or not prompt):
        raise _invalid("promptText", "Required: a non-empty string.")
    if isinstance(prompt, str) and len(prompt.encode("utf-16-le")) // 2 > 1000:
        raise _invalid("promptText", "At most 1000 UTF-16 code units.")
    ratios = image_ratios if image else text_ratios or ()
    if body.get("ratio") not in ratios:
        raise _invalid("ratio", f"Invalid enum value. Expected {' | '.join(ratios)}.")
    if body.get("duration") not in durations:
        raise _invalid("duration", f"Expected one of {list(durations)}.")
    if image:
        uris = body.get("promptImage")
        if isinstance(uris, list):
            uris = [u.get("uri") if isinstance(u, dict) else None for u in uris]
        else:
            uris = [uris]
        for uri in uris:
            if not isinstance(uri, str) or not uri.startswith(("https://", "data:image/")):
                raise _invalid("promptImage", "Expected an HTTPS URL or a data URI.")
    task = FakeTask(
        id=str(uuid.uuid4()),
        model=model,
        prompt=prompt or "",
        ratio=body["ratio"],
        duration=body["duration"],
        created_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        body=body,
    )
    state.tasks[task.id] = task
    return {"id": task.id}


def _task(state: FakeRunwayState, task_id: str) -> FakeTask:
    task = state.tasks.get(task_id)
    if task is None or task.deleted:
        raise _Error(404, "Task not found.")
    return task


def _advance(state: FakeRunwayState, task: FakeTask) -> None:
    if task.status in ("SUCCEEDED", "FAILED", "CANCELLED"):
        return
    task.polls += 1
    if task.polls <= state.pending_polls:
        task.status = "THROTTLED" if state.throttle_first and task.polls == 1 else "PENDING"
    elif task.polls <= state.pending_polls + state.running_polls:
        task.status = "RUNNING"
    elif state.moderation_marker in task.prompt or state.fail_marker in task.prompt:
        task.status = "FAILED"
    else:
        task.status = "SUCCEEDED"


def _task_json(state: FakeRunwayState, task: FakeTask, base_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {"id": task.id, "createdAt": task.created_at, "status": task.status}
    credits = MODELS[task.model][3] * task.duration
    if task.status in ("PENDING", "THROTTLED"):
        out["estimatedCost"] = {"credits": credits}
    elif task.status == "RUNNING":
        done = task.polls - state.pending_polls - 1
        out["progress"] = round(done / max(1, state.running_polls), 3)
    elif task.status == "SUCCEEDED":
        out["output"] = [f"{base_url}cdn/{task.id}.mp4?_jwt=signed-{uuid.uuid4().hex[:8]}"]
        out["cost"] = {"credits": credits}
    elif task.status == "FAILED":
        if state.moderation_marker in task.prompt:
            out["failure"] = "The prompt text did not pass content moderation."
            out["failureCode"] = "SAFETY.INPUT.TEXT"
        else:
            out["failure"] = "The generation was rejected for quality reasons."
            out["failureCode"] = "INTERNAL.BAD_OUTPUT.CODE01"
        out["cost"] = {"credits": 0}
    else:
        out["cost"] = {"credits": 0}
    return out


def _handle(state: FakeRunwayState, request: Request, rec: RecordedRequest) -> Response:
    path, method = rec.path, rec.method
    if method == "GET" and path.startswith("/cdn/"):
        task = state.tasks.get(path.removeprefix("/cdn/").removesuffix(".mp4"))
        if state.expire_links or task is None or task.status != "SUCCEEDED":
            return Response(EXPIRED_XML, status_code=403, media_type="application/xml")
        return Response(state.video_bytes, media_type="video/mp4")
    _check_auth(state, rec.headers)
    if method == "POST" and path in ("/v1/text_to_video", "/v1/image_to_video"):
        return _json(200, _create(state, path.removeprefix("/v1/"), rec.json))
    if path.startswith("/v1/tasks/") and path.count("/") == 3:
        task = _task(state, path.rsplit("/", 1)[1])
        if method == "GET":
            _advance(state, task)
            return _json(200, _task_json(state, task, str(request.base_url)))
        if method == "DELETE":
            if task.status in ("PENDING", "THROTTLED", "RUNNING"):
                task.status = "CANCELLED"
            else:
                task.deleted = True
            return Response(status_code=204)
        raise _Error(405, "Method not allowed.")
    raise _Error(404, f"No route for {method} {path}.")


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload).encode(),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


async def _endpoint(request: Request) -> Response:
    state: FakeRunwayState = request.app.state.fake
    raw = await request.body()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    rec = RecordedRequest(
        method=request.method,
        path=request.url.path,
        query=dict(request.query_params),
        headers={k.lower(): v for k, v in request.headers.items()},
        json=parsed,
    )
    with state.lock:
        state.requests.append(rec)
        fault = take_fault(state.faults, rec.method, rec.path)
        if fault is not None:
            body = fault.body if fault.body is not None else {"error": "Injected fault."}
            response = _json(fault.status, body, fault.headers)
        else:
            try:
                response = _handle(state, request, rec)
            except _Error as err:
                response = _json(err.status, err.body)
        rec.status = response.status_code
    return response


def create_app(state: FakeRunwayState) -> Starlette:
    app = Starlette(
        routes=[Route("/{path:path}", _endpoint, methods=["GET", "POST", "DELETE", "PUT"])]
    )
    app.state.fake = state
    return app
