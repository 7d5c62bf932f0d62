"""Runway's developer API (providers.md §5): ``POST /v1/text_to_video`` or
``/v1/image_to_video``, then ``GET /v1/tasks/{id}``; ``DELETE /v1/tasks/{id}`` cancels or deletes.

Model ids are ``runway/<model>`` (``runway/gen4.5``, ``runway/gen4_turbo``, ``runway/veo3.1``,
``runway/veo3.1_fast``). Sizes map one to one onto Runway's ratio strings (``1280x720`` →
``1280:720``); ``seconds`` becomes ``duration``; ``input_reference`` becomes ``promptImage`` (an
``https`` URL as given, else a ``data:`` URI) and picks the image-to-video endpoint. Everything
in ``extra_body`` goes into the JSON body under Runway's own names (``seed``, ``audio``,
``negativePrompt``, ``contentModeration``, ...); ``last_frame`` (a URL or data URI) adds the last
frame for the Veo models. The native video id is Runway's task id.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from .._exceptions import (
    APIStatusError,
    BadRequestError,
    UnsupportedFeatureError,
    error_for_status,
)
from .._models import ContentSource, Flow, Request, Response
from ..types.capabilities import ModelCapabilities, seconds_range
from ..types.params import CreateParams, ImageInput
from ..types.video import Video, VideoContentVariant, VideoDeleted, VideoError
from ._base import Provider, queued_video

API_VERSION = "2024-11-06"  # §5: X-Runway-Version is required; the SDK's default
MAX_PROMPT_UTF16 = 1000  # §5: promptText is "≤1000 UTF-16" code units
MAX_DATA_URI_BYTES = 5 * 1024 * 1024  # §5: a data: promptImage may be up to 5 MB

_GEN4_SIZES = ("1280x720", "720x1280", "1104x832", "832x1104", "960x960", "1584x672")
_VEO_SIZES = ("1280x720", "720x1280", "1920x1080", "1080x1920")
# §5: gen4.5 text-to-video only takes the two 720p ratios; the others need a prompt image.
_TEXT_ONLY_SIZES = {"gen4.5": ("1280x720", "720x1280")}
# §5: only the Veo models take a last frame (image positions first|last).
_LAST_FRAME_MODELS = frozenset({"veo3.1", "veo3.1_fast"})
# The OpenAI-shaped parameters own these body fields; extra_body may not set them behind them.
_OWNED = {
    "model": "model",
    "promptText": "prompt",
    "ratio": "size",
    "duration": "seconds",
    "promptImage": "input_reference",
}

# §5: no idempotency key and no list endpoint; delete cancels or deletes the task.
GEN4_5 = ModelCapabilities(
    seconds=seconds_range(2, 10),
    sizes=_GEN4_SIZES,
    max_prompt_chars=MAX_PROMPT_UTF16,
)
# §5 lists no duration range for gen4_turbo (the SDK field is a bare int); 2–10 s is what
# third-party catalogues of the API list — UNVERIFIED, same range as gen4.5.
GEN4_TURBO = GEN4_5
VEO3_1 = ModelCapabilities(
    seconds=("4", "6", "8"),
    sizes=_VEO_SIZES,
    max_prompt_chars=MAX_PROMPT_UTF16,
)

# §1.1: PENDING/THROTTLED → queued, RUNNING → in_progress, SUCCEEDED → completed,
# FAILED/CANCELLED → failed.
_STATUS = {
    "PENDING": "queued",
    "THROTTLED": "queued",
    "RUNNING": "in_progress",
    "SUCCEEDED": "completed",
    "FAILED": "failed",
    "CANCELLED": "failed",
}


class RunwayProvider(Provider):
    """Runway: bearer key plus ``X-Runway-Version``; create, poll, cancel/delete. No list or
    remix (§5), so ``list`` is the base class's 400."""

    name: ClassVar[str] = "runway"
    label: ClassVar[str] = "Runway"
    # A signed CDN link past its time may also answer 401 (its JWT refused).
    expired_link_statuses: ClassVar[frozenset[int]] = frozenset({401, 403, 404, 410})
    link_lifetime: ClassVar[str] = "Runway output links last 24–48 hours (providers.md §5)."
    env_api_key: ClassVar[tuple[str, ...]] = ("RUNWAYML_API_SECRET", "RUNWAY_API_KEY")
    env_api_base: ClassVar[tuple[str, ...]] = ("RUNWAYML_BASE_URL",)
    default_api_base = "https://api.dev.runwayml.com"
    poll_interval = 5.0  # §5: "don't expect updates more often than every 5 s"
    models: ClassVar[dict[str, ModelCapabilities]] = {
        "gen4.5": GEN4_5,
        "gen4_turbo": GEN4_TURBO,
        "veo3.1": VEO3_1,
        "veo3.1_fast": VEO3_1,
    }
    default_capabilities: ClassVar[ModelCapabilities | None] = None
    # ``extra_body`` joins the top level of the create body (build_create). The fields the
    # request's own parameters set (§5: ``model``, ``promptText``, ``ratio``, ``duration``,
    # ``promptImage``) and ``outputFormat``, whose ProRes/HDR formats add credit surcharges
    # (§5) the price table does not know. ``audio`` stays allowed: it picks the Veo models'
    # audio or silent price through :meth:`audio`.
    reserved_fields: ClassVar[frozenset[str]] = frozenset({*_OWNED, "outputFormat"})
    fixed_headers: ClassVar[Mapping[str, str]] = {"X-Runway-Version": API_VERSION}

    # -- request building --------------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.require_api_key()}"}

    def url(self, *parts: str) -> str:
        # The base is the host (as RUNWAYML_BASE_URL is for Runway's SDK); tolerate a "/v1".
        return "/".join((self.api_base.removesuffix("/v1"), "v1", *parts))

    def build_create(self, params: CreateParams) -> Request:
        """The create request, or a 400 naming the parameter Runway would refuse."""
        model, ref, extra = params.model, params.input_reference, dict(params.extra_body)
        if len(params.prompt.encode("utf-16-le")) // 2 > MAX_PROMPT_UTF16:
            raise BadRequestError(
                f"'prompt' is longer than Runway's {MAX_PROMPT_UTF16} UTF-16 code units.",
                param="prompt",
                code="string_above_max_length",
            )
        for key, param in _OWNED.items():
            if key in extra:
                raise BadRequestError(
                    f"Set '{param}' instead of extra_body['{key}'].",
                    param=key,
                    code="invalid_value",
                )
        if ref is None and model == "gen4_turbo":
            raise UnsupportedFeatureError(
                "runway/gen4_turbo is image-to-video only: pass input_reference.",
                param="input_reference",
            )
        text_sizes = _TEXT_ONLY_SIZES.get(model)
        if ref is None and text_sizes is not None and params.size not in text_sizes:
            raise UnsupportedFeatureError(
                f"runway/{model} without input_reference supports sizes "
                f"{', '.join(text_sizes)}; '{params.size}' needs an input image.",
                param="size",
            )
        body: dict[str, Any] = {
            "model": model,
            "promptText": params.prompt,
            "ratio": params.size.replace("x", ":"),
            "duration": int(params.seconds),
        }
        last_frame = extra.pop("last_frame", None)
        if ref is not None:
            first = _image_uri(ref, param="input_reference")
            if last_frame is not None:
                body["promptImage"] = [
                    {"uri": first, "position": "first"},
                    {"uri": self._last_frame(model, last_frame), "position": "last"},
                ]
            else:
                body["promptImage"] = first
        elif last_frame is not None:
            raise UnsupportedFeatureError(
                "Runway takes a last frame only together with input_reference (the first frame).",
                param="last_frame",
            )
        body.update(extra)
        path = "image_to_video" if ref is not None else "text_to_video"
        return Request("POST", self.url(path), self.headers(), json=body, creates_job=True)

    def _last_frame(self, model: str, value: Any) -> str:
        if model not in _LAST_FRAME_MODELS:
            raise UnsupportedFeatureError(
                f"runway/{model} does not take a last frame.", param="last_frame"
            )
        if not isinstance(value, str) or not value.startswith(("https://", "data:")):
            raise BadRequestError(
                "extra_body['last_frame'] must be an https URL or a data: URI.",
                param="last_frame",
                code="invalid_value",
            )
        return _image_uri(ImageInput(url=value), param="last_frame")

    def audio(self, extra_body: Mapping[str, Any]) -> bool | None:
        # Veo on Runway is priced with and without sound (§5); ``audio`` picks which.
        value = extra_body.get("audio")
        return value if isinstance(value, bool) else None

    # -- flows -------------------------------------------------------------------------------

    def create(self, params: CreateParams) -> Flow[Video]:
        request = self.build_create(params)
        response = yield request
        body = response.json() or {}
        return queued_video(body.get("id"), params, response, provider="Runway")

    def retrieve(self, video_id: str, *, model: str) -> Flow[Video]:
        response = yield Request("GET", self.url("tasks", video_id), self.headers())
        return self.parse_task(
            response.json(), video_id=video_id, model=model, now=response.received_at
        )

    def content(
        self, video_id: str, *, model: str, variant: VideoContentVariant
    ) -> Flow[ContentSource]:
        # §5: output URLs expire within 24–48 h and fetching the task again gives fresh ones,
        # so every download starts from the task. Runway makes no thumbnail or spritesheet.
        response = yield Request("GET", self.url("tasks", video_id), self.headers())
        task = response.json() or {}
        status = task.get("status")
        output = task.get("output") or []
        if status != "SUCCEEDED" or not output:
            raise BadRequestError(
                f"Runway task {video_id} is {status}; only a SUCCEEDED task has content.",
                param="video_id",
                code="video_not_ready",
            )
        # A signed CDN link: sent without our Runway key.
        request = Request("GET", str(output[0]), self.public_headers(), download=True)
        if variant == "video":
            return ContentSource(request, content_type="video/mp4")
        return ContentSource(request, derive=variant)

    def delete(self, video_id: str, *, model: str) -> Flow[VideoDeleted]:
        # §5: cancels a PENDING/THROTTLED/RUNNING task, deletes a finished one.
        yield Request("DELETE", self.url("tasks", video_id), self.headers())
        return VideoDeleted(id=video_id, deleted=True)

    # -- parsing -----------------------------------------------------------------------------

    def parse_task(self, task: Any, *, video_id: str, model: str, now: float) -> Video:
        """A Video from ``GET /v1/tasks/{id}`` (§5 task union); ``now`` (the response's
        ``received_at``) stands in for a missing ``createdAt``."""
        if not isinstance(task, dict):
            raise ValueError(f"expected a Runway task object, got {type(task).__name__}")
        raw = str(task.get("status", ""))
        status = _STATUS.get(raw, "in_progress")
        data: dict[str, Any] = {
            "id": str(task.get("id") or video_id),
            "model": model,
            "status": status,
            "created_at": _epoch(task.get("createdAt"), now),
            "size": "",
            "seconds": "",
        }
        if raw not in _STATUS:
            data["upstream_status"] = raw
        if status == "completed":
            data["progress"] = 100
        elif raw == "RUNNING":
            data["progress"] = min(99, max(0, int(float(task.get("progress") or 0) * 100)))
        if raw == "FAILED":
            data["error"] = _failure(task)
        elif raw == "CANCELLED":
            data["error"] = VideoError(code="cancelled", message="The Runway task was cancelled.")
        cost = task.get("cost") or task.get("estimatedCost")
        if isinstance(cost, dict) and isinstance(cost.get("credits"), int | float):
            # §5: $0.01 per credit. Runway's own figure (its estimate while queued, the charge
            # once finished), kept next to the price table's.
            data["upstream_cost_usd"] = round(float(cost["credits"]) * 0.01, 4)
        return Video.model_validate(data)

    def parse_error(self, response: Response) -> APIStatusError:
        """Runway's ``{"error": "...", "issues": [...]}`` (§5). (An expired CDN link is the
        engine's one ``download_link_expired``.)"""
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        message = f"Runway returned HTTP {response.status_code}."
        param = None
        if isinstance(parsed, dict):
            raw = parsed.get("error")
            if isinstance(raw, dict):
                raw = raw.get("message")
            message = str(raw or parsed.get("message") or message)
            issues = parsed.get("issues")
            if isinstance(issues, list) and issues and isinstance(issues[0], dict):
                path = issues[0].get("path") or []
                field = str(path[0]) if isinstance(path, list) and path else None
                # Runway's 400 ``issues`` name body fields: report the caller's parameter.
                param = _OWNED.get(field or "", field)
                if issues[0].get("message"):
                    message = f"{message}: {issues[0]['message']}"
        elif response.content:
            message = response.summary()
        cls = error_for_status(response.status_code)
        return cls(
            message,
            status_code=response.status_code,
            param=param,
            body=parsed,
            headers=dict(response.headers),
            request_id=response.headers.get("x-request-id"),
        )


def _image_uri(ref: ImageInput, *, param: str) -> str:
    """``promptImage``: an https URL as given, bytes as a data URI of at most 5 MB (§5)."""
    if ref.url is not None and ref.url.startswith("https://"):
        return ref.url
    if ref.url is not None and not ref.url.startswith("data:"):
        raise BadRequestError(
            "Runway fetches image URLs over HTTPS only.", param=param, code="invalid_image_url"
        )
    uri = ref.url or f"data:{ref.content_type};base64,{base64.b64encode(ref.data or b'').decode()}"
    if len(uri) > MAX_DATA_URI_BYTES:
        raise BadRequestError(
            f"The image is too large for Runway: as a data URI it must be at most "
            f"{MAX_DATA_URI_BYTES} bytes; pass an https URL instead.",
            param=param,
            code="image_too_large",
        )
    return uri


def _failure(task: dict[str, Any]) -> VideoError:
    """§5 / task-failures doc: ``SAFETY.*`` and ``INPUT_PREPROCESSING.SAFETY.*`` are content
    moderation; any other ``failureCode`` is kept as the error code."""
    code = str(task.get("failureCode") or "")
    message = str(task.get("failure") or "Runway reported the task as failed.")
    if code.startswith("SAFETY.") or ".SAFETY." in code:
        return VideoError(code="moderation_blocked", message=f"{message} ({code})")
    return VideoError(code=code or "generation_failed", message=message)


def _epoch(value: Any, now: float) -> int:
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
        except ValueError:
            pass
    return int(now)
