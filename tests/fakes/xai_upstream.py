"""A fake of xAI's Grok Imagine video REST API, following ``/work/shared/spec/providers.md`` §11
(statuses per §1.1; the wrong-key answer per the addenda). "§11" below points there; "fake's
choice" marks behaviour the spec leaves open.

Usage::

    state = FakeXAIState(video_bytes=mp4)
    with serve_on_loopback(create_app(state)) as (base_url, _):   # api_base = base_url + "/v1"
        ...
        state.inject(method="POST", path="/v1/videos/generations", status=429,
                     headers={"retry-after": "2"})

Routes:

* ``POST /v1/videos/generations``: body checked as §11 describes it (model, duration 1–15,
  aspect ratio, resolution with 1080p only on the 1.5 models, ``image.url`` https or data URI);
  ``{"request_id"}`` back.
* ``GET /v1/videos/{request_id}``: each poll advances the request: ``pending`` with
  ``progress`` 0 for ``queued_polls`` polls, then ``pending`` with rising ``progress`` for
  ``running_polls`` polls, then ``done`` with ``video {url, duration, respect_moderation}``,
  ``model`` and ``usage.cost_in_usd_ticks`` (1 USD = 10^10 ticks).
* ``GET /cdn/xai-video-{id}.mp4``: the temporary video URL (another host in reality, no key).
  ``expire_links`` makes it answer 404 with an XML body (fake's choice).

Auth is ``Authorization: Bearer <api_key>``; a wrong or missing key gets **400** with
``{"code", "error"}`` as xAI answers it (providers.md addenda). Other errors use the same
``{"code", "error"}`` shape (§11 lists both it and the OpenAI envelope).

Prompts pick the outcome: ``moderation_marker`` → ``done`` with ``respect_moderation: false``
(§1.1), ``fail_marker`` → ``failed`` with ``error {code, message}``, ``expire_marker`` →
``expired``.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.faults import Fault, path_matches, take_fault

# §11 models and their per-second prices in USD at 480p/720p/1080p (1080p: 1.5 models only).
PRICES: dict[str, dict[str, float]] = {
    "grok-imagine-video": {"480p": 0.05, "720p": 0.07},
    "grok-imagine-video-1.5": {"480p": 0.08, "720p": 0.14, "1080p": 0.25},
    "grok-imagine-video-1.5-lite": {"480p": 0.02, "720p": 0.03, "1080p": 0.14},
}
ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3")
TICKS_PER_USD = 10**10
_CONFIG = (
    "api_key",
    "video_bytes",
    "queued_polls",
    "running_polls",
    "moderation_marker",
    "fail_marker",
    "expire_marker",
    "expire_links",
)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    json: Any
    status: int = 0


@dataclass
class FakeRequest:
    id: str
    body: dict[str, Any]
    polls: int = 0
    status: str = "pending"


@dataclass
class FakeXAIState:
    api_key: str = "xai-test"
    video_bytes: bytes = b""
    queued_polls: int = 1
    running_polls: int = 2
    moderation_marker: str = "UNSAFE"
    fail_marker: str = "FAIL"
    expire_marker: str = "EXPIRE"
    expire_links: bool = False

    requests: list[RecordedRequest] = field(default_factory=list)
    jobs: dict[str, FakeRequest] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _initial: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._initial = {name: getattr(self, name) for name in _CONFIG}

    def reset(self) -> None:
        """Forget jobs, requests and faults; restore the constructor's configuration."""
        with self.lock:
            for name, value in self._initial.items():
                setattr(self, name, value)
            self.requests.clear()
            self.jobs.clear()
            self.faults.clear()

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


class _Error(Exception):
    def __init__(
        self, status: int, message: str, code: str = "Client specified an invalid argument"
    ):
        super().__init__(message)
        self.status = status
        self.body = {"code": code, "error": message}


def _check_auth(state: FakeXAIState, headers: dict[str, str]) -> None:
    auth = headers.get("authorization", "")
    if auth == f"Bearer {state.api_key}":
        return
    if not auth:
        raise _Error(400, "No API key provided. Provide your API key in an Authorization header.")
    # providers.md addenda: xAI answers a wrong key with 400.
    raise _Error(
        400,
        "Incorrect API key provided: xa***. You can obtain an API key from https://console.x.ai.",
    )


def _create(state: FakeXAIState, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _Error(400, "Failed to deserialize the JSON body.")
    model = body.get("model")
    if model not in PRICES:
        raise _Error(404, f"The model {model} does not exist or your team does not have access.")
    if not isinstance(body.get("prompt"), str) or not body["prompt"]:
        raise _Error(400, "prompt must be a non-empty string.")
    duration = body.get("duration", 6)
    if not isinstance(duration, int) or not 1 <= duration <= 15:
        raise _Error(400, f"duration must be between 1 and 15, got {duration!r}.")
    if body.get("aspect_ratio", "16:9") not in ASPECT_RATIOS:
        raise _Error(400, f"Unsupported aspect_ratio {body.get('aspect_ratio')!r}.")
    if body.get("resolution", "720p") not in PRICES[model]:
        raise _Error(400, f"Resolution {body.get('resolution')!r} is not supported by {model}.")
    image = body.get("image")
    if image is not None:
        url = image.get("url") if isinstance(image, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "data:image/")):
            raise _Error(400, "image.url must be an https URL or a data URI.")
    job = FakeRequest(id=str(uuid.uuid4()), body=body)
    state.jobs[job.id] = job
    return {"request_id": job.id}


def _status(state: FakeXAIState, job: FakeRequest, base_url: str) -> dict[str, Any]:
    prompt = job.body["prompt"]
    if job.status == "pending":
        job.polls += 1
        if job.polls > state.queued_polls + state.running_polls:
            if state.expire_marker in prompt:
                job.status = "expired"
            elif state.fail_marker in prompt:
                job.status = "failed"
            else:
                job.status = "done"
    model = job.body["model"]
    if job.status == "pending":
        running = max(0, job.polls - state.queued_polls)
        return {"status": "pending", "progress": 100 * running // (state.running_polls + 1)}
    if job.status == "expired":
        return {"status": "expired"}
    if job.status == "failed":
        return {
            "status": "failed",
            "video": {"duration": 0, "respect_moderation": True},
            "model": "",
            "error": {"code": "internal_error", "message": "The video could not be generated."},
        }
    duration = job.body.get("duration", 6)
    price = PRICES[model][job.body.get("resolution", "720p")]
    video: dict[str, Any] = {"duration": duration, "respect_moderation": True}
    if state.moderation_marker in prompt:
        video["respect_moderation"] = False  # §1.1: a refusal arrives as done
    else:
        video["url"] = f"{base_url}cdn/xai-video-{job.id}.mp4"
    return {
        "status": "done",
        "video": video,
        "model": model,
        "usage": {"cost_in_usd_ticks": round(price * duration * TICKS_PER_USD)},
        "progress": 100,
    }


def _handle(state: FakeXAIState, request: Request, rec: RecordedRequest) -> Response:
    path, method = rec.path, rec.method
    if method == "GET" and path.startswith("/cdn/xai-video-"):
        job = state.jobs.get(path.removeprefix("/cdn/xai-video-").removesuffix(".mp4"))
        if state.expire_links or job is None or job.status != "done":
            return Response(b"<Error><Code>NoSuchKey</Code></Error>", 404, media_type="text/xml")
        return Response(state.video_bytes, media_type="video/mp4")
    _check_auth(state, rec.headers)
    if method == "POST" and path == "/v1/videos/generations":
        return _json(200, _create(state, rec.json))
    if method == "GET" and path.startswith("/v1/videos/") and path.count("/") == 3:
        job = state.jobs.get(path.rsplit("/", 1)[1])
        if job is None:
            raise _Error(404, "Request not found.", code="Some requested entity was not found")
        return _json(200, _status(state, job, str(request.base_url)))
    raise _Error(404, f"No route for {method} {path}.", code="Not found")


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload).encode(),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


async def _endpoint(request: Request) -> Response:
    state: FakeXAIState = request.app.state.fake
    raw = await request.body()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    rec = RecordedRequest(
        method=request.method,
        path=request.url.path,
        headers={k.lower(): v for k, v in request.headers.items()},
        json=parsed,
    )
    with state.lock:
        state.requests.append(rec)
        fault = take_fault(state.faults, rec.method, rec.path)
        if fault is not None:
            body = fault.body if fault.body is not None else {"code": "fault", "error": "Injected."}
            response = _json(fault.status, body, fault.headers)
        else:
            try:
                response = _handle(state, request, rec)
            except _Error as err:
                response = _json(err.status, err.body)
        rec.status = response.status_code
    return response


def create_app(state: FakeXAIState) -> Starlette:
    app = Starlette(routes=[Route("/{path:path}", _endpoint, methods=["GET", "POST", "DELETE"])])
    app.state.fake = state
    return app
