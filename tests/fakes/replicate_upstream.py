"""A fake of Replicate's predictions API, following ``shared/spec/providers.md`` §8 (and §1.1
status mapping, §1.2 delivery).

Routes (the fake's base stands for ``https://api.replicate.com``):

* ``POST /v1/models/{owner}/{name}/predictions`` and ``POST /v1/predictions {"version"}``:
  create; body ``{"input": {...}}`` checked against the model's schema below (422 problem
  JSON with ``invalid_fields`` otherwise; an unknown model is 404).
* ``GET /v1/predictions/{id}``: ``starting`` until poll ``starting_polls``, then
  ``processing`` (logs carry a cog progress bar), then ``succeeded`` (or ``failed``) at poll
  ``polls_to_complete``; ``output`` is a URL on the fake "replicate.delivery".
* ``POST /v1/predictions/{id}/cancel``: a running prediction becomes ``canceled``.
* ``GET /v1/predictions``: newest first, ``{"next", "previous", "results"}`` with
  ``?cursor=`` pages of ``page_size``.
* ``GET /delivery/{id}/output.mp4``: the file, no auth; 404 once ``expire_downloads`` is
  set (outputs are deleted after an hour, §8).

Errors are RFC 7807 ``{type, title, status, detail}`` (§8); auth is ``Authorization: Bearer
<token>`` (401 otherwise). A prompt with ``[fail]`` or ``[refuse]`` ends ``failed``, the
latter with Replicate's sensitive-content error. ``inject`` makes a route answer a canned
error (e.g. 429 ``{"detail": "Request was throttled..."}`` with ``Retry-After``) N times.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# The models the tests use: durations, resolution-like field and its values, image field.
SCHEMAS: dict[str, dict[str, tuple[Any, ...]]] = {
    "minimax/hailuo-02": {
        "duration": (6, 10),
        "resolution": ("512p", "768p", "1080p"),
        "prompt_optimizer": (True, False),
    },
    "kwaivgi/kling-v2.1": {"duration": (5, 10), "mode": ("standard", "pro")},
    "kwaivgi/kling-v2.0": {"duration": (5, 10), "aspect_ratio": ("16:9", "9:16", "1:1")},
    "wan-video/wan-2.5-i2v": {"duration": (5, 10), "resolution": ("480p", "720p", "1080p")},
    "black-forest-labs/flux-schnell": {},  # an image model, to show list keeps videos only
}
VERSIONS = {"c43b610efe40d08a28d2c07cb3515dab1cd3324dfc7418f3304a092571071d22": "minimax/hailuo-02"}
REFUSAL = (
    "The input or output was flagged as sensitive. Please try again with different inputs. (E005)"
)
FAILURE = "Prediction failed: CUDA out of memory."
_PREDICTION = re.compile(r"^/v1/predictions/(?P<id>[a-z0-9]+)(?P<cancel>/cancel)?$")
_MODEL_CREATE = re.compile(r"^/v1/models/(?P<model>[^/]+/[^/]+)/predictions$")


@dataclass
class Recorded:
    """One request as received; ``headers`` lower-cased."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any


@dataclass
class Prediction:
    id: str
    model: str
    version: str
    input: dict[str, Any]
    created_at: datetime
    status: str = "starting"
    polls: int = 0
    error: str | None = None
    fail_with: str | None = None


@dataclass
class Fault:
    method: str
    path_prefix: str
    status: int
    body: Any
    headers: dict[str, str]
    times: int


@dataclass
class FakeReplicateState:
    """Config (``token``, ``starting_polls``, ``polls_to_complete``, ``page_size``,
    ``video_bytes``, ``expire_downloads``) and what happened (``requests``, ``predictions``)."""

    token: str = "r8_test"
    starting_polls: int = 1
    polls_to_complete: int = 3
    page_size: int = 100
    video_bytes: bytes = b"\x00\x00\x00\x18ftypmp42"
    expire_downloads: bool = False
    requests: list[Recorded] = field(default_factory=list)
    predictions: dict[str, Prediction] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.token, self.starting_polls, self.polls_to_complete = "r8_test", 1, 3
            self.page_size, self.expire_downloads = 100, False
            self.requests.clear()
            self.predictions.clear()
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

    def seed(self, model: str, status: str = "succeeded", prompt: str = "seeded") -> str:
        """Add a finished prediction (for list tests); returns its id."""
        with self.lock:
            pred = _new(model, "", {"prompt": prompt, "duration": 6}, len(self.predictions))
            pred.status = status
            self.predictions[pred.id] = pred
            return pred.id

    def requests_for(self, method: str, path_prefix: str = "/") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.method == method and path.startswith(fault.path_prefix):
                fault.times -= 1
                return fault
        return None


def _new(model: str, version: str, inputs: dict[str, Any], seq: int) -> Prediction:
    created = datetime(2026, 11, 24, 12, 0, tzinfo=UTC) + timedelta(seconds=seq)
    return Prediction(uuid.uuid4().hex[:26], model, version, inputs, created)


def _problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def _wire(state: FakeReplicateState, base: str, pred: Prediction) -> dict[str, Any]:
    done = pred.status in ("succeeded", "failed", "canceled")
    url = f"{base}/v1/predictions/{pred.id}"
    return {
        "id": pred.id,
        "model": pred.model,
        "version": pred.version or "hidden",
        "input": pred.input,
        "logs": " 40%|████      | 8/20 [00:08<00:12]\n" if pred.status == "processing" else "",
        "output": f"{base}/delivery/{pred.id}/output.mp4" if pred.status == "succeeded" else None,
        "error": pred.error,
        "status": pred.status,
        "data_removed": False,
        "created_at": pred.created_at.isoformat().replace("+00:00", "Z"),
        "started_at": None,
        "completed_at": "2026-11-24T12:05:00.000Z" if done else None,
        "urls": {"get": url, "cancel": f"{url}/cancel"},
        "metrics": {"predict_time": 42.0} if done else {},
    }


def _create(state: FakeReplicateState, base: str, model: str, version: str, body: Any) -> Response:
    schema = SCHEMAS.get(model)
    if schema is None:
        return _problem(404, "Not found", "The requested resource could not be found.")
    inputs = body.get("input") if isinstance(body, dict) else None
    if not isinstance(inputs, dict) or not isinstance(inputs.get("prompt"), str):
        return _problem(422, "Input validation failed", "- input.prompt: prompt is required")
    for name, allowed in schema.items():
        if name in inputs and inputs[name] not in allowed:
            detail = f"- input.{name}: {name} must be one of the following: {list(allowed)}"
            invalid = [{"type": "enum", "field": f"input.{name}", "description": detail[2:]}]
            return _problem(422, "Input validation failed", detail, invalid_fields=invalid)
    pred = _new(model, version, inputs, len(state.predictions))
    if "[fail]" in inputs["prompt"]:
        pred.fail_with = FAILURE
    elif "[refuse]" in inputs["prompt"]:
        pred.fail_with = REFUSAL
    state.predictions[pred.id] = pred
    return JSONResponse(_wire(state, base, pred), status_code=201)


def _advance(state: FakeReplicateState, pred: Prediction) -> None:
    if pred.status not in ("starting", "processing"):
        return
    pred.polls += 1
    if pred.polls > state.starting_polls:
        pred.status = "processing"
    if pred.polls >= state.polls_to_complete:
        pred.status, pred.error = (
            ("failed", pred.fail_with) if pred.fail_with else ("succeeded", None)
        )


def _list(state: FakeReplicateState, base: str, cursor: str | None) -> Response:
    ordered = sorted(state.predictions.values(), key=lambda p: p.created_at, reverse=True)
    start = int(cursor or 0)
    page = ordered[start : start + state.page_size]
    more = start + state.page_size < len(ordered)
    return JSONResponse(
        {
            "previous": None,
            "next": f"{base}/v1/predictions?cursor={start + state.page_size}" if more else None,
            "results": [_wire(state, base, p) for p in page],
        }
    )


async def _endpoint(request: Request) -> Response:
    state: FakeReplicateState = request.app.state.replicate
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
        if path.startswith("/delivery/"):  # §1.2: public replicate.delivery URL
            if state.expire_downloads:
                return Response("Not Found", 404)
            return Response(state.video_bytes, media_type="video/mp4")
        if headers.get("authorization") not in (f"Bearer {state.token}", f"Token {state.token}"):
            return _problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        if method == "POST" and (match := _MODEL_CREATE.match(path)):
            return _create(state, base, match["model"], "", parsed)
        if method == "POST" and path == "/v1/predictions":
            version = str((parsed or {}).get("version", ""))
            if version not in VERSIONS:
                return _problem(422, "Invalid version", "The specified version does not exist")
            return _create(state, base, VERSIONS[version], version, parsed)
        if method == "GET" and path == "/v1/predictions":
            return _list(state, base, request.query_params.get("cursor"))
        match = _PREDICTION.match(path)
        pred = state.predictions.get(match["id"]) if match else None
        if match is None or pred is None:
            return _problem(404, "Not found", "The requested resource could not be found.")
        if method == "POST" and match["cancel"]:
            if pred.status in ("starting", "processing"):
                pred.status = "canceled"
            return JSONResponse(_wire(state, base, pred))
        if method == "GET" and not match["cancel"]:
            _advance(state, pred)
            return JSONResponse(_wire(state, base, pred))
        return _problem(405, "Method not allowed", f"{method} is not allowed here")


def create_app(state: FakeReplicateState) -> Starlette:
    app = Starlette(routes=[Route("/{path:path}", _endpoint, methods=["GET", "POST"])])
    app.state.replicate = state
    return app
