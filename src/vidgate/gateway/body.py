"""Request bodies: size-capped as they stream in, and parsed into a create or remix request.

``POST /videos`` takes JSON or multipart (spec §2.1, §8.2). ``input_reference`` is a file part
in multipart or ``{"image_url": ...}`` in JSON; a bare string is the 400 ``invalid_type`` OpenAI
sends (spec §8.3). Unknown fields are kept and passed to the provider as ``extra_body``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._exceptions import BadRequestError
from .._validation import MAX_REFERENCE_BYTES
from .errors import GatewayError, payload_too_large

_STANDARD = ("prompt", "model", "seconds", "size", "input_reference")
# Longer values are refused before they reach a check that would echo them back.
_FIELD_LIMITS = {"model": 256, "size": 32, "seconds": 32}
MAX_JSON_DEPTH = 32
_EXTRA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-\[\]]{0,127}$")
_SURROGATE = re.compile("[\ud800-\udfff]")


class BodyLimitMiddleware:
    """Refuses bodies over ``limit`` bytes with a 413: at once when ``Content-Length`` says
    so, else as soon as the streamed body passes the limit (nothing past it is read)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _send_413(send, self.limit)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise payload_too_large(self.limit)
            return message

        await self.app(scope, limited, send)


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps(payload_too_large(limit).to_dict()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


@dataclass
class CreateBody:
    """The fields of a create request, before validation against the model.

    ``reference`` is ``(filename, bytes, content_type)`` for an upload or a URL string for
    ``{"image_url": ...}``; ``fingerprint`` identifies the request for idempotency (the same
    fields and image give the same fingerprint, whatever the encoding or field order).
    """

    prompt: Any = None
    model: Any = None
    seconds: Any = None
    size: Any = None
    reference: tuple[str, bytes, str] | str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        ref: Any = self.reference
        if isinstance(ref, tuple):
            ref = hashlib.sha256(ref[1]).hexdigest()
        canonical = json.dumps(
            {
                "prompt": self.prompt,
                "model": self.model,
                "seconds": str(self.seconds) if self.seconds is not None else None,
                "size": self.size,
                "reference": ref,
                "extra": self.extra,
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def _is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "").lower()
    return kind.startswith(("multipart/form-data", "application/x-www-form-urlencoded"))


async def read_json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object (an empty body is ``{}``), checked before any use: no
    ``NaN``/``Infinity``, no number too large for a float, nesting at most
    :data:`MAX_JSON_DEPTH` deep, and every string valid Unicode (no lone surrogates, which
    would fail later when written to the database or sent upstream)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise _nested_too_deep() from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequestError(
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly.)",
            code="invalid_json",
        ) from None
    if not isinstance(data, dict):
        raise BadRequestError("The request body must be a JSON object.", code="invalid_json")
    check_tree(data)
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is too large")
    return value


def _nested_too_deep() -> BadRequestError:
    return BadRequestError(
        f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.", code="invalid_json"
    )


def check_tree(data: Any) -> None:
    """Refuse nesting deeper than :data:`MAX_JSON_DEPTH` and strings that are not valid
    Unicode, walking the parsed value without recursion."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value)
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            raise _nested_too_deep()
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key)
                stack.append((item, depth + 1))
        else:
            stack.extend((item, depth + 1) for item in value)


def _check_text(text: str) -> None:
    if _SURROGATE.search(text) is not None:
        raise BadRequestError(
            "The request contains a string that is not valid Unicode (a lone UTF-16 "
            "surrogate such as \\ud800).",
            code="invalid_unicode",
        )


async def read_fields(request: Request) -> dict[str, Any]:
    """JSON or form fields (files as ``UploadFile``), whichever the request sent."""
    if not _is_form(request):
        return await read_json_object(request)
    try:
        form = await request.form(max_files=4, max_fields=200)
    except MultiPartException as exc:
        raise BadRequestError(
            f"Malformed multipart body: {exc.message}", code="invalid_body"
        ) from None
    except KeyError:  # a multipart Content-Type without a boundary
        raise BadRequestError("Malformed multipart body.", code="invalid_body") from None
    fields: dict[str, Any] = {}
    for name, value in form.multi_items():
        _check_text(name)
        if isinstance(value, str):
            _check_text(value)
        fields.setdefault(name, value)
    return fields


async def parse_create(request: Request) -> CreateBody:
    """Read a ``POST /videos`` body into a :class:`CreateBody` (types checked, not values)."""
    fields = await read_fields(request)
    body = CreateBody(
        prompt=fields.get("prompt"),
        model=fields.get("model"),
        seconds=fields.get("seconds"),
        size=fields.get("size"),
    )
    for name in ("prompt", "model", "size"):
        value = getattr(body, name)
        if value is not None and not isinstance(value, str):
            raise _invalid_type(name, "a string", value)
    for name, limit in _FIELD_LIMITS.items():
        value = getattr(body, name)
        if isinstance(value, str) and len(value) > limit:
            raise BadRequestError(
                f"Invalid '{name}': {len(value)} characters long; the maximum is {limit}.",
                param=name,
                code="string_above_max_length",
            )
    body.reference = await _reference(fields, multipart=_is_form(request))
    for name, value in fields.items():
        if name in _STANDARD or name.startswith("input_reference["):
            continue
        if isinstance(value, UploadFile):
            raise BadRequestError(
                f"Unexpected file field '{name[:100]}'.", param=name[:100], code="unknown_parameter"
            )
        if not _EXTRA_NAME.match(name):
            # Provider options are ASCII names; anything else cannot be one, and would not
            # survive every wire encoding on its way upstream (multipart field names).
            raise BadRequestError(
                f"Unknown parameter '{name[:100]}': provider options passed through are ASCII "
                "names of at most 128 characters.",
                param=name[:100],
                code="unknown_parameter",
            )
        body.extra[name] = value
    return body


async def _reference(
    fields: dict[str, Any], *, multipart: bool
) -> tuple[str, bytes, str] | str | None:
    value = fields.get("input_reference")
    if value is None and multipart:
        # The openai SDK encodes a dict as bracketed form fields (spec §2.1).
        url = fields.get("input_reference[image_url]")
        if url is not None:
            value = {"image_url": url}
        elif fields.get("input_reference[file_id]") is not None:
            value = {"file_id": fields["input_reference[file_id]"]}
    if value is None:
        return None
    if isinstance(value, UploadFile):
        if value.size is not None and value.size > MAX_REFERENCE_BYTES:
            raise BadRequestError(
                f"Invalid 'input_reference': the image is {value.size} bytes; the limit is "
                f"{MAX_REFERENCE_BYTES}.",
                param="input_reference",
                code="invalid_image",
            )
        data = await value.read()
        return (
            value.filename or "reference",
            data,
            value.content_type or "application/octet-stream",
        )
    if isinstance(value, dict):
        url = value.get("image_url")
        if "file_id" in value and url is None:
            raise BadRequestError(
                "'input_reference.file_id' is not supported by this gateway; send the image "
                "as a file or as {'image_url': ...}.",
                param="input_reference",
                code="unsupported_parameter",
            )
        if not isinstance(url, str) or not url:
            raise _invalid_type("input_reference.image_url", "a string", url)
        return url
    expected = "a file" if multipart else "an object"
    raise _invalid_type("input_reference", expected, value)


def _invalid_type(param: str, expected: str, value: Any) -> BadRequestError:
    got = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}.get(
        type(value), "an object" if isinstance(value, dict) else f"a {type(value).__name__}"
    )
    if isinstance(value, list):
        got = "an array"
    if value is None:
        got = "null"
    return BadRequestError(
        f"Invalid type for '{param}': expected {expected}, but got {got} instead.",
        param=param,
        code="invalid_type",
    )


async def parse_remix(request: Request) -> str:
    """The ``prompt`` of a remix request (JSON or multipart)."""
    fields = await read_fields(request)
    prompt = fields.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise _invalid_type("prompt", "a string", prompt)
    return prompt or ""


__all__ = [
    "BodyLimitMiddleware",
    "CreateBody",
    "GatewayError",
    "parse_create",
    "parse_remix",
    "read_json_object",
]
