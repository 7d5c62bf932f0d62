"""The gateway's OpenAPI 3.1 document, served at ``GET /openapi.json``.

The routes read raw request bodies (JSON or multipart, parsed in ``body.py``) and answer with
``JSONResponse``, so FastAPI alone sees every path and query parameter but no request body and
no response shape. :func:`build_openapi` starts from FastAPI's own document and completes each
operation from what its route does: the bodies it parses, the objects it returns (the Video
object of spec §3.1 plus ``usage``), and every error status it can answer, each in the OpenAI
envelope (spec §4.1). Paths are served both bare and under ``/v1``; both get the same text.

Example:
    >>> app = create_app(settings)  # doctest: +SKIP
    >>> install(app)                # doctest: +SKIP
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from ..types.video import CONTENT_TYPES
from .openapi_schemas import _NULL, _STRING, SCHEMAS, SECURITY_SCHEMES, Schema, _ref

OPENAPI_PATH = "/openapi.json"


_AUTHENTICATED: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyHeader": []}]

_ERROR_TEXT = {
    400: "Invalid request (param names the field).",
    401: "Missing, unknown, revoked or expired key.",
    403: "The key may not do this (master key required, or model not allowed).",
    404: "No such resource for this key (another key's video is a 404 too).",
    409: "The provider refused the request as conflicting (passed through).",
    413: "The request body is larger than this gateway accepts.",
    416: "The Range header asks for bytes past the end.",
    422: "Idempotency-Key reused with another body, or the provider refused the input.",
    429: "Rate limit of this key or of the provider; Retry-After says when to try again.",
    500: "Internal error; the message names the request id.",
    502: "The provider failed or rejected the gateway's credentials.",
    503: "Not ready.",
    504: "The provider did not answer in time.",
}

_REQUEST_ID = {
    "x-request-id": {
        "description": "This request's id (the openai SDK shows it on errors).",
        "required": True,
        "schema": {"type": "string", "pattern": "^req_"},
    }
}
_VIDEO_HEADERS = {
    **_REQUEST_ID,
    "openai-poll-after-ms": {
        "description": "Sent while the video is unfinished: how long to wait before polling.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "x-vidgate-cost-usd": {
        "description": "The video's cost in USD (priced models only).",
        "schema": {"type": "string", "pattern": r"^[0-9]+\.[0-9]{4}$"},
    },
}


def _json(schema: Schema, description: str, headers: Schema | None = None) -> Schema:
    return {
        "description": description,
        "headers": headers or _REQUEST_ID,
        "content": {"application/json": {"schema": schema}},
    }


def _errors(*codes: int) -> dict[str, Schema]:
    """Error responses in the envelope; 413 (body cap) and 500 can come from any route."""
    out: dict[str, Schema] = {}
    for code in sorted({*codes, 413, 500}):
        headers = dict(_REQUEST_ID)
        if code == 429:
            headers["retry-after"] = {"schema": {"type": "string"}}
        if code == 416:
            headers["content-range"] = {
                "required": True,
                "schema": {"type": "string", "pattern": "^bytes \\*/[0-9]+$"},
            }
        out[str(code)] = _json(_ref("Error"), _ERROR_TEXT[code], headers)
    return out


def _json_body(name: str, *, required: bool) -> Schema:
    # An empty body reads as {} (body.read_json_object).
    return {"required": required, "content": {"application/json": {"schema": _ref(name)}}}


_UPSTREAM = (400, 401, 403, 404, 409, 422, 429, 502, 504)
_CONTENT_TYPES = tuple(CONTENT_TYPES.values())
_BINARY: Schema = {"type": "string", "format": "binary"}

# (method, path without /v1) -> what FastAPI cannot see: body, responses, auth.
OPERATIONS: dict[tuple[str, str], Schema] = {
    ("post", "/videos"): {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _ref("CreateVideoJson")},
                "multipart/form-data": {
                    "schema": _ref("CreateVideoMultipart"),
                    "encoding": {
                        "input_reference": {"contentType": "image/png, image/jpeg, image/webp"}
                    },
                },
            },
        },
        "responses": {
            "200": _json(_ref("Video"), "The new job (usually queued).", _VIDEO_HEADERS),
            **_errors(*_UPSTREAM),
        },
    },
    ("get", "/videos"): {
        "responses": {
            "200": _json(_ref("VideoList"), "The caller's videos."),
            **_errors(400, 401, 404),
        },
    },
    ("get", "/videos/{video_id}"): {
        "responses": {
            "200": _json(_ref("Video"), "The job as last recorded.", _VIDEO_HEADERS),
            **_errors(400, 401, 404),
        },
    },
    ("delete", "/videos/{video_id}"): {
        "responses": {
            "200": _json(_ref("VideoDeleted"), "Deleted (an unfinished job is cancelled)."),
            **_errors(400, 401, 404),
        },
    },
    ("post", "/videos/{video_id}/remix"): {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _ref("RemixVideo")},
                "multipart/form-data": {"schema": _ref("RemixVideo")},
            },
        },
        "responses": {
            "200": _json(_ref("Video"), "The new job.", _VIDEO_HEADERS),
            **_errors(*_UPSTREAM),
        },
    },
    ("get", "/videos/{video_id}/content"): {
        "parameters": [
            {
                "name": "Range",
                "in": "header",
                "required": False,
                "description": "bytes=START-END; several ranges give multipart/byteranges.",
                "schema": {"type": "string", "examples": ["bytes=0-1023"]},
            }
        ],
        "responses": {
            "200": {
                "description": "The MP4, thumbnail (WebP) or spritesheet (JPEG).",
                "headers": _REQUEST_ID,
                "content": {t: {"schema": _BINARY} for t in _CONTENT_TYPES},
            },
            "206": {
                "description": "The bytes the Range header asked for.",
                "headers": _REQUEST_ID,
                "content": {
                    t: {"schema": _BINARY} for t in (*_CONTENT_TYPES, "multipart/byteranges")
                },
            },
            **_errors(400, 401, 404, 416),
        },
    },
    ("get", "/models"): {
        "responses": {
            "200": _json(_ref("ModelList"), "The models this key may use."),
            **_errors(401),
        },
    },
    ("post", "/key/generate"): {
        "requestBody": _json_body("GenerateKey", required=False),
        "responses": {
            "200": _json(_ref("GeneratedKey"), "The new key."),
            **_errors(400, 401, 403),
        },
    },
    ("get", "/key/info"): {
        "parameters": [
            {
                "name": "x-vidgate-key",
                "in": "header",
                "required": False,
                "description": "A plain key to look up (master key), kept out of the URL.",
                "schema": {"type": "string", "maxLength": 400},
            }
        ],
        "responses": {
            "200": _json(_ref("KeyInfoResponse"), "The key's settings and spend."),
            **_errors(400, 401, 404),
        },
    },
    ("post", "/key/info"): {
        "requestBody": _json_body("KeyLookup", required=False),
        "responses": {
            "200": _json(_ref("KeyInfoResponse"), "The key's settings and spend."),
            **_errors(400, 401, 404),
        },
    },
    ("get", "/key/list"): {
        "responses": {"200": _json(_ref("KeyList"), "Every key."), **_errors(401, 403)},
    },
    ("post", "/key/delete"): {
        "requestBody": _json_body("DeleteKeys", required=True),
        "responses": {
            "200": _json(_ref("KeysDeleted"), "The ids of the revoked keys."),
            **_errors(400, 401, 403, 404),
        },
    },
    ("get", "/spend/logs"): {
        "responses": {
            "200": _json(
                {"type": "array", "items": _ref("SpendLogEntry")}, "Spend entries, newest first."
            ),
            **_errors(400, 401, 403),
        },
    },
    ("get", "/health/liveness"): {
        "security": [],
        "responses": {"200": _json(_ref("Health"), "The process is up."), **_errors()},
    },
    ("get", "/health/liveliness"): {
        "security": [],
        "responses": {"200": _json(_ref("Health"), "The process is up."), **_errors()},
    },
    ("get", "/health/readiness"): {
        "security": [],
        "responses": {
            "200": _json(_ref("Readiness"), "Started, and the database answers."),
            **_errors(),
            "503": _json(_ref("Readiness"), "Starting, or the database does not answer."),
        },
    },
    ("get", "/metrics"): {
        "security": [],
        "responses": {
            "200": {
                "description": "Prometheus text format.",
                "headers": _REQUEST_ID,
                "content": {"text/plain": {"schema": _STRING}},
            },
            **_errors(),
        },
    },
    ("get", OPENAPI_PATH): {
        "security": [],
        "responses": {
            "200": _json({"type": "object", "required": ["openapi", "paths"]}, "This document."),
            **_errors(),
        },
    },
}


def _clean_parameter(param: Schema) -> Schema:
    """FastAPI writes optional query/header values as ``anyOf [T, null]``; on the wire a
    value is either sent or not, so only ``T`` describes it."""
    schema = param.get("schema", {})
    options = schema.get("anyOf")
    if isinstance(options, list):
        kept = [s for s in options if s != _NULL]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            param = {**param, "schema": {**kept[0], **rest}}
    return param


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The complete OpenAPI 3.1 document of ``app``'s routes (see the module docstring).

    An operation with no entry in :data:`OPERATIONS` keeps FastAPI's empty response schema,
    which the gateway's tests refuse: a new route must be described here.
    """
    doc = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version="3.1.0",
        summary=app.summary,
        description=(
            "OpenAI-compatible Videos API (every /videos path is also served under /v1), "
            "with virtual keys and spend."
        ),
        routes=app.routes,
    )
    for path, item in doc.get("paths", {}).items():
        key_path = path.removeprefix("/v1") if path.startswith("/v1/") else path
        for method, operation in item.items():
            extra = copy.deepcopy(OPERATIONS.get((method, key_path)))
            if extra is None:
                continue
            params = [_clean_parameter(p) for p in operation.get("parameters", [])]
            operation["parameters"] = params + extra.pop("parameters", [])
            if not operation["parameters"]:
                del operation["parameters"]
            operation["responses"] = extra.pop("responses")
            operation["security"] = extra.pop("security", _AUTHENTICATED)
            operation.update(extra)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    # The validation error shapes FastAPI adds are never sent: errors.py answers 400 envelopes.
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas.update(copy.deepcopy(SCHEMAS))
    components["securitySchemes"] = copy.deepcopy(SECURITY_SCHEMES)
    return doc


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return :func:`build_openapi`'s document and serve it at
    ``GET /openapi.json`` (no key needed: it describes the API, not anyone's data).

    Call it after every router is included; a second call changes nothing.
    """
    if getattr(app.state, "openapi_installed", False):
        return
    app.state.openapi_installed = True

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    async def openapi_json() -> JSONResponse:
        return JSONResponse(openapi())

    app.add_api_route(
        OPENAPI_PATH,
        openapi_json,
        methods=["GET"],
        tags=["meta"],
        summary="This OpenAPI document",
    )
    app.openapi = openapi  # type: ignore[method-assign]


__all__ = ["OPENAPI_PATH", "OPERATIONS", "build_openapi", "install"]
