"""A fake Vertex AI Veo upstream, following ``shared/spec/providers.md`` §3 (wire format),
§1.1 (Vertex status row), §1.2 (inline base64 or your GCS bucket) and the Addenda (tokens from
service-account credentials, ``token_uri`` in the key file; ``/v1`` and ``/v1beta1`` paths).

One ASGI app serves the three Google services the adapter talks to:

* OAuth token endpoint ``POST /token`` (RFC 7523 jwt-bearer grant): verifies the assertion's
  RS256 signature with the test's public key, and its ``iss``, ``aud`` (this URL), ``scope``
  and ``exp``; mints ``ya29.fake-N`` tokens with ``expires_in``. A bad assertion gets Google's
  OAuth error body ``{"error": "invalid_grant", "error_description": ...}`` (400).
* Vertex: ``POST /{v1|v1beta1}/projects/{P}/locations/{L}/publishers/google/models/{M}:
  predictLongRunning`` → ``{"name": operation}``; ``POST …/models/{M}:fetchPredictOperation``
  with ``{"operationName"}`` → not done for ``polls_to_complete - 1`` polls, then done.
* GCS JSON API: ``GET /storage/v1/b/{bucket}/o/{object}?alt=media`` with the bearer token.

Outcomes by prompt: ``FAIL`` → ``done`` + ``error`` (google.rpc.Status: ``code``, ``message``);
``BLOCK`` → ``done`` with no videos and ``raiMediaFilteredCount``/``Reasons`` (RAI filter).
Otherwise ``videos[0]`` is ``bytesBase64Encoded`` (no ``storageUri``) or a ``gcsUri`` under the
request's ``storageUri``. Errors use the google.rpc envelope ``{"error": {code, message,
status}}``; the 401 wording is Google's. ``inject`` serves canned faults (e.g. 429 with
``Retry-After``); ``requests`` records every request for assertions.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from google.auth import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

VEO3_SECONDS = (4, 6, 8)  # §3
VEO2_SECONDS = (5, 6, 7, 8)  # §3
RESOLUTIONS = ("720p", "1080p", "4k")  # §3 / §13
ASPECTS = ("16:9", "9:16")  # §3
MODELS = (
    "veo-3.1-generate-001",
    "veo-3.1-fast-generate-001",
    "veo-3.1-lite-generate-001",
    "veo-3.0-generate-001",
    "veo-2.0-generate-001",
)
UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential."
)
RAI_REASON = (
    "Unable to generate videos because the prompt could violate our usage guidelines. "
    "Support code: 58061214"
)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)


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
class Operation:
    name: str
    model: str
    prompt: str
    body: dict[str, Any]
    polls: int = 0
    stored: bool = False  # the output object was written to the bucket (once, when done)


@dataclass
class FakeVertexState:
    """Config (``video``, ``client_email``, ``public_key_pem``, ``polls_to_complete``,
    ``token_lifetime``, ``static_tokens``) and what happened (``requests``, ``operations``,
    ``objects``, ``minted``)."""

    video: bytes = b""
    client_email: str = "veo@test-project.iam.gserviceaccount.com"
    public_key_pem: bytes = b""
    polls_to_complete: int = 2
    token_lifetime: int = 3599
    static_tokens: set[str] = field(default_factory=lambda: {"ya29.static"})
    requests: list[Recorded] = field(default_factory=list)
    operations: dict[str, Operation] = field(default_factory=dict)
    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    minted: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.operations.clear()
            self.objects.clear()
            self.minted.clear()
            self.faults.clear()
            self.polls_to_complete = 2

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
        """Answer the next ``times`` requests whose path contains ``path_part`` with ``status``
        (default body: the google.rpc envelope for that status)."""
        fault = Fault(method.upper(), path_part, status, dict(headers or {}), body, times)
        with self.lock:
            self.faults.append(fault)
        return fault

    def requests_to(self, part: str) -> list[Recorded]:
        return [r for r in self.requests if part in r.path]


def rpc_error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class _Refuse(Exception):
    def __init__(self, status: int, body: Any) -> None:
        self.status, self.body = status, body


def _invalid(message: str) -> _Refuse:
    return _Refuse(400, rpc_error(400, "INVALID_ARGUMENT", message))


def _check_bearer(state: FakeVertexState, headers: dict[str, str]) -> None:
    token = headers.get("authorization", "").removeprefix("Bearer ")
    if token not in state.static_tokens and token not in state.minted:
        raise _Refuse(401, rpc_error(401, "UNAUTHENTICATED", UNAUTHENTICATED))


def _token(state: FakeVertexState, request_url: str, form: dict[str, str]) -> tuple[int, Any]:
    if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
        return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}
    try:
        claims = jwt.decode(
            form.get("assertion", ""), certs=state.public_key_pem, audience=request_url
        )
    except Exception:  # google-auth raises ValueError / MalformedError subclasses
        return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
    if claims.get("iss") != state.client_email or "cloud-platform" not in claims.get("scope", ""):
        return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: bad iss/scope."}
    token = f"ya29.fake-{next(state._ids)}"
    state.minted.append(token)
    return 200, {"access_token": token, "expires_in": state.token_lifetime, "token_type": "Bearer"}


def _predict(state: FakeVertexState, project: str, location: str, model: str, body: Any) -> Any:
    if model not in MODELS:
        raise _Refuse(404, rpc_error(404, "NOT_FOUND", f"Publisher Model `{model}` not found."))
    if not isinstance(body, dict) or not isinstance(body.get("instances"), list):
        raise _invalid("instances is required")
    [instance] = body["instances"]
    params = body.get("parameters") or {}
    if not isinstance(instance.get("prompt"), str) or not instance["prompt"]:
        raise _invalid("instances[0].prompt is required")
    veo2 = model.startswith("veo-2")
    if params.get("durationSeconds") not in (VEO2_SECONDS if veo2 else VEO3_SECONDS):
        raise _invalid(f"Unsupported durationSeconds: {params.get('durationSeconds')}")
    if params.get("aspectRatio") not in ASPECTS:
        raise _invalid(f"Unsupported aspectRatio: {params.get('aspectRatio')}")
    if veo2 and ("resolution" in params or "generateAudio" in params):
        raise _invalid("resolution and generateAudio are not supported by veo-2.0")
    if not veo2 and params.get("resolution") not in RESOLUTIONS:
        raise _invalid(f"Unsupported resolution: {params.get('resolution')}")
    image = instance.get("image")
    if image is not None and not {"bytesBase64Encoded", "mimeType"} <= image.keys():
        raise _invalid("image needs bytesBase64Encoded and mimeType")
    name = (
        f"projects/{project}/locations/{location}/publishers/google/models/{model}"
        f"/operations/{next(state._ids):08d}-op"
    )
    state.operations[name] = Operation(name, model, instance["prompt"], body)
    return {"name": name}


def _fetch(state: FakeVertexState, model: str, body: Any) -> Any:
    name = body.get("operationName") if isinstance(body, dict) else None
    op = state.operations.get(str(name))
    if op is None or op.model != model:
        raise _Refuse(404, rpc_error(404, "NOT_FOUND", f"Operation {name} not found."))
    op.polls += 1
    if op.polls < state.polls_to_complete:
        return {"name": op.name, "done": False, "metadata": {}}
    response_type = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
    if "FAIL" in op.prompt:
        error = {"code": 13, "message": "Video generation failed: internal error, try again."}
        return {"name": op.name, "done": True, "error": error}
    if "BLOCK" in op.prompt:
        response = {
            "@type": response_type,
            "raiMediaFilteredCount": 1,
            "raiMediaFilteredReasons": [RAI_REASON],
        }
        return {"name": op.name, "done": True, "response": response}
    storage = (op.body.get("parameters") or {}).get("storageUri")
    if storage:
        bucket, _, prefix = storage.removeprefix("gs://").partition("/")
        obj = f"{prefix.rstrip('/')}/{op.name.rsplit('/', 1)[1]}/sample_0.mp4".lstrip("/")
        if not op.stored:
            state.objects[(bucket, obj)] = state.video
            op.stored = True
        sample = {"gcsUri": f"gs://{bucket}/{obj}", "mimeType": "video/mp4"}
    else:
        sample = {
            "bytesBase64Encoded": base64.b64encode(state.video).decode(),
            "mimeType": "video/mp4",
        }
    response = {"@type": response_type, "raiMediaFilteredCount": 0, "videos": [sample]}
    return {"name": op.name, "done": True, "response": response}


def _gcs(state: FakeVertexState, raw_path: str, query: dict[str, str]) -> Response:
    bucket, _, obj = raw_path.removeprefix("/storage/v1/b/").partition("/o/")
    key = (unquote(bucket), unquote(obj))
    if query.get("alt") != "media":
        return JSONResponse({"bucket": key[0], "name": key[1]})
    if key not in state.objects:
        message = f"No such object: {key[0]}/{key[1]}"
        body = {
            "error": {
                "code": 404,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": "notFound"}],
            }
        }
        return JSONResponse(body, status_code=404)
    return Response(state.objects[key], media_type="video/mp4")


async def _endpoint(request: Request) -> Response:
    state: FakeVertexState = request.app.state.fake
    raw_path = request.scope.get("raw_path", b"").decode() or request.url.path
    path = request.url.path
    body_bytes = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    query = dict(request.query_params)
    rec = Recorded(request.method, path, query, headers)
    if headers.get("content-type", "").startswith("application/json") and body_bytes:
        rec.json = json.loads(body_bytes)
    elif body_bytes:
        rec.form = {k: v[-1] for k, v in parse_qs(body_bytes.decode()).items()}
    with state.lock:
        state.requests.append(rec)
        for fault in state.faults:
            if (
                fault.served < fault.times
                and fault.method == request.method
                and fault.path_part in path
            ):
                fault.served += 1
                name = _STATUS_NAMES.get(fault.status, "UNKNOWN")
                body = fault.body or rpc_error(fault.status, name, f"Injected fault {fault.status}")
                return JSONResponse(body, status_code=fault.status, headers=fault.headers)
        try:
            if path == "/token" and request.method == "POST":
                status, payload = _token(state, str(request.url).split("?")[0], rec.form)
                return JSONResponse(payload, status_code=status)
            _check_bearer(state, headers)
            if path.startswith("/storage/v1/b/") and request.method == "GET":
                return _gcs(state, raw_path, query)
            parts = path.strip("/").split("/")
            if request.method == "POST" and len(parts) == 9 and parts[0] in ("v1", "v1beta1"):
                model, _, verb = parts[8].partition(":")
                if verb == "predictLongRunning":
                    return JSONResponse(_predict(state, parts[2], parts[4], model, rec.json))
                if verb == "fetchPredictOperation":
                    return JSONResponse(_fetch(state, model, rec.json))
        except _Refuse as refused:
            return JSONResponse(refused.body, status_code=refused.status)
    return JSONResponse(rpc_error(404, "NOT_FOUND", f"No route {request.method} {path}"), 404)


def create_app(state: FakeVertexState) -> Starlette:
    app = Starlette(routes=[Route("/{path:path}", _endpoint, methods=["GET", "POST", "DELETE"])])
    app.state.fake = state
    return app
