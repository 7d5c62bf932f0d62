"""The shapes in the gateway's OpenAPI document (``openapi.py`` assembles the document):
the Video object of spec §3.1 with ``usage``, lists, keys, spend, errors, and the security
schemes."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_NULL: Schema = {"type": "null"}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, _NULL]}


def _obj(properties: dict[str, Schema], *, required: bool = True, **extra: Any) -> Schema:
    """An object schema; every property is required unless ``required=False``. Unknown keys
    are allowed, as the SDK's models accept them (forward compatible)."""
    schema: Schema = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(properties)
    return schema


_STRING = {"type": "string"}
_INTEGER = {"type": "integer"}
_NUMBER = {"type": "number"}

SCHEMAS: dict[str, Schema] = {
    "Error": _obj(
        {
            "error": _obj(
                {
                    "message": _STRING,
                    "type": _STRING,
                    "param": _nullable(_STRING),
                    "code": _nullable(_STRING),
                }
            )
        },
        description="OpenAI's error envelope; all four keys are always present.",
    ),
    "VideoError": _obj(
        {"code": _STRING, "message": _STRING},
        description="Why a job failed, e.g. moderation_blocked (spec §3.2).",
    ),
    "Usage": _obj(
        {"seconds": _NUMBER, "cost_usd": _nullable(_NUMBER)},
        description="Seconds of output and their price (null when the model is unpriced).",
    ),
    "Video": _obj(
        {
            "id": {"type": "string", "pattern": "^video_[0-9a-f]{48}$"},
            "object": {"const": "video"},
            "model": _STRING,
            "status": {"enum": ["queued", "in_progress", "completed", "failed"]},
            "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "created_at": _INTEGER,
            "completed_at": _nullable(_INTEGER),
            "expires_at": _nullable(_INTEGER),
            "prompt": _nullable(_STRING),
            "size": _STRING,
            "seconds": _STRING,
            "remixed_from_video_id": _nullable(_STRING),
            "error": _nullable(_ref("VideoError")),
            "usage": _ref("Usage"),
        },
        description="A video job (spec §3.1): nullable keys are present as null.",
    ),
    "VideoList": _obj(
        {
            "object": {"const": "list"},
            "data": {"type": "array", "items": _ref("Video")},
            "first_id": _nullable(_STRING),
            "last_id": _nullable(_STRING),
            "has_more": {"type": "boolean"},
        }
    ),
    "VideoDeleted": _obj(
        {"id": _STRING, "object": {"const": "video.deleted"}, "deleted": {"const": True}}
    ),
    "ImageReference": {
        "type": "object",
        "description": "A reference image by URL (https: or a base64 data: URL). file_id is "
        "refused with 400 unsupported_parameter.",
        "properties": {
            "image_url": {"type": "string", "minLength": 1, "maxLength": 20971520},
            "file_id": _STRING,
        },
    },
    "CreateVideoJson": {
        "type": "object",
        "required": ["prompt"],
        "description": "Unknown fields are passed to the provider (extra_body), except those "
        "that change what is made or billed (400 reserved_parameter).",
        "properties": {
            "prompt": {"type": "string", "minLength": 1, "maxLength": 32000, "pattern": r"\S"},
            "model": {"type": "string", "maxLength": 256, "examples": ["sora-2"]},
            "seconds": {
                "description": "A whole number of seconds the model offers.",
                "anyOf": [
                    {"type": "string", "pattern": r"^\s*[0-9]+\s*$", "maxLength": 32},
                    {"type": "integer", "minimum": 1},
                ],
                "examples": ["4", "8", "12"],
            },
            "size": {
                "type": "string",
                "pattern": "^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$",
                "examples": ["720x1280", "1280x720"],
            },
            "input_reference": _ref("ImageReference"),
        },
    },
    "CreateVideoMultipart": {
        "type": "object",
        "required": ["prompt"],
        "description": "What the openai SDK sends: text fields, the reference image as a "
        "file part, or its URL as the bracketed field input_reference[image_url].",
        "properties": {
            "prompt": {"type": "string", "minLength": 1, "maxLength": 32000, "pattern": r"\S"},
            "model": {"type": "string", "maxLength": 256, "examples": ["sora-2"]},
            "seconds": {
                "type": "string",
                "pattern": r"^\s*[0-9]+\s*$",
                "maxLength": 32,
                "examples": ["4", "8"],
            },
            "size": {
                "type": "string",
                "pattern": "^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$",
                "examples": ["720x1280"],
            },
            "input_reference": {"type": "string", "format": "binary"},
            "input_reference[image_url]": {"type": "string", "minLength": 1},
        },
    },
    "RemixVideo": {
        "type": "object",
        "required": ["prompt"],
        "properties": {
            "prompt": {"type": "string", "minLength": 1, "maxLength": 32000, "pattern": r"\S"}
        },
    },
    "ModelList": _obj(
        {
            "object": {"const": "list"},
            "data": {
                "type": "array",
                "items": _obj(
                    {
                        "id": _STRING,
                        "object": {"const": "model"},
                        "created": _INTEGER,
                        "owned_by": _STRING,
                    }
                ),
            },
        }
    ),
    "KeyInfo": _obj(
        {
            "key_id": _STRING,
            "key_name": _STRING,
            "key_alias": _nullable(_STRING),
            "models": {"type": "array", "items": _STRING},
            "max_budget": _nullable(_NUMBER),
            "rpm_limit": _nullable(_INTEGER),
            "metadata": {"type": "object"},
            "spend": _NUMBER,
            "created_at": _INTEGER,
            "expires_at": _nullable(_INTEGER),
            "retention_seconds": _nullable(_INTEGER),
            "revoked": {"type": "boolean"},
        },
        description="A virtual key's settings and spend (never its plain text).",
    ),
    "GeneratedKey": {
        "allOf": [
            _ref("KeyInfo"),
            _obj({"key": {"type": "string", "pattern": "^sk-vg-"}}),
        ],
        "description": "The new key: its plain text is in this response only.",
    },
    "GenerateKey": {
        "type": "object",
        "description": "LiteLLM's shape; unknown fields are accepted and ignored.",
        "properties": {
            "models": {
                "type": "array",
                "maxItems": 1000,
                "items": {"type": "string", "minLength": 1, "maxLength": 256},
                "description": "Models the key may use (names this gateway serves).",
            },
            "max_budget": _nullable({"type": "number", "minimum": 0, "maximum": 1e9}),
            "rpm_limit": _nullable({"type": "integer", "minimum": 1, "maximum": 1_000_000}),
            "key_alias": _nullable({"type": "string", "maxLength": 200}),
            "metadata": {"type": "object", "description": "At most 16 KiB as JSON."},
            "duration": _nullable(
                {
                    "type": "string",
                    "maxLength": 32,
                    "pattern": r"^\s*[0-9]{1,9}\s*[smhdw]\s*$",
                    "description": "Lifetime: 30s, 15m, 12h, 30d or 2w (at most 100 years).",
                }
            ),
            "expires_at": _nullable(
                {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 253402300799,
                    "description": "Unix time, in the future.",
                }
            ),
            "retention": _nullable(
                {
                    "oneOf": [
                        {"type": "string", "maxLength": 32},
                        {"type": "integer", "minimum": 1, "maximum": 3153600000},
                    ],
                    "description": "How long this key's finished videos are kept (30d, 12h "
                    "or seconds); overrides the gateway's retention.",
                }
            ),
        },
    },
    "DeleteKeys": {
        "type": "object",
        "description": "Plain keys (LiteLLM's keys) and/or key ids; at least one.",
        "properties": {
            "keys": {
                "type": "array",
                "maxItems": 1000,
                "items": {"type": "string", "maxLength": 400},
            },
            "key_ids": {
                "type": "array",
                "maxItems": 1000,
                "items": {"type": "string", "maxLength": 64},
            },
        },
    },
    "KeyLookup": {
        "type": "object",
        "description": "The plain key or the key id to look up (master key); empty: your own.",
        "properties": {
            "key": {"type": "string", "maxLength": 400},
            "key_id": {"type": "string", "maxLength": 64},
        },
    },
    "KeyInfoResponse": _obj({"key_id": _STRING, "info": _ref("KeyInfo")}),
    "KeyList": _obj({"keys": {"type": "array", "items": _ref("KeyInfo")}}),
    "KeysDeleted": _obj({"deleted_keys": {"type": "array", "items": _STRING}}),
    "SpendLogEntry": _obj(
        {
            "request_id": _STRING,
            "key_id": _STRING,
            "model": _STRING,
            "provider": _STRING,
            "status": {"enum": ["queued", "in_progress", "completed", "failed"]},
            "seconds": _STRING,
            "size": _STRING,
            "spend": _NUMBER,
            "estimated_cost": _NUMBER,
            "settled_cost": _nullable(_NUMBER),
            "refunded": {"type": "boolean"},
            "deleted": {"type": "boolean"},
            "created_at": _INTEGER,
            "completed_at": _nullable(_INTEGER),
        }
    ),
    "Health": _obj({"status": _STRING}),
    "Readiness": _obj({"status": {"enum": ["healthy", "starting", "unhealthy"]}, "db": _STRING}),
}

SECURITY_SCHEMES: dict[str, Schema] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "The master key (key management, every key's data) or a virtual key "
        "(sk-vg-…, which owns the videos it creates).",
    },
    "apiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "api-key",
        "description": "The same keys, as Azure OpenAI clients send them.",
    },
}
