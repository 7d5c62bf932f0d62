"""Checks a create request against the model's declared capabilities before anything is sent.

Each failure is a ``BadRequestError`` with ``param`` set, worded like OpenAI's own errors.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import os
import re
from pathlib import Path
from typing import IO, Any

from ._exceptions import BadRequestError, UnsupportedFeatureError
from ._imageinfo import image_info, refusal
from .providers import Provider
from .types.capabilities import ModelCapabilities
from .types.params import ImageInput

MAX_REFERENCE_BYTES = 20 * 1024 * 1024
_SIZE = re.compile(r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$")

InputReference = (
    tuple[str, bytes, str] | tuple[str, bytes] | str | os.PathLike[str] | bytes | IO[bytes]
)


def check_prompt(prompt: Any, caps: ModelCapabilities | None = None) -> str:
    limit = caps.max_prompt_chars if caps else 32_000
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadRequestError(
            "'prompt' is required and must be a non-empty string.",
            param="prompt",
            code="invalid_value",
        )
    if len(prompt) > limit:
        raise BadRequestError(
            f"'prompt' is {len(prompt)} characters long; the maximum is {limit}.",
            param="prompt",
            code="string_above_max_length",
        )
    return prompt


def check_seconds(seconds: Any, caps: ModelCapabilities, model: str) -> str:
    """``"8"`` or ``8`` → ``"8"``; anything not a whole number, or not offered, is refused."""
    if isinstance(seconds, bool) or not isinstance(seconds, str | int):
        raise BadRequestError(
            f"Invalid type for 'seconds': expected a string such as '4', but got "
            f"{type(seconds).__name__} instead.",
            param="seconds",
            code="invalid_type",
        )
    text = str(seconds).strip()
    # ASCII digits only: str.isdigit() also takes '²' and other digits int() cannot read.
    if not (text.isascii() and text.isdigit()) or len(text) > 9 or int(text) <= 0:
        shown = text if len(text) <= 20 else text[:20] + "…"
        raise BadRequestError(
            f"Invalid value for 'seconds': '{shown}' is not a positive whole number of seconds.",
            param="seconds",
            code="invalid_value",
        )
    text = str(int(text))
    if caps.seconds is not None and text not in caps.seconds:
        raise UnsupportedFeatureError(
            f"Invalid value for 'seconds': '{text}'. {model} supports {_choices(caps.seconds)}.",
            param="seconds",
            code="invalid_value",
        )
    return text


def check_size(size: Any, caps: ModelCapabilities, model: str) -> str:
    if not isinstance(size, str) or not _SIZE.match(size.strip()):
        shown = repr(size) if len(repr(size)) <= 40 else repr(size)[:40] + "…"
        raise BadRequestError(
            f"Invalid value for 'size': {shown}; expected 'WIDTHxHEIGHT' such as '720x1280'.",
            param="size",
            code="invalid_value",
        )
    text = size.strip()
    if caps.sizes is not None and text not in caps.sizes:
        raise UnsupportedFeatureError(
            f"Invalid value for 'size': '{text}'. {model} supports {_choices(caps.sizes)}.",
            param="size",
            code="invalid_value",
        )
    return text


_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def reference_scheme(value: str) -> str | None:
    """The lower-cased URL scheme of ``value`` (``https``, ``data``, ``file`` ...), or ``None``
    for text that is not a URL. A one-letter "scheme" is a Windows drive (``C:\\x.png``)."""
    match = _URL_SCHEME.match(value)
    if match is None or len(match.group(1)) == 1:
        return None
    return match.group(1).lower()


def load_input_reference(
    value: Any, caps: ModelCapabilities, model: str, *, allow_paths: bool = False
) -> ImageInput | None:
    """A reference image from a ``(filename, bytes, content_type)`` tuple, bytes, an open
    binary file, or an ``https:``/``http:``/``data:`` URL; checked to be a JPEG, PNG or WebP
    of a sane size (from its header, before anything is decoded).

    A path names a file on this machine, so it is read only with ``allow_paths=True``: the
    SDK's convenience for a local script's own files. The gateway never passes it, so nothing
    an HTTP caller sends can name a file on the gateway's host.
    """
    if value is None:
        return None
    if not caps.image_input:
        raise UnsupportedFeatureError(
            f"{model} does not take an input_reference image.",
            param="input_reference",
            code="unsupported_parameter",
        )
    if isinstance(value, tuple):
        if len(value) not in (2, 3) or not isinstance(value[1], bytes | bytearray):
            raise _bad_reference("expected a (filename, bytes, content_type) tuple")
        name = str(value[0])
        data = bytes(value[1])
        return _image(name, data, str(value[2]) if len(value) == 3 else None)
    if isinstance(value, bytes | bytearray):
        return _image("reference", bytes(value), None)
    if isinstance(value, str):
        scheme = reference_scheme(value)
        if scheme in ("https", "http"):
            return ImageInput(url=value)
        if scheme == "data":
            return _data_url(value)
        if scheme is not None or not allow_paths:
            raise _bad_reference(
                "it must be an uploaded image, a data: URL or an https: URL"
                + ("" if allow_paths else " (file paths are not accepted)"),
                code="invalid_image_url" if scheme is not None else "invalid_image",
            )
    if isinstance(value, str | os.PathLike):
        if not allow_paths:
            raise _bad_reference("file paths are not accepted here")
        path = Path(value)
        if not path.is_file():
            raise _bad_reference(f"'{path}' is not a readable file")
        try:
            with path.open("rb") as f:
                data = f.read(MAX_REFERENCE_BYTES + 1)
        except OSError as exc:
            raise _bad_reference(f"cannot read '{path}': {exc.strerror or exc}") from None
        return _image(path.name, data, None)
    if hasattr(value, "read"):
        data = value.read(MAX_REFERENCE_BYTES + 1)
        if not isinstance(data, bytes | bytearray):
            raise _bad_reference("the file must be opened in binary mode ('rb')")
        return _image(Path(str(getattr(value, "name", "reference"))).name, bytes(data), None)
    raise BadRequestError(
        f"Invalid type for 'input_reference': {type(value).__name__}. Pass a (filename, bytes, "
        "content_type) tuple, a path, bytes, or an https/data URL.",
        param="input_reference",
        code="invalid_type",
    )


def _data_url(value: str) -> ImageInput:
    header, sep, payload = value.partition(",")
    if not sep or ";base64" not in header.lower():
        raise _bad_reference("a data URL must be base64-encoded")
    if len(payload) > MAX_REFERENCE_BYTES * 4 // 3 + 4:
        raise _bad_reference(f"the image is larger than the limit of {MAX_REFERENCE_BYTES} bytes")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _bad_reference("the data URL is not valid base64") from None
    return _image("reference", data, header[5:].split(";")[0] or None)


# Fields every provider's request is built from: ``extra_body`` may never override them.
ALWAYS_RESERVED = frozenset({"model", "prompt", "seconds", "size", "input_reference", "n"})


def check_extra_body(
    extra: Any, provider: Provider, model: str, *, operator: bool
) -> dict[str, Any]:
    """``extra_body`` as a dict, refusing any key that would change what is made or billed:
    the adapter's ``reserved_fields`` and the standard fields (compared case-insensitively),
    also inside the objects the adapter merges into its own; and, unless the caller is the
    account's ``operator`` (the SDK's user, not a gateway tenant), the adapter's
    ``operator_fields``."""
    if extra is None:
        return {}
    if not isinstance(extra, dict):
        raise BadRequestError(
            f"Invalid type for 'extra_body': expected an object, got {type(extra).__name__}.",
            param="extra_body",
            code="invalid_type",
        )
    blocked = {name.lower() for name in provider.reserved_fields | ALWAYS_RESERVED}
    merged = {name.lower() for name in provider.merged_objects}
    tenant_blocked = set() if operator else {n.lower() for n in provider.operator_fields}
    for name, value in extra.items():
        folded = str(name).lower()
        if not isinstance(name, str) or folded in blocked:
            raise _reserved(str(name), model)
        if folded in tenant_blocked:
            raise BadRequestError(
                f"'{name}' may not be set by a gateway's caller: it chooses the account, "
                "project or storage a job uses. The gateway's operator sets it in the "
                "deployment's params.",
                param=name,
                code="operator_parameter",
            )
        if folded in merged and isinstance(value, dict):
            for inner in value:
                if not isinstance(inner, str) or inner.lower() in blocked:
                    raise _reserved(f"{name}.{inner}", model)
    return dict(extra)


def _reserved(name: str, model: str) -> BadRequestError:
    return BadRequestError(
        f"'{name}' may not be set through extra_body for {model}: it changes what is made or "
        "billed. Use the request's own parameters (seconds, size, model).",
        param=name,
        code="reserved_parameter",
    )


def _image(name: str, data: bytes, content_type: str | None) -> ImageInput:
    if len(data) > MAX_REFERENCE_BYTES:
        raise _bad_reference(f"the image is larger than the limit of {MAX_REFERENCE_BYTES} bytes")
    info = image_info(data)
    if info is None:
        raise _bad_reference("it is not a readable JPEG, PNG or WebP image")
    reason = refusal(info)
    if reason is not None:
        raise _bad_reference(reason, code="image_too_large")
    # The bytes say what they are; a caller's label may be wrong or missing.
    kind = content_type = info.content_type
    name = name.replace("/", "_").replace("\\", "_")[:200] or "reference"
    if "." not in name:
        name += mimetypes.guess_extension(kind) or ""
    return ImageInput(filename=name, data=data, content_type=content_type)


def _bad_reference(reason: str, *, code: str = "invalid_image") -> BadRequestError:
    return BadRequestError(
        f"Invalid 'input_reference': {reason}.", param="input_reference", code=code
    )


def _choices(values: tuple[str, ...]) -> str:
    if all(v.isdigit() for v in values) and len(values) > 5:
        nums = [int(v) for v in values]
        if nums == list(range(nums[0], nums[-1] + 1)):
            return f"{nums[0]} to {nums[-1]} seconds"
    return ", ".join(f"'{v}'" for v in values)
