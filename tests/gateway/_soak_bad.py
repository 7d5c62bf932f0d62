"""Bad input for the soak: requests that must fail, each with the status it must get.

``BAD`` holds the cases that fail whatever the soak has done so far (malformed bodies, wrong
types, oversized fields, no or a wrong key, made-up ids, bad list parameters, unknown routes);
``NAMED`` the ones that name one of the soak's own videos (another tenant's, a deleted one, a
completed one with a bad ``Range``). :func:`send_bad` sends one of either, chosen at random.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from ._soak import Job, Soak

MODEL = "local/preview"
SECONDS = "1"


@dataclass(frozen=True)
class Bad:
    """A request that must fail with ``status`` whatever the soak has done so far."""

    kind: str
    method: str
    path: str  # ``{forged}``: a made-up video id
    status: int
    json: Any = None
    data: bytes | None = None
    form: tuple[tuple[str, Any], ...] = ()  # value: a string, or (filename, bytes, type)
    params: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    auth: str = "tenant"  # tenant | narrow (may not use MODEL) | wrong | none


_V = "/v1/videos"
_ONE = "/v1/videos/{forged}"
_OK = {"prompt": "x", "model": MODEL, "seconds": SECONDS}
BAD: tuple[Bad, ...] = (
    Bad(
        "bad_malformed_json",
        "POST",
        _V,
        400,
        data=b'{"prompt": "half a bo',
        headers={"Content-Type": "application/json"},
    ),
    Bad("bad_json_array", "POST", _V, 400, json=["prompt", "x"]),
    Bad("bad_prompt_type", "POST", _V, 400, json={**_OK, "prompt": 42}),
    Bad("bad_empty_prompt", "POST", _V, 400, json={**_OK, "prompt": "  "}),
    Bad("bad_long_prompt", "POST", _V, 400, json={**_OK, "prompt": "x" * 32_001}),
    Bad("bad_seconds", "POST", _V, 400, json={**_OK, "seconds": "abc"}),
    Bad("bad_seconds", "POST", _V, 400, json={**_OK, "seconds": "21"}),
    Bad("bad_seconds", "POST", _V, 400, json={**_OK, "seconds": [1]}),
    Bad("bad_size", "POST", _V, 400, json={**_OK, "size": "13x13"}),
    Bad("bad_size", "POST", _V, 400, json={**_OK, "size": "720*1280"}),
    Bad("bad_size", "POST", _V, 400, json={**_OK, "size": 720}),
    Bad("bad_model", "POST", _V, 400, json={**_OK, "model": "nobody/nothing"}),
    # An unknown field goes to the provider, but never one that changes what is made.
    Bad("bad_reserved_extra", "POST", _V, 400, json={**_OK, "n": 2}),
    Bad(
        "bad_reference_string",
        "POST",
        _V,
        400,
        form=(("prompt", "x"), ("model", MODEL), ("input_reference", "not a file")),
    ),
    Bad(
        "bad_reference_bytes",
        "POST",
        _V,
        400,
        form=(("prompt", "x"), ("input_reference", ("a.png", b"GIF89a no", "image/png"))),
    ),
    Bad("bad_oversized_body", "POST", _V, 413),  # the body is made to measure
    Bad("bad_model_not_allowed", "POST", _V, 403, json=_OK, auth="narrow"),
    Bad("bad_missing_auth", "GET", _V, 401, auth="none"),
    Bad("bad_missing_auth", "POST", _V, 401, json=_OK, auth="none"),
    Bad("bad_wrong_key", "GET", _ONE, 401, auth="wrong"),
    Bad("bad_unknown_id", "GET", _ONE, 404),
    Bad("bad_unknown_id", "GET", _ONE + "/content", 404),
    Bad("bad_unknown_id", "DELETE", _ONE, 404),
    Bad("bad_unknown_id", "POST", _ONE + "/remix", 404, json={"prompt": "y"}),
    Bad("bad_list_params", "GET", _V, 400, params={"limit": "101"}),
    Bad("bad_list_params", "GET", _V, 400, params={"limit": "many"}),
    Bad("bad_list_params", "GET", _V, 400, params={"order": "sideways"}),
    Bad("bad_list_after", "GET", _V, 404, params={"after": "video_" + "e" * 48}),
    Bad("bad_route", "GET", "/v1/videoz", 404),
    Bad("bad_route", "PUT", _V, 405),
)


async def send_bad(soak: Soak) -> None:
    """One bad request: a case from ``BAD`` or ``NAMED`` (the same odds for each)."""
    pick = soak.rng.randrange(len(BAD) + len(NAMED))
    if pick >= len(BAD):
        await NAMED[pick - len(BAD)](soak)
        return
    bad = BAD[pick]
    if bad.kind == "bad_oversized_body" and soak.max_upload_bytes is None:
        return
    key = {
        "tenant": soak.rng.choice(soak.keys.tenants),
        "narrow": soak.keys.narrow,
        "wrong": "sk-" + secrets.token_hex(16),
        "none": None,
    }[bad.auth]
    kwargs: dict[str, Any] = {"params": bad.params, "headers": bad.headers}
    if bad.json is not None:
        kwargs["json"] = bad.json
    elif bad.data is not None:
        kwargs["data"] = bad.data
    elif bad.form:
        form = aiohttp.FormData()
        for name, value in bad.form:
            if isinstance(value, tuple):
                form.add_field(name, value[1], filename=value[0], content_type=value[2])
            else:
                form.add_field(name, value)
        kwargs["data"] = form
    if bad.kind == "bad_oversized_body":
        assert soak.max_upload_bytes is not None
        kwargs["json"] = {"prompt": "x", "model": MODEL, "pad": "y" * soak.max_upload_bytes}
    path = bad.path.format(forged="video_" + secrets.token_hex(24))
    await soak.send(bad.kind, bad.method, path, key=key, expected=(bad.status,), **kwargs)


async def _about(soak: Soak, job: Job, kind: str, method: str, suffix: str, **kw: Any) -> None:
    """A bad request naming ``job`` (``key`` and ``expected`` in ``kw``); the job is held
    busy meanwhile so the soak does not delete it under the request."""
    job.busy += 1
    try:
        await soak.send(kind, method, f"/v1/videos/{job.id}{suffix}", **kw)
    finally:
        job.busy -= 1


async def foreign_id(soak: Soak) -> None:
    """Another tenant's live video, by every route: a 404 (and the video stays: checked at
    the end, when every tenant video must still be there)."""
    job = soak.pick(key=soak.rng.choice(soak.keys.tenants))
    if job is None:
        return
    other = soak.rng.choice([k for k in soak.keys.tenants if k != job.key])
    method, suffix = soak.rng.choice(
        (("GET", ""), ("GET", "/content"), ("DELETE", ""), ("POST", "/remix"))
    )
    body = {"json": {"prompt": "mine now"}} if method == "POST" else {}
    await _about(soak, job, "bad_foreign_id", method, suffix, key=other, expected=(404,), **body)


async def deleted_id(soak: Soak) -> None:
    if gone := [j for j in soak.by_key[soak.keys.doomed] if j.deleted]:
        job = soak.rng.choice(gone)
        method = soak.rng.choice(("GET", "DELETE"))
        await _about(soak, job, "bad_deleted_id", method, "", key=job.key, expected=(404,))


async def bad_variant(soak: Soak) -> None:
    if job := soak.pick():  # checked before the job's state: any live job will do
        params = {"variant": "poster"}
        kind = "bad_variant"
        await _about(
            soak, job, kind, "GET", "/content", key=job.key, expected=(400,), params=params
        )


async def range_unsatisfiable(soak: Soak) -> None:
    if job := soak.pick(completed=True):
        headers = {"Range": "bytes=900000000-"}
        kind = "bad_range_unsatisfiable"
        await _about(
            soak, job, kind, "GET", "/content", key=job.key, expected=(416,), headers=headers
        )


async def range_malformed(soak: Soak) -> None:
    if job := soak.pick(completed=True):
        # RFC 9110 lets a server refuse a malformed range either way (400 or 416).
        headers = {"Range": soak.rng.choice(("bytes=abc-def", "bytes=50-10", "bytes=--3"))}
        kind = "bad_range_malformed"
        await _about(
            soak, job, kind, "GET", "/content", key=job.key, expected=(400, 416), headers=headers
        )


async def remix_bad_prompt(soak: Soak) -> None:
    if job := soak.pick(completed=True):
        body = {"prompt": ["not", "a", "string"]}
        kind = "bad_remix_prompt"
        await _about(soak, job, kind, "POST", "/remix", key=job.key, expected=(400,), json=body)


NAMED = (
    foreign_id,
    deleted_id,
    bad_variant,
    range_unsatisfiable,
    range_malformed,
    remix_bad_prompt,
)
NAMED_KINDS = (
    "bad_foreign_id",
    "bad_deleted_id",
    "bad_variant",
    "bad_range_unsatisfiable",
    "bad_range_malformed",
    "bad_remix_prompt",
)

__all__ = ["BAD", "NAMED", "NAMED_KINDS", "Bad", "send_bad"]
