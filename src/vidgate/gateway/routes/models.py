"""``GET /models``: the public model names this gateway serves (filtered by the key)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..state import CallerDep, State

router = APIRouter(tags=["models"])


@router.get("/models")
async def list_models(state: State, caller: CallerDep) -> JSONResponse:
    """OpenAI's model list shape: ``{"object": "list", "data": [{"id", "object", ...}]}``."""
    names = [n for n in state.router.names() if caller.may_use(n)]
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "vidgate"} for n in names]
    return JSONResponse({"object": "list", "data": data})
