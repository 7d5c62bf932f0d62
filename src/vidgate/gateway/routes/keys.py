"""``/key/*``: virtual keys, in LiteLLM's shape (``/key/generate``, ``/key/info``, ...).

Only the master key creates, lists or deletes keys; any key may read its own info.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..._exceptions import BadRequestError, NotFoundError
from ..auth import Caller, require_admin
from ..body import read_json_object
from ..config import retention_seconds
from ..durations import parse_duration
from ..state import CallerDep, GatewayState, State
from ..store.keys import hash_key

router = APIRouter(tags=["keys"])

# Bounds on what a key may hold, so every value fits the database's 64-bit integers and
# finite floats (and JSON: ``Infinity`` is not JSON, so a stored one broke /key/list).
MAX_BUDGET_USD = 1e9
MAX_RPM = 1_000_000
MAX_EXPIRES_AT = 253_402_300_799  # 9999-12-31T23:59:59Z
MAX_MODELS = 1000
MAX_METADATA_BYTES = 16 * 1024


class GenerateKey(BaseModel):
    """Body of ``POST /key/generate``. Unknown LiteLLM fields are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    models: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        default_factory=list, max_length=MAX_MODELS
    )
    max_budget: float | None = Field(default=None, ge=0, le=MAX_BUDGET_USD, allow_inf_nan=False)
    rpm_limit: int | None = Field(default=None, ge=1, le=MAX_RPM)
    key_alias: str | None = Field(default=None, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)
    duration: str | None = Field(default=None, max_length=32)
    expires_at: int | None = Field(default=None, ge=0, le=MAX_EXPIRES_AT)
    # How long this key's finished videos are kept (``30d``, ``12h``, or seconds), instead
    # of the gateway's ``general_settings.retention``.
    # Read here into seconds, so the rest of the route has one number.
    retention: int | None = None

    @field_validator("retention", mode="before")
    @classmethod
    def _retention(cls, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, str) and len(value) > 32:
            raise ValueError("must be at most 32 characters")
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise ValueError("must be a duration (30d, 12h, ...) or a whole number of seconds")
        seconds: int | None = retention_seconds(value)
        return seconds

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value)) > MAX_METADATA_BYTES:
            raise ValueError(f"must be at most {MAX_METADATA_BYTES} bytes as JSON")
        return value


class DeleteKeys(BaseModel):
    """Body of ``POST /key/delete``: plain keys (LiteLLM's ``keys``) and/or ``key_ids``."""

    model_config = ConfigDict(extra="ignore")

    keys: list[Annotated[str, Field(max_length=400)]] = Field(
        default_factory=list, max_length=MAX_MODELS
    )
    key_ids: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=MAX_MODELS
    )


class KeyLookup(BaseModel):
    """Body of ``POST /key/info``: the plain key to look up (never in a URL, where access
    logs and proxies would keep it), or its id."""

    model_config = ConfigDict(extra="ignore")

    key: str | None = Field(default=None, max_length=400)
    key_id: str | None = Field(default=None, max_length=64)


def _model(cls: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        param = ".".join(str(p) for p in err["loc"]) or None
        raise BadRequestError(
            f"Invalid value for '{param}': {err['msg']}.", param=param, code="invalid_value"
        ) from None


@router.post("/key/generate")
async def generate_key(request: Request, state: State, caller: CallerDep) -> JSONResponse:
    """A new virtual key. Its plain text is in this response only."""
    require_admin(caller)
    body: GenerateKey = _model(GenerateKey, await read_json_object(request))
    now = int(time.time())
    expires_at = body.expires_at
    if body.duration:
        expires_at = now + parse_duration(body.duration)
    if expires_at is not None and expires_at <= now:
        raise BadRequestError(
            f"Invalid value for 'expires_at': {expires_at} is not in the future; a key that "
            "has already expired would be useless.",
            param="expires_at",
            code="invalid_value",
        )
    unknown = [m for m in body.models if m not in state.router.names()]
    if unknown and not state.settings.videos_settings:
        raise BadRequestError(
            f"Unknown model(s) {', '.join(unknown)}. Models available: "
            f"{', '.join(state.router.names())}.",
            param="models",
            code="model_not_found",
        )
    plain, record = await state.db.call(
        state.db.keys.create,
        alias=body.key_alias,
        models=body.models,
        max_budget=body.max_budget,
        rpm_limit=body.rpm_limit,
        metadata=body.metadata,
        expires_at=expires_at,
        retention_seconds=body.retention,
    )
    return JSONResponse({"key": plain, **record.public()})


@router.get("/key/info")
async def key_info(
    request: Request,
    state: State,
    caller: CallerDep,
    key_id: str | None = Query(default=None, max_length=64),
) -> JSONResponse:
    """A key's settings and spend: your own, or (master key) any key by ``key_id``. A plain
    key is looked up with ``POST /key/info`` or the ``x-vidgate-key`` header, never a query."""
    if "key" in request.query_params:
        raise BadRequestError(
            "Do not put an API key in a URL: URLs end up in access logs and proxies. Send it "
            "as POST /key/info {\"key\": ...} or in the 'x-vidgate-key' header, or look the "
            "key up by ?key_id=.",
            param="key",
            code="key_in_query",
        )
    plain = request.headers.get("x-vidgate-key")
    lookup: KeyLookup = _model(KeyLookup, {"key": plain, "key_id": key_id})
    return await _key_info(state, caller, lookup)


@router.post("/key/info")
async def key_info_post(request: Request, state: State, caller: CallerDep) -> JSONResponse:
    """``/key/info`` with the key (or ``key_id``) in a JSON body."""
    body: KeyLookup = _model(KeyLookup, await read_json_object(request))
    return await _key_info(state, caller, body)


async def _key_info(state: GatewayState, caller: Caller, lookup: KeyLookup) -> JSONResponse:
    if lookup.key is None and lookup.key_id is None:
        if caller.key is None:
            raise BadRequestError(
                "The master key has no key info; pass key_id (or the key) to look one up.",
                param="key_id",
                code="missing_required",
            )
        record = await state.db.call(state.db.keys.get, caller.key.id)
    elif lookup.key is not None:
        record = await state.db.call(state.db.keys.by_hash, hash_key(lookup.key))
    else:
        record = await state.db.call(state.db.keys.get, lookup.key_id or "")
    if record is None or (not caller.admin and (caller.key is None or record.id != caller.key.id)):
        # Another key's info is as unknown to a caller as a key that does not exist.
        raise NotFoundError("No such key.", param="key", code="not_found")
    return JSONResponse({"key_id": record.id, "info": record.public()})


@router.get("/key/list")
async def list_keys(state: State, caller: CallerDep) -> JSONResponse:
    """Every key (never their plain text). Master key only."""
    require_admin(caller)
    records = await state.db.call(state.db.keys.list)
    return JSONResponse({"keys": [r.public() for r in records]})


@router.post("/key/delete")
async def delete_keys(request: Request, state: State, caller: CallerDep) -> JSONResponse:
    """Revoke keys; their videos and spend history stay. Master key only."""
    require_admin(caller)
    body: DeleteKeys = _model(DeleteKeys, await read_json_object(request))
    ids = list(body.key_ids)
    for plain in body.keys:
        record = await state.db.call(state.db.keys.by_hash, hash_key(plain))
        if record is not None:
            ids.append(record.id)
    if not body.keys and not body.key_ids:
        raise BadRequestError(
            "Pass 'keys' or 'key_ids' to delete.", param="keys", code="missing_required"
        )
    deleted = [i for i in dict.fromkeys(ids) if await state.db.call(state.db.keys.revoke, i)]
    if not deleted:
        raise NotFoundError("None of these keys exist (or all were deleted).", code="not_found")
    return JSONResponse({"deleted_keys": deleted})
