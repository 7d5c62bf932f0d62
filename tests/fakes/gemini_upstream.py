"""A fake Gemini API serving Gemini Omni Flash through the Interactions API, following
``shared/spec/providers.md`` §2.2 (endpoints, ``CreateModelInteraction`` body, statuses,
``output_video``), §1.1 (Gemini Omni status row), §1.2 (inline base64 or a Files URI read with
the API key) and the Addenda (``/v1`` as well as ``/v1beta``; the video inside
``steps[].content[]``; a missing key is 403, a wrong one 400 ``API_KEY_INVALID``).

Routes (``{v}`` is ``v1beta`` or ``v1``): ``POST /{v}/interactions``,
``GET /{v}/interactions/{id}``, ``POST /{v}/interactions/{id}/cancel``,
``DELETE /{v}/interactions/{id}``, and the Files download
``GET /download/{v}/files/{fid}:download?alt=media`` (path as third-party code uses it, §2.2).

Behaviour: create answers ``queued``; each poll advances ``in_progress`` → ``completed`` after
``polls_to_complete`` polls. Prompt markers choose the outcome — fake's choices, since §2.2
documents no failure payloads (UNVERIFIED): ``FAIL`` → ``failed`` with
``errors: [{code: <URI>, message}]``; ``BLOCK`` → ``failed`` with a safety error;
``TEXTONLY`` → ``completed`` with a text answer and no video. ``video_shape`` picks where the
video is put: ``"steps"`` (the wire per the Addenda) or ``"output_video"`` (§2.2).
A deleted file answers 403 "… or it may not exist", as the Files API does.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MODELS = {"gemini-omni-1.2-flash": (3, 15), "gemini-omni-1.1-flash": (3, 10)}  # §2.2
RESOLUTIONS = ("360p", "720p", "1080p", "4k")  # §2.2
ASPECTS = ("16:9", "9:16")  # §2.2
TERMINAL = ("completed", "failed", "cancelled", "incomplete", "budget_exceeded")
NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
BAD_KEY = "API key not valid. Please pass a valid API key."
SAFETY_MESSAGE = "The request was blocked by safety filters: prohibited content."
FAIL_MESSAGE = "Video generation failed due to an internal error."


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None


@dataclass
class Fault:
    method: str
    path_part: str
    status: int
    headers: dict[str, str]
    body: Any
    times: int
    served: int = 0


@dataclass
class FakeInteraction:
    id: str
    body: dict[str, Any]
    prompt: str
    created: str
    status: str = "queued"
    polls: int = 0
    file_id: str | None = None


@dataclass
class FakeGeminiState:
    """Config (``api_key``, ``video``, ``polls_to_complete``, ``video_shape``) and what
    happened (``requests``, ``interactions``, ``files``)."""

    api_key: str = "gm-test"
    video: bytes = b""
    polls_to_complete: int = 2
    video_shape: str = "steps"
    requests: list[Recorded] = field(default_factory=list)
    interactions: dict[str, FakeInteraction] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.interactions.clear()
            self.files.clear()
            self.faults.clear()
            self.polls_to_complete = 2
            self.video_shape = "steps"

    def inject(
        self,
        *,
        method: str,
        path_part: str,
        status: int,
        headers: dict[str, str] | None = None,
        body: Any = None,
        times: int = 1,
    ) -> Fault:
        fault = Fault(method.upper(), path_part, status, dict(headers or {}), body, times)
        with self.lock:
            self.faults.append(fault)
        return fault

    def requests_to(self, method: str, part: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and part in r.path]


def rpc_error(code: int, status: str, message: str, reason: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if reason:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ]
    return {"error": error}


class _Refuse(Exception):
    def __init__(self, status: int, body: Any) -> None:
        self.status, self.body = status, body


def _invalid(message: str) -> _Refuse:
    return _Refuse(400, rpc_error(400, "INVALID_ARGUMENT", message))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _blocks(value: Any) -> list[dict[str, Any]]:
    """Content blocks from ``input``: a string, blocks (§2.2), or steps (Addenda)."""
    if isinstance(value, str):
        return [{"type": "text", "text": value}]
    blocks: list[dict[str, Any]] = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict) and item.get("type") == "user_input":
            blocks += _blocks(item.get("content"))
        elif isinstance(item, dict):
            blocks.append(item)
    return blocks


def _create(state: FakeGeminiState, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _invalid("Invalid JSON payload received.")
    model = body.get("model")
    if model not in MODELS:
        raise _Refuse(404, rpc_error(404, "NOT_FOUND", f"models/{model} is not found."))
    blocks = _blocks(body.get("input"))
    texts = [b.get("text", "") for b in blocks if b.get("type") == "text"]
    if not texts or not all(isinstance(t, str) and t for t in texts):
        raise _invalid("input must contain a text block")
    for image in (b for b in blocks if b.get("type") == "image"):
        if not (image.get("data") and image.get("mime_type")) and not image.get("uri"):
            raise _invalid("an image block needs data and mime_type, or uri")
    fmt = body.get("response_format")
    if not isinstance(fmt, dict) or fmt.get("type") != "video":
        raise _invalid("response_format.type must be 'video' for this model")
    low, high = MODELS[model]
    duration = fmt.get("duration")
    if duration is not None and (
        not isinstance(duration, str) or not duration.isdigit() or not low <= int(duration) <= high
    ):
        raise _invalid(f"response_format.duration must be a string of {low} to {high} seconds")
    if fmt.get("aspect_ratio", "16:9") not in ASPECTS:
        raise _invalid("unsupported aspect_ratio")
    if fmt.get("resolution", "720p") not in RESOLUTIONS:
        raise _invalid("unsupported resolution")
    if fmt.get("delivery", "inline") not in ("inline", "uri"):
        raise _invalid("unsupported delivery")
    if body.get("background") is not True:
        raise _invalid("video generation runs in the background: set background to true")
    previous = body.get("previous_interaction_id")
    if previous is not None:
        source = state.interactions.get(previous)
        if source is None:
            raise _Refuse(404, rpc_error(404, "NOT_FOUND", f"Interaction {previous} not found."))
        if source.status != "completed":
            raise _Refuse(400, rpc_error(400, "FAILED_PRECONDITION", "Interaction not completed."))
    interaction = FakeInteraction(
        id=f"v1_int{next(state._ids):06d}", body=body, prompt=" ".join(texts), created=_now()
    )
    state.interactions[interaction.id] = interaction
    return _wire(state, interaction, "")


def _advance(state: FakeGeminiState, it: FakeInteraction) -> None:
    if it.status in TERMINAL:
        return
    it.polls += 1
    if it.polls < state.polls_to_complete:
        it.status = "in_progress"
        return
    it.status = "failed" if ("FAIL" in it.prompt or "BLOCK" in it.prompt) else "completed"
    fmt = it.body["response_format"]
    if it.status == "completed" and "TEXTONLY" not in it.prompt and fmt.get("delivery") == "uri":
        it.file_id = f"file{next(state._ids):06d}"
        state.files[it.file_id] = state.video


def _wire(state: FakeGeminiState, it: FakeInteraction, base: str) -> dict[str, Any]:
    """The Interaction resource (§2.2) as the fake serves it."""
    out: dict[str, Any] = {
        "id": it.id,
        "model": it.body["model"],
        "status": it.status,
        "created": it.created,
        "updated": _now(),
        "response_format": it.body["response_format"],
    }
    if it.body.get("previous_interaction_id"):
        out["previous_interaction_id"] = it.body["previous_interaction_id"]
    steps: list[dict[str, Any]] = [{"type": "user_input", "content": _blocks(it.body["input"])}]
    if it.status == "failed":
        blocked = "BLOCK" in it.prompt
        code = "https://ai.google.dev/errors/" + ("safety" if blocked else "internal")
        out["errors"] = [{"code": code, "message": SAFETY_MESSAGE if blocked else FAIL_MESSAGE}]
    if it.status == "completed":
        content: list[dict[str, Any]] = [{"type": "text", "text": "Here is your video."}]
        if "TEXTONLY" in it.prompt:
            content = [{"type": "text", "text": "I can't make that video, but here's an idea."}]
        else:
            video: dict[str, Any] = {"type": "video", "mime_type": "video/mp4"}
            if it.file_id is not None:
                video["uri"] = f"{base}/v1beta/files/{it.file_id}"
            else:
                video["data"] = base64.b64encode(state.video).decode()
            if state.video_shape == "output_video":
                out["output_video"] = {k: v for k, v in video.items() if k != "type"}
            else:
                content.append(video)
        steps.append({"type": "model_output", "content": content})
        out["usage"] = {"total_tokens": 1000}
    out["steps"] = steps
    return out


def _check_key(state: FakeGeminiState, headers: dict[str, str], query: dict[str, str]) -> None:
    key = headers.get("x-goog-api-key") or query.get("key")
    if not key:
        raise _Refuse(403, rpc_error(403, "PERMISSION_DENIED", NO_KEY))
    if key != state.api_key:
        raise _Refuse(400, rpc_error(400, "INVALID_ARGUMENT", BAD_KEY, reason="API_KEY_INVALID"))


def _route(state: FakeGeminiState, method: str, path: str, rec: Recorded, base: str) -> Response:
    parts = path.strip("/").split("/")
    if parts[:1] == ["download"] and len(parts) == 4 and parts[2] == "files":
        file_id = parts[3].removesuffix(":download")
        if file_id not in state.files:
            message = (
                f"You do not have permission to access the File {file_id} or it may not exist."
            )
            return JSONResponse(rpc_error(403, "PERMISSION_DENIED", message), status_code=403)
        return Response(state.files[file_id], media_type="video/mp4")
    if len(parts) < 2 or parts[0] not in ("v1beta", "v1") or parts[1] != "interactions":
        raise _Refuse(404, rpc_error(404, "NOT_FOUND", f"No route {method} {path}"))
    if method == "POST" and len(parts) == 2:
        return JSONResponse(_create(state, rec.json))
    it = state.interactions.get(parts[2]) if len(parts) > 2 else None
    if it is None:
        raise _Refuse(404, rpc_error(404, "NOT_FOUND", f"Interaction {path} not found."))
    if method == "GET" and len(parts) == 3:
        _advance(state, it)
        return JSONResponse(_wire(state, it, base))
    if method == "POST" and parts[3:] == ["cancel"]:
        if it.status in TERMINAL:
            raise _Refuse(400, rpc_error(400, "FAILED_PRECONDITION", "Interaction is finished."))
        it.status = "cancelled"
        return JSONResponse(_wire(state, it, base))
    if method == "DELETE" and len(parts) == 3:
        del state.interactions[it.id]
        return JSONResponse({})
    raise _Refuse(404, rpc_error(404, "NOT_FOUND", f"No route {method} {path}"))


async def _endpoint(request: Request) -> Response:
    state: FakeGeminiState = request.app.state.fake
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    query = dict(request.query_params)
    rec = Recorded(request.method, request.url.path, query, headers)
    if body:
        rec.json = json.loads(body)
    base = str(request.base_url).rstrip("/")
    with state.lock:
        state.requests.append(rec)
        for fault in state.faults:
            matches = fault.method == request.method and fault.path_part in rec.path
            if matches and fault.served < fault.times:
                fault.served += 1
                payload = fault.body or rpc_error(fault.status, "RESOURCE_EXHAUSTED", "Quota")
                return JSONResponse(payload, status_code=fault.status, headers=fault.headers)
        try:
            _check_key(state, headers, query)
            return _route(state, request.method, rec.path, rec, base)
        except _Refuse as refused:
            return JSONResponse(refused.body, status_code=refused.status)


def create_app(state: FakeGeminiState) -> Starlette:
    app = Starlette(routes=[Route("/{path:path}", _endpoint, methods=["GET", "POST", "DELETE"])])
    app.state.fake = state
    return app
