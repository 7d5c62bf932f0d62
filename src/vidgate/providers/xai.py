"""xAI Grok Imagine video (providers.md §11): ``POST /v1/videos/generations`` →
``{"request_id"}``, then ``GET /v1/videos/{request_id}`` until ``done``.

Model ids are ``xai/<model>`` (``xai/grok-imagine-video``, ``xai/grok-imagine-video-1.5``,
``xai/grok-imagine-video-1.5-lite``). A size names both of xAI's knobs: its aspect ratio and its
short side (``1280x720`` → ``aspect_ratio: "16:9"``, ``resolution: "720p"``; ``854x480`` → 16:9
at 480p, ``1440x1080`` → 4:3 at 1080p; the table is ``SIZES``). ``seconds`` becomes
``duration``; ``input_reference`` becomes ``image: {"url": <https URL or data URI>}``. Other
keys in ``extra_body`` go into the body as given (``reference_images``, ``user``, ...). The
native video id is xAI's ``request_id``.

xAI has no cancel, delete or list endpoint (§11): ``delete`` sends nothing and reports success
(the gateway then removes its own record and files), and ``list`` is the base class's 400.
"""

from __future__ import annotations

import base64
import re
from typing import Any, ClassVar

from .._exceptions import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    UnsupportedFeatureError,
    error_for_status,
)
from .._models import ContentSource, Flow, Request, Response
from ..types.capabilities import ModelCapabilities, seconds_range
from ..types.params import CreateParams, ImageInput
from ..types.video import Video, VideoContentVariant, VideoDeleted, VideoError
from ._base import Provider, queued_video

# §11: aspect ratios 1:1, 16:9, 9:16, 4:3, 3:4, 3:2, 2:3 at 480p, 720p or 1080p. The short side
# is the tier; the long side follows the ratio (16:9 at 480p is 854x480, as the Vercel xAI
# adapter maps it [S7]).
_RATIOS: dict[str, tuple[int, int]] = {
    "16:9": (16, 9),
    "9:16": (9, 16),
    "1:1": (1, 1),
    "4:3": (4, 3),
    "3:4": (3, 4),
    "3:2": (3, 2),
    "2:3": (2, 3),
}
_LONG_SIDE = {("16:9", 480): 854, ("9:16", 480): 854}


def _size(ratio: str, short: int) -> str:
    w, h = _RATIOS[ratio]
    long = _LONG_SIDE.get((ratio, short)) or short * max(w, h) // min(w, h)
    return f"{long}x{short}" if w >= h else f"{short}x{long}"


SIZES: dict[str, tuple[str, str]] = {
    _size(ratio, short): (ratio, f"{short}p") for short in (480, 720, 1080) for ratio in _RATIOS
}
_UP_TO_720P = tuple(s for s, (_, res) in SIZES.items() if res != "1080p")

# §11: duration 1–15 s; 1080p only on the 1.5 models (the price table's 1080p tier for 1.5-lite
# says it has it too); no seed, no negative prompt; no idempotency key, no list.
GROK_IMAGINE_VIDEO = ModelCapabilities(seconds=seconds_range(1, 15), sizes=_UP_TO_720P)
GROK_IMAGINE_VIDEO_1_5 = ModelCapabilities(seconds=seconds_range(1, 15), sizes=tuple(SIZES))

# The OpenAI-shaped parameters own these body fields; extra_body may not set them behind them.
_OWNED = {
    "model": "model",
    "prompt": "prompt",
    "duration": "seconds",
    "aspect_ratio": "size",
    "resolution": "size",
    "image": "input_reference",
}
_API_KEY = re.compile(r"api[\s_-]?key", re.IGNORECASE)


class XAIProvider(Provider):
    """xAI: bearer key; create and poll. Moderation refusals arrive as ``done`` with
    ``video.respect_moderation == false`` (§1.1)."""

    name: ClassVar[str] = "xai"
    label: ClassVar[str] = "xAI"
    # A temporary URL past its time may also answer 401.
    expired_link_statuses: ClassVar[frozenset[int]] = frozenset({401, 403, 404, 410})
    link_lifetime: ClassVar[str] = "xAI video URLs are temporary (providers.md §11)."
    env_api_key: ClassVar[tuple[str, ...]] = ("XAI_API_KEY",)
    env_api_base: ClassVar[tuple[str, ...]] = ("XAI_BASE_URL", "XAI_API_BASE")
    default_api_base = "https://api.x.ai/v1"
    poll_interval = 5.0  # the interval the Vercel adapter polls at [S7]
    models: ClassVar[dict[str, ModelCapabilities]] = {
        "grok-imagine-video": GROK_IMAGINE_VIDEO,
        "grok-imagine-video-1.5": GROK_IMAGINE_VIDEO_1_5,
        "grok-imagine-video-1.5-lite": GROK_IMAGINE_VIDEO_1_5,
    }
    default_capabilities: ClassVar[ModelCapabilities | None] = None
    # ``extra_body`` joins the top level of the create body (build_create). The fields the
    # request's own parameters set (§11: ``model``, ``prompt``, ``duration``, ``aspect_ratio``,
    # ``resolution``, ``image``) and ``video``, a source video whose length the output may
    # follow (§11 lists it in the create body; its effect on duration is UNVERIFIED).
    # ``reference_images`` stays allowed: input images are billed apart from the per-second
    # price and the table leaves them out for every image (xai.json); ``generate_audio``
    # (REST name UNVERIFIED) has no separate price in §11.
    reserved_fields: ClassVar[frozenset[str]] = frozenset({*_OWNED, "video"})

    # -- request building --------------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.require_api_key()}"}

    def url(self, *parts: str) -> str:
        return "/".join((self.api_base, "videos", *parts))

    def build_create(self, params: CreateParams) -> Request:
        """The create request, or a 400 naming the parameter xAI would refuse."""
        extra = dict(params.extra_body)
        for key, param in _OWNED.items():
            if key in extra:
                raise BadRequestError(
                    f"Set '{param}' instead of extra_body['{key}'].",
                    param=key,
                    code="invalid_value",
                )
        aspect_ratio, resolution = SIZES[params.size]
        if extra.get("reference_images") and resolution == "1080p":
            # §11: reference-to-video is capped at 720p.
            raise UnsupportedFeatureError(
                "xAI reference-to-video (reference_images) goes up to 720p; pick a 480p or "
                "720p size.",
                param="size",
            )
        body: dict[str, Any] = {
            "model": params.model,
            "prompt": params.prompt,
            "duration": int(params.seconds),
            "aspect_ratio": aspect_ratio,
            "resolution": resolution,
        }
        if params.input_reference is not None:
            body["image"] = {"url": _image_url(params.input_reference)}
        body.update(extra)
        return Request("POST", self.url("generations"), self.headers(), json=body, creates_job=True)

    # -- flows -------------------------------------------------------------------------------

    def create(self, params: CreateParams) -> Flow[Video]:
        request = self.build_create(params)
        response = yield request
        body = response.json() or {}
        return queued_video(body.get("request_id"), params, response, provider="xAI")

    def retrieve(self, video_id: str, *, model: str) -> Flow[Video]:
        response = yield Request("GET", self.url(video_id), self.headers())
        return self.parse_status(
            response.json(), video_id=video_id, model=model, now=response.received_at
        )

    def content(
        self, video_id: str, *, model: str, variant: VideoContentVariant
    ) -> Flow[ContentSource]:
        # §11: the finished video is a temporary URL in the status JSON; xAI makes no
        # thumbnail or spritesheet, so those are made locally from the video.
        response = yield Request("GET", self.url(video_id), self.headers())
        body = response.json()
        video = self.parse_status(body, video_id=video_id, model=model, now=response.received_at)
        url = _video_of(body).get("url")
        if video.status != "completed" or not url:
            raise BadRequestError(
                f"xAI request {video_id} is {video.status}; only a completed video has content.",
                param="video_id",
                code="video_not_ready",
            )
        # No xAI key on the CDN.
        request = Request("GET", str(url), self.public_headers(), download=True)
        if variant == "video":
            return ContentSource(request, content_type="video/mp4")
        return ContentSource(request, derive=variant)

    def delete(self, video_id: str, *, model: str) -> Flow[VideoDeleted]:
        # §11 has no cancel or delete: nothing to send; the gateway deletes its own copy.
        return VideoDeleted(id=video_id, deleted=True)
        yield  # pragma: no cover - a flow that sends no request

    # -- parsing -----------------------------------------------------------------------------

    def parse_status(self, body: Any, *, video_id: str, model: str, now: float) -> Video:
        """A Video from ``GET /v1/videos/{request_id}`` (§11, status mapping §1.1). xAI's
        status has no creation time: ``created_at`` is ``now``, the response's ``received_at``."""
        if not isinstance(body, dict):
            raise ValueError(f"expected an xAI video status object, got {type(body).__name__}")
        video = _video_of(body)
        raw = body.get("status")
        if raw is None and video.get("url"):
            raw = "done"  # the Vercel adapter [S7] treats a bare result as done
        raw = str(raw or "pending")
        # §11 says progress comes with pending; its scale is UNVERIFIED: read as a percentage.
        progress = _percent(body.get("progress"))
        data: dict[str, Any] = {
            "id": video_id,
            "model": model,
            "created_at": int(now),
            "size": "",
            "seconds": "",
        }
        if raw == "done" and video.get("respect_moderation") is False:
            data["status"] = "failed"
            data["error"] = VideoError(
                code="moderation_blocked",
                message="xAI blocked the generated video under its content policy "
                "(respect_moderation is false).",
            )
        elif raw == "done" and video.get("url"):
            data.update(status="completed", progress=100)
        elif raw == "done":
            data["status"] = "failed"
            data["error"] = VideoError(
                code="no_output", message="xAI reported the video done but returned no URL."
            )
        elif raw in ("failed", "expired"):
            data["status"] = "failed"
            data["error"] = _failure(raw, body.get("error"))
        else:
            # §1.1: pending is queued until xAI reports progress, then in_progress. Any other
            # status is not in §11: reported as in progress, the raw value kept alongside.
            queued = raw == "pending" and progress == 0
            data["status"] = "queued" if queued else "in_progress"
            data["progress"] = min(progress, 99)
            if raw != "pending":
                data["upstream_status"] = raw
        usage = body.get("usage")
        ticks = usage.get("cost_in_usd_ticks") if isinstance(usage, dict) else None
        if isinstance(ticks, int | float):
            # §11: 1 USD = 10^10 ticks (third-party); what xAI charged, next to our table's.
            data["upstream_cost_usd"] = round(ticks / 1e10, 4)
        return Video.model_validate(data)

    def parse_error(self, response: Response) -> APIStatusError:
        """xAI's ``{"error": {...}}`` or ``{"code", "error"}`` bodies (§11), a wrong key (which
        xAI answers with 400, providers.md addenda). (An expired download link is the
        engine's one ``download_link_expired``.)"""
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        message = f"xAI returned HTTP {response.status_code}."
        param = code = kind = None
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            err = parsed["error"]
            message = str(err.get("message") or message)
            param, code, kind = err.get("param"), err.get("code"), err.get("type")
        elif isinstance(parsed, dict):
            message = str(parsed.get("error") or parsed.get("message") or message)
            code = parsed.get("code")
        elif response.content:
            message = response.summary()
        status = response.status_code
        cls = error_for_status(status)
        if status in (400, 401) and _API_KEY.search(message):
            cls, status = AuthenticationError, 401
        return cls(
            message,
            status_code=status,
            type=kind if isinstance(kind, str) else None,
            param=param if isinstance(param, str) else None,
            code=str(code) if code is not None else None,
            body=parsed,
            headers=dict(response.headers),
            request_id=response.headers.get("x-request-id"),
        )


def _image_url(ref: ImageInput) -> str:
    """§11: ``image.url`` takes an https URL or a data URI."""
    if ref.url is not None:
        if not ref.url.startswith(("https://", "data:")):
            raise BadRequestError(
                "xAI takes image URLs over HTTPS only.",
                param="input_reference",
                code="invalid_image_url",
            )
        return ref.url
    return f"data:{ref.content_type};base64,{base64.b64encode(ref.data or b'').decode()}"


def _video_of(body: Any) -> dict[str, Any]:
    video = body.get("video") if isinstance(body, dict) else None
    return video if isinstance(video, dict) else {}


def _percent(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return max(0, min(100, int(value)))


def _failure(status: str, error: Any) -> VideoError:
    if status == "expired":
        return VideoError(code="expired", message="The xAI request expired before it finished.")
    if isinstance(error, dict):
        return VideoError(
            code=str(error.get("code") or "generation_failed"),
            message=str(error.get("message") or "xAI reported the generation failed."),
        )
    return VideoError(
        code="generation_failed", message=str(error or "xAI reported the generation failed.")
    )
