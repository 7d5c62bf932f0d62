"""Property-based tests (hypothesis) of every parser a client or an operator reaches.

The property is the same everywhere: whatever arrives, a parser either returns a value within
its documented bounds or raises the one error class it documents (a 4xx ``APIError``, a
``ConfigError``). Anything else, such as a ``RecursionError``, ``UnicodeEncodeError`` or
``OverflowError``, would be a 500 or a crash at start.
"""

from __future__ import annotations

import asyncio
import json
import math
import string
import struct
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from vidgate import _ids
from vidgate._exceptions import APIError, APIStatusError
from vidgate._imageinfo import MAX_PIXELS, MAX_SIDE, image_info
from vidgate._validation import (
    check_seconds,
    check_size,
    load_input_reference,
    reference_scheme,
)
from vidgate.gateway.body import MAX_JSON_DEPTH, parse_create, parse_remix, read_json_object
from vidgate.gateway.config import ConfigError, load_settings
from vidgate.gateway.durations import parse_duration
from vidgate.gateway.routes.keys import GenerateKey, _model
from vidgate.gateway.routes.videos import check_range
from vidgate.local import PREVIEW

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# JSON values with every kind of string, lone surrogates included.
_text = st.text(alphabet=st.characters(codec=None), max_size=30)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)


def _request(body: bytes, content_type: str) -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/videos",
        "headers": [(b"content-type", content_type.encode("latin-1"))],
        "query_string": b"",
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def _only_4xx(exc: APIError) -> None:
    assert isinstance(exc, APIStatusError) and 400 <= exc.status_code < 500, exc


# -- request bodies ---------------------------------------------------------------------------


@SETTINGS
@given(value=json_values)
def test_any_json_body_parses_or_is_a_400(value: Any) -> None:
    raw = json.dumps(value).encode()  # escapes lone surrogates as \udXXX, as an attacker would
    try:
        parsed = _run(parse_create(_request(raw, "application/json")))
    except APIError as exc:
        _only_4xx(exc)
        return
    # What passed is safe to store and fingerprint: valid Unicode, bounded depth.
    json.dumps(parsed.extra).encode("utf-8")
    assert parsed.fingerprint


@SETTINGS
@given(raw=st.binary(max_size=300))
@example(raw=b"[" * 5000 + b"]" * 5000)
@example(raw=b'{"a": NaN}')
@example(raw=b'{"a": 1e999}')
@example(raw=b'{"\\ud800": 1}')
def test_any_bytes_as_json_parse_or_are_a_400(raw: bytes) -> None:
    try:
        data = _run(read_json_object(_request(raw, "application/json")))
    except APIError as exc:
        _only_4xx(exc)
        return
    assert isinstance(data, dict)
    json.dumps(data, allow_nan=False).encode("utf-8")


@SETTINGS
@given(depth=st.integers(min_value=1, max_value=200))
def test_nesting_is_bounded(depth: int) -> None:
    raw = b'{"prompt": "x", "a": ' + b"[" * depth + b"]" * depth + b"}"
    try:
        _run(read_json_object(_request(raw, "application/json")))
    except APIError as exc:
        _only_4xx(exc)
        assert depth + 1 > MAX_JSON_DEPTH
        return
    assert depth + 1 <= MAX_JSON_DEPTH


_field_names = st.sampled_from(
    ["prompt", "model", "seconds", "size", "input_reference", "input_reference[image_url]", "x"]
)


@SETTINGS
@given(
    fields=st.lists(st.tuples(_field_names, _text), max_size=6),
    file_part=st.one_of(st.none(), st.binary(max_size=64)),
    boundary=st.sampled_from(["b0und", "x" * 70, ""]),
)
def test_any_multipart_body_parses_or_is_a_400(
    fields: list[tuple[str, str]], file_part: bytes | None, boundary: str
) -> None:
    parts = []
    for name, value in fields:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode(
                "utf-8", "surrogatepass"
            )
            + value.encode("utf-8", "surrogatepass")
            + b"\r\n"
        )
    if file_part is not None:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="input_reference"; '
            'filename="a.png"\r\nContent-Type: image/png\r\n\r\n'.encode()
            + file_part
            + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    content_type = "multipart/form-data" + (f"; boundary={boundary}" if boundary else "")
    try:
        parsed = _run(parse_create(_request(body, content_type)))
    except APIError as exc:
        _only_4xx(exc)
        return
    for value in (parsed.prompt, parsed.model, parsed.size, parsed.seconds):
        if isinstance(value, str):
            value.encode("utf-8")


@SETTINGS
@given(value=json_values)
def test_any_remix_body_parses_or_is_a_400(value: Any) -> None:
    try:
        prompt = _run(parse_remix(_request(json.dumps(value).encode(), "application/json")))
    except APIError as exc:
        _only_4xx(exc)
        return
    assert isinstance(prompt, str)


# -- fields -----------------------------------------------------------------------------------


@SETTINGS
@given(value=st.one_of(st.text(max_size=25), st.integers(), st.floats(), st.none()))
@example(value="²")
@example(value="٣")
@example(value="4" * 5000)
def test_seconds_is_ascii_digits_or_a_400(value: Any) -> None:
    try:
        text = check_seconds(value, PREVIEW, "local/preview")
    except APIError as exc:
        _only_4xx(exc)
        assert len(exc.message) < 300
        return
    assert text.isascii() and text.isdigit() and text in (PREVIEW.seconds or ())


@SETTINGS
@given(value=st.one_of(st.text(max_size=40), st.integers(), st.none()))
def test_size_is_width_x_height_or_a_400(value: Any) -> None:
    try:
        text = check_size(value, PREVIEW, "local/preview")
    except APIError as exc:
        _only_4xx(exc)
        return
    width, height = (int(v) for v in text.split("x"))
    assert width > 0 and height > 0


@SETTINGS
@given(value=st.text(max_size=80))
@example(value="/etc/passwd")
@example(value="file:///etc/passwd")
@example(value="C:\\x.png")
@example(value="HTTPS://example.com/a.png")
def test_no_reference_string_reads_a_file_without_allow_paths(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the loader touched the file system")

    with monkeypatch.context() as patch:
        patch.setattr(Path, "open", forbidden)
        patch.setattr(Path, "is_file", forbidden)
        patch.setattr(Path, "read_bytes", forbidden)
        try:
            ref = load_input_reference(value, PREVIEW, "local/preview")
        except APIError as exc:
            _only_4xx(exc)
            return
    assert ref is not None
    assert reference_scheme(value) in ("https", "http", "data")


@SETTINGS
@given(data=st.binary(max_size=64))
def test_image_headers_never_crash_and_report_positive_sizes(data: bytes) -> None:
    info = image_info(data)
    if info is not None:
        assert info.width > 0 and info.height > 0


@SETTINGS
@given(
    width=st.integers(min_value=0, max_value=2**32 - 1),
    height=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_declared_png_sizes_are_read_and_bombs_refused(width: int, height: int) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", width, height) + b"\0" * 9
    info = image_info(png)
    if width == 0 or height == 0:
        assert info is None
        return
    assert info is not None and (info.width, info.height) == (width, height)
    try:
        load_input_reference(png, PREVIEW, "local/preview")
    except APIError as exc:
        _only_4xx(exc)
        assert width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS
        return
    assert width <= MAX_SIDE and height <= MAX_SIDE and width * height <= MAX_PIXELS


@SETTINGS
@given(video_id=st.text(max_size=200))
def test_video_ids_decode_or_are_a_400(video_id: str) -> None:
    try:
        ref = _ids.decode_video_id(video_id)
    except APIError as exc:
        _only_4xx(exc)
        return
    assert ref.provider and ref.upstream_id


@SETTINGS
@given(model=st.text(max_size=100))
def test_model_names_parse_or_are_a_400(model: str) -> None:
    try:
        ref = _ids.parse_model(model)
    except APIError as exc:
        _only_4xx(exc)
        return
    assert ref.provider and ref.model


# -- Range ------------------------------------------------------------------------------------

_range_text = st.text(alphabet=string.digits + "-,= bytesitm", max_size=30)


@SETTINGS
@given(header=_range_text | st.text(max_size=30), size=st.integers(min_value=0, max_value=10**7))
def test_range_headers_are_served_ignored_or_refused(header: str, size: int) -> None:
    verdict = check_range(header, size)
    assert verdict is None or verdict == "ignore" or verdict.endswith(".")
    if verdict is None:
        # Everything that is served is a well-formed byte range within the file.
        unit, _, specs = header.partition("=")
        assert unit.strip().lower() == "bytes"
        for part in filter(None, (p.strip() for p in specs.split(","))):
            first, _, last = part.partition("-")
            assert first.isdigit() or last.isdigit()
            if first and last:
                assert int(first) <= int(last)
            if first:
                assert int(first) < size


# -- key fields -------------------------------------------------------------------------------


@SETTINGS
@given(
    body=st.fixed_dictionaries(
        {},
        optional={
            "max_budget": json_values,
            "rpm_limit": json_values,
            "expires_at": json_values,
            "duration": json_values,
            "models": json_values,
            "metadata": json_values,
            "key_alias": json_values,
            "retention": json_values,
        },
    )
)
@example(body={"max_budget": 1e308, "rpm_limit": 2**63, "expires_at": 10**30})
def test_key_fields_are_bounded_or_a_400(body: dict[str, Any]) -> None:
    try:
        key = _model(GenerateKey, body)
        if key.duration:
            seconds = parse_duration(key.duration)
            assert 0 < seconds <= 100 * 365 * 86400
    except APIError as exc:
        _only_4xx(exc)
        return
    assert key.max_budget is None or (math.isfinite(key.max_budget) and key.max_budget <= 1e9)
    assert key.rpm_limit is None or 1 <= key.rpm_limit <= 1_000_000
    assert key.expires_at is None or key.expires_at < 2**63
    assert key.retention is None or 0 < key.retention <= 100 * 365 * 86400


# -- config (operator input: a bad value fails at start, never later) -------------------------


@SETTINGS
@given(
    general=st.dictionaries(
        st.sampled_from(
            [
                "master_key",
                "max_upload_bytes",
                "poll_after_ms",
                "poll_concurrency",
                "port",
                "reference_timeout",
                "reference_hosts",
                "allow_http_references",
                "local_dir",
                "local_workers",
                "retention",
                "sweep_interval",
                "sweep_batch",
                "role",
                "redis_url",
                "webhooks",
                "nonsense",
            ]
        ),
        json_values,
        max_size=4,
    ),
    models=json_values,
)
def test_any_config_loads_or_is_a_config_error(
    general: dict[str, Any], models: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("config") / "config.yaml"
    try:
        text = yaml.safe_dump({"general_settings": general, "model_list": models})
    except yaml.YAMLError:
        return  # not representable as YAML: nothing an operator could write
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        settings_ = load_settings(path)
    except ConfigError as exc:
        assert str(path) in str(exc)
        return
    assert settings_.general_settings.max_upload_bytes > 0
