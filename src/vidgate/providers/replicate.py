"""Replicate predictions (providers.md §8) for the video models vidgate declares.

Model ids are ``replicate/<owner>/<name>`` (official models: ``POST /v1/models/{owner}/{name}/
predictions``) or ``replicate/<owner>/<name>:<version>`` (a pinned version: ``POST
/v1/predictions {"version": ...}``), §8 Create. The body is ``{"input": {...}}`` with the
model's own field names, declared per model below. The native id is the prediction id.

``Prefer: wait`` is not sent: a video takes minutes, so holding the create open for up to 60 s
would only delay the id, and a read timeout there leaves a paid create that cannot be retried.

**Unknown model ids are refused** (400, ``param="model"``, naming the known models): inputs
are per model (§8), so for a model vidgate does not know it cannot tell which field takes the
duration, size or image, and passing ``seconds``/``size`` through unmapped would drop them.

**Delete** cancels a prediction still running (``POST /v1/predictions/{id}/cancel``) and
otherwise sends nothing: Replicate has no API delete (web only) and deletes API outputs after
an hour anyway (§8). **List** is Replicate's ``GET /v1/predictions`` (cursor pages, newest
first), keeping the predictions of the models declared here.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

from .._exceptions import APIStatusError, BadRequestError, NotFoundError, UnsupportedFeatureError
from .._models import ContentSource, Flow, Order, Request, Response
from ..types.capabilities import ModelCapabilities
from ..types.params import CreateParams
from ..types.video import (
    Video,
    VideoContentVariant,
    VideoDeleted,
    VideoError,
    VideoList,
    VideoStatus,
)
from ._base import Provider, openai_style_error

API_BASE = "https://api.replicate.com/v1"
_PREDICTION_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_MODEL = re.compile(r"^[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*(:[0-9a-f]{8,64})?$")
# §1.1: starting → queued, processing → in_progress, succeeded → completed, the rest failed.
_STATUS: dict[str, VideoStatus] = {
    "starting": "queued",
    "processing": "in_progress",
    "succeeded": "completed",
}
_ENDED = {
    "canceled": ("cancelled", "The prediction was canceled."),
    "aborted": ("aborted", "The prediction's deadline passed before it started (not charged)."),
}
# Replicate's moderation refusals read "... flagged as sensitive ... (E005)" (UNVERIFIED
# wording; not in §8), so they are recognised by these markers.
_MODERATION = re.compile(r"E005|flagged as sensitive|content policy|NSFW", re.IGNORECASE)
# cog/tqdm progress lines in the logs: "  45%|████▌     | 9/20".
_PROGRESS = re.compile(r"(\d{1,3})%\|")
_LIST_PAGES = 5  # pages read looking for ``after`` before giving up


@dataclass(frozen=True)
class ReplicateModel:
    """One Replicate video model: accepted values and the input field each maps to.

    ``sizes`` maps an OpenAI size to the input fields it sets; ``text_sizes`` (when set) are
    the sizes possible without an image (the others need an image of that shape).
    ``image_field`` takes ``input_reference`` (a URL or data URI, §8); ``seconds_by_size``
    narrows the durations at some sizes.
    """

    seconds: tuple[str, ...]
    sizes: Mapping[str, Mapping[str, str]]
    image_field: str
    image_required: bool = False
    text_sizes: tuple[str, ...] | None = None
    seconds_by_size: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def capabilities(self) -> ModelCapabilities:
        return ModelCapabilities(
            seconds=self.seconds,
            sizes=tuple(self.sizes),
            image_input=True,
            remix=False,
            idempotency=False,
            default_seconds=self.seconds[0],
            default_size=next(iter(self.sizes)),
        )


def _shapes(tiers: Mapping[str, tuple[str, ...]], key: str) -> dict[str, dict[str, str]]:
    return {size: {key: tier} for tier, sizes in tiers.items() for size in sizes}


# Hailuo-02 (replicate.com/minimax/hailuo-02 API schema): resolution 512p|768p|1080p,
# duration 6|10 ("10 seconds is only available for 768p"), first_frame_image sets the aspect.
_HAILUO = _shapes(
    {"768p": ("1366x768", "768x1366"), "512p": ("912x512", "512x912"),
     "1080p": ("1920x1080", "1080x1920")},
    "resolution",
)  # fmt: skip
# Kling v2.1 (replicate.com/kwaivgi/kling-v2.1): image-to-video only, mode standard = 720p,
# pro = 1080p; the video takes the start image's aspect ratio.
_KLING_21 = _shapes(
    {"standard": ("1280x720", "720x1280", "720x720"),
     "pro": ("1920x1080", "1080x1920", "1080x1080")},
    "mode",
)  # fmt: skip
# Kling v2.0 (replicate.com/kwaivgi/kling-v2.0 API schema): aspect_ratio 16:9|9:16|1:1
# ("ignored if start_image is provided"); 720p as Kling 2.0 renders (UNVERIFIED).
_KLING_20 = {
    "1280x720": {"aspect_ratio": "16:9"},
    "720x1280": {"aspect_ratio": "9:16"},
    "720x720": {"aspect_ratio": "1:1"},
}
# Wan 2.5 i2v: resolution 480p|720p|1080p, image required; frame sizes as Wan's (§10).
_WAN = _shapes(
    {"480p": ("832x480", "480x832", "624x624"), "720p": ("1280x720", "720x1280", "960x960"),
     "1080p": ("1920x1080", "1080x1920", "1440x1440")},
    "resolution",
)  # fmt: skip

REPLICATE_MODELS: dict[str, ReplicateModel] = {
    "minimax/hailuo-02": ReplicateModel(
        ("6", "10"),
        _HAILUO,
        "first_frame_image",
        text_sizes=("1366x768", "912x512", "1920x1080"),
        seconds_by_size={s: ("6",) for s, f in _HAILUO.items() if f["resolution"] != "768p"},
    ),
    "kwaivgi/kling-v2.1": ReplicateModel(("5", "10"), _KLING_21, "start_image", True),
    "kwaivgi/kling-v2.0": ReplicateModel(("5", "10"), _KLING_20, "start_image"),
    "wan-video/wan-2.5-i2v": ReplicateModel(("5", "10"), _WAN, "image", True),
}


class ReplicateProvider(Provider):
    """Replicate: ``Authorization: Bearer $REPLICATE_API_TOKEN``; ``REPLICATE_BASE_URL`` or
    ``api_base`` (with or without ``/v1``) moves the API."""

    name: ClassVar[str] = "replicate"
    label: ClassVar[str] = "Replicate"
    link_lifetime: ClassVar[str] = "Replicate deletes API outputs after 1 hour (providers.md §8)."
    env_api_key: ClassVar[tuple[str, ...]] = ("REPLICATE_API_TOKEN",)
    env_api_base: ClassVar[tuple[str, ...]] = ("REPLICATE_BASE_URL",)
    default_api_base = API_BASE
    poll_interval = 5.0
    models: ClassVar[dict[str, ModelCapabilities]] = {
        name: spec.capabilities for name, spec in REPLICATE_MODELS.items()
    }
    default_capabilities: ClassVar[ModelCapabilities | None] = None
    # ``extra_body`` joins the prediction's ``input`` (build_input; ``version`` and the rest of
    # the body are out of its reach). The inputs of the declared models that set length, shape
    # or the first frame (the model schemas cited at REPLICATE_MODELS above, providers.md §8:
    # ``duration``, Hailuo-02 and Wan ``resolution``, Kling 2.1 ``mode`` (720p or 1080p, priced
    # apart), Kling 2.0 ``aspect_ratio``, and the image fields). None takes an output count or
    # an audio switch.
    reserved_fields: ClassVar[frozenset[str]] = frozenset(
        {
            "duration",
            "resolution",
            "mode",
            "aspect_ratio",
            "first_frame_image",
            "start_image",
            "image",
        }
    )

    @property
    def api_base(self) -> str:
        base = (self.credentials.api_base or self.default_api_base).rstrip("/")
        return base if base.endswith("/v1") else f"{base}/v1"

    def capabilities(self, model: str) -> ModelCapabilities:
        # A pinned version (owner/name:version) accepts what its model does.
        return super().capabilities(model.partition(":")[0])

    # -- flows -------------------------------------------------------------------------------

    def create(self, params: CreateParams) -> Flow[Video]:
        name, _, version = params.model.partition(":")
        body: dict[str, Any] = {"input": build_input(params)}
        if version:
            url = f"{self.api_base}/predictions"
            body["version"] = version
        else:
            url = f"{self.api_base}/models/{name}/predictions"
        response = yield Request("POST", url, self.headers(), json=body, creates_job=True)
        video = parse_prediction(response.json(), params.model, now=response.received_at)
        return video.model_copy(update={"size": params.size, "seconds": params.seconds})

    def retrieve(self, video_id: str, *, model: str) -> Flow[Video]:
        response = yield Request("GET", self._prediction_url(video_id), self.headers())
        return parse_prediction(response.json(), model, now=response.received_at)

    def content(
        self, video_id: str, *, model: str, variant: VideoContentVariant
    ) -> Flow[ContentSource]:
        response = yield Request("GET", self._prediction_url(video_id), self.headers())
        prediction = response.json()
        url = _output_url(prediction.get("output") if isinstance(prediction, dict) else None)
        if url is None:
            raise NotFoundError(
                f"Replicate prediction {video_id} has no output video (yet).", code="no_output"
            )
        # §8: outputs are public replicate.delivery URLs; only a file served by the API
        # itself gets the token.
        on_api = url.startswith(self.api_base + "/")
        headers = self.headers() if on_api else self.public_headers()
        request = Request("GET", url, headers, download=True)
        if variant == "video":
            return ContentSource(request, content_type="video/mp4")
        return ContentSource(request, derive=variant)

    def delete(self, video_id: str, *, model: str) -> Flow[VideoDeleted]:
        url = self._prediction_url(video_id)
        response = yield Request("GET", url, self.headers())
        prediction = response.json()
        if isinstance(prediction, dict) and prediction.get("status") in ("starting", "processing"):
            yield Request("POST", f"{url}/cancel", self.headers())
        return VideoDeleted(id=video_id, deleted=True)

    def list(self, *, limit: int | None, after: str | None, order: Order | None) -> Flow[VideoList]:
        if order == "asc":
            raise UnsupportedFeatureError(
                "Replicate lists predictions newest first only; use order='desc'.",
                param="order",
            )
        want = 20 if limit is None else limit
        found: list[Video] = []
        seen_after = after is None
        params: dict[str, str] = {}
        cursor: str | None = None
        for _ in range(_LIST_PAGES):
            response = yield Request(
                "GET", f"{self.api_base}/predictions", self.headers(), params=params
            )
            page = response.json()
            page = page if isinstance(page, dict) else {}
            for item in page.get("results") or []:
                if not isinstance(item, dict):
                    continue
                if not seen_after:
                    seen_after = item.get("id") == after
                    continue
                if item.get("model") in REPLICATE_MODELS:
                    found.append(
                        parse_prediction(item, str(item["model"]), now=response.received_at)
                    )
            cursor = _cursor(page.get("next"))
            if cursor is None or len(found) > want:
                break
            params = {"cursor": cursor}
        return VideoList(data=found[:want], has_more=len(found) > want or cursor is not None)

    # -- errors ------------------------------------------------------------------------------

    def parse_error(self, response: Response) -> APIStatusError:
        """Replicate's RFC 7807 problems ``{type, title, status, detail}`` (§8). (An output
        deleted after its hour, §8 Fetch, is the engine's one ``download_link_expired``.)"""
        error = openai_style_error(response)
        body = error.body if isinstance(error.body, dict) else {}
        if not body.get("detail") and isinstance(body.get("title"), str):
            error.message = body["title"]
        fields = body.get("invalid_fields")
        if isinstance(fields, list) and fields and isinstance(fields[0], dict):
            error.param = str(fields[0].get("field") or "") or None
        return error

    # -- helpers -----------------------------------------------------------------------------

    def _prediction_url(self, video_id: str) -> str:
        if not _PREDICTION_ID.match(video_id):
            raise BadRequestError(
                f"Malformed Replicate prediction id '{video_id}'.",
                param="video_id",
                code="invalid_video_id",
            )
        return f"{self.api_base}/predictions/{video_id}"


def build_input(params: CreateParams) -> dict[str, Any]:
    """The model's ``input`` for a validated request; raises ``UnsupportedFeatureError`` for a
    combination the model cannot make, a missing required image, or an ``extra_body`` key
    that would override a value set from the request."""
    name = params.model.partition(":")[0]
    if not _MODEL.match(params.model):
        raise BadRequestError(
            f"Invalid Replicate model '{params.model}'.", param="model", code="invalid_value"
        )
    spec = REPLICATE_MODELS[name]
    allowed = spec.seconds_by_size.get(params.size)
    if allowed is not None and params.seconds not in allowed:
        raise UnsupportedFeatureError(
            f"replicate/{name} makes {params.size} videos of {', '.join(allowed)} s only.",
            param="seconds",
        )
    ref = params.input_reference
    if ref is None and spec.image_required:
        raise UnsupportedFeatureError(
            f"replicate/{name} animates an image: pass input_reference.",
            param="input_reference",
            code="missing_required_parameter",
        )
    if ref is None and spec.text_sizes is not None and params.size not in spec.text_sizes:
        raise UnsupportedFeatureError(
            f"replicate/{name} makes {params.size} only from an image of that shape; without "
            f"input_reference it makes {', '.join(spec.text_sizes)}.",
            param="size",
        )
    fields: dict[str, Any] = {"prompt": params.prompt, "duration": int(params.seconds)}
    fields.update(spec.sizes[params.size])
    if ref is not None:
        data = base64.b64encode(ref.data or b"").decode()
        fields[spec.image_field] = ref.url or f"data:{ref.content_type};base64,{data}"
    for key, value in params.extra_body.items():
        if key in fields:
            raise UnsupportedFeatureError(
                f"extra_body['{key}'] would override the value vidgate sets from the request's "
                "prompt, seconds, size or input_reference; set it through those instead.",
                param=f"extra_body.{key}",
                code="conflicting_parameter",
            )
        fields[key] = value
    return fields


def parse_prediction(prediction: Any, model: str, *, now: float) -> Video:
    """A Video from a Prediction ``{id, status, input, output, error, logs, created_at, ...}``;
    ``now`` (the response's ``received_at``) stands in for a missing ``created_at``."""
    if not isinstance(prediction, dict) or not prediction.get("id"):
        # A broken upstream, not the caller's mistake: the engine makes it a 502.
        raise ValueError(f"Replicate answered without a prediction: {str(prediction)[:200]}")
    raw = str(prediction.get("status", ""))
    status: VideoStatus = _STATUS.get(raw, "in_progress")
    if raw in ("failed", *_ENDED):
        status = "failed"
    given = prediction.get("input")
    inputs: dict[str, Any] = given if isinstance(given, dict) else {}
    error: VideoError | None = None
    if raw in _ENDED:
        error = VideoError(code=_ENDED[raw][0], message=_ENDED[raw][1])
    elif raw == "failed":
        message = str(prediction.get("error") or "The prediction failed.")
        code = "moderation_blocked" if _MODERATION.search(message) else "generation_failed"
        error = VideoError(code=code, message=message)
    elif raw == "succeeded" and _output_url(prediction.get("output")) is None:
        status, error = "failed", VideoError(code="no_output", message="No output video.")
    progress = {"queued": 0, "in_progress": 50}.get(status, 100)
    if status == "in_progress":
        found = _PROGRESS.findall(str(prediction.get("logs") or ""))
        progress = min(int(found[-1]), 99) if found else progress
    video = Video(
        id=str(prediction["id"]),
        model=model,
        status=status,
        progress=progress,
        created_at=_epoch(prediction.get("created_at")) or int(now),
        completed_at=_epoch(prediction.get("completed_at")),
        prompt=str(inputs.get("prompt") or ""),
        size="",
        seconds=str(inputs.get("duration") or ""),
        error=error,
    )
    if raw not in _STATUS and status == "in_progress":
        video = video.model_copy(update={"upstream_status": raw})
    return video


def _output_url(output: Any) -> str | None:
    if isinstance(output, list):
        output = output[0] if output else None
    return output if isinstance(output, str) and output else None


def _epoch(value: Any) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def _cursor(next_url: Any) -> str | None:
    if not isinstance(next_url, str) or not next_url:
        return None
    values = parse_qs(urlparse(next_url).query).get("cursor")
    return values[0] if values else None
