"""Any server speaking OpenAI's Videos API (``spec/openai-videos-api.md``).

That includes vidgate's own gateway and the many gateways that kept the ``/v1/videos`` shape
after OpenAI shut its API down (providers.md §0.1).
"""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar

from .._models import ContentSource, Flow, Order, Request
from ..types.capabilities import HD_SIZES, OPENAI_SIZES, ModelCapabilities
from ..types.params import CreateParams, ImageInput
from ..types.video import CONTENT_TYPES, Video, VideoContentVariant, VideoDeleted, VideoList
from ._base import Provider

# Spec §8.1: the guide and changelog (Mar 2026) add 16 and 20 s for both models, 1080p for pro.
_SORA_SECONDS = ("4", "8", "12", "16", "20")
SORA_2 = ModelCapabilities(
    seconds=_SORA_SECONDS, sizes=OPENAI_SIZES[:2], remix=True, idempotency=False
)
SORA_2_PRO = ModelCapabilities(
    seconds=_SORA_SECONDS, sizes=OPENAI_SIZES + HD_SIZES, remix=True, idempotency=False
)

# Status values an OpenAI-shaped server may send; Azure samples also check ``cancelled``
# (spec §8.7), which we report as failed.
_STATUS = {
    "queued": "queued",
    "in_progress": "in_progress",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "failed",
    "expired": "failed",
}


class OpenAIProvider(Provider):
    """OpenAI Videos API: bearer key, ``OpenAI-Organization``, JSON or multipart create."""

    name: ClassVar[str] = "openai"
    label: ClassVar[str] = "OpenAI"
    echoes_shape: ClassVar[bool] = True
    # The content URL is the API's own, not a link that expires: a 404 there names its reason
    # (an unknown or deleted video) in the OpenAI envelope, which parse_error keeps.
    expired_link_statuses: ClassVar[frozenset[int]] = frozenset()
    env_api_key: ClassVar[tuple[str, ...]] = ("OPENAI_API_KEY",)
    env_api_base: ClassVar[tuple[str, ...]] = ("OPENAI_BASE_URL", "OPENAI_API_BASE")
    default_api_base = "https://api.openai.com/v1"
    poll_interval = 1.0  # the openai SDK's default when the server gives no hint
    models: ClassVar[dict[str, ModelCapabilities]] = {
        "sora-2": SORA_2,
        "sora-2-2025-10-06": SORA_2,
        "sora-2-2025-12-08": SORA_2,
        "sora-2-pro": SORA_2_PRO,
        "sora-2-pro-2025-10-06": SORA_2_PRO,
    }
    # Other names are models of some other OpenAI-compatible server: it validates them.
    default_capabilities: ClassVar[ModelCapabilities | None] = ModelCapabilities(remix=True)
    # ``extra_body`` joins the top level of the create body (JSON or form fields), where OpenAI
    # reads prompt/model/seconds/size/input_reference (openai-videos-api.md §2.1; refused
    # everywhere already). Also refused: ``quality`` (§2.1, §8: outside the schema, meaning
    # UNVERIFIED) and the length, frame, shape and output-count fields of the other servers this
    # adapter speaks to (providers-2.md §2.11 Together, §2.12 OpenRouter, §3.1 vLLM-Omni, whose
    # ``num_frames``/``fps`` set the length and whose ``extra_params`` object reaches the same
    # pipeline arguments). ``generate_audio`` stays allowed: the price table has no audio split
    # for any OpenAI-shaped model, and other servers' models are unpriced.
    reserved_fields: ClassVar[frozenset[str]] = frozenset(
        {
            "quality",
            "duration",
            "resolution",
            "ratio",
            "aspect_ratio",
            "width",
            "height",
            "short_edge",
            "num_frames",
            "fps",
            "num_outputs_per_prompt",
            "extra_params",
        }
    )

    # -- request building --------------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        headers = super().auth_headers()  # Authorization: Bearer
        if self.credentials.organization:
            headers["OpenAI-Organization"] = self.credentials.organization
        return headers

    def videos_url(self, *parts: str) -> str:
        return "/".join((self.api_base, "videos", *parts))

    def build_create(self, params: CreateParams) -> Request:
        """JSON unless a file is attached; multipart then, as the ``openai`` SDK sends it."""
        headers = self.headers()
        if params.idempotency_key:
            headers["Idempotency-Key"] = params.idempotency_key
        fields: dict[str, Any] = {
            "prompt": params.prompt,
            "model": params.model,
            "seconds": params.seconds,
            "size": params.size,
            **params.extra_body,
        }
        ref = params.input_reference
        if ref is not None and ref.data is not None and not self.send_images_inline:
            data = {k: _form_value(v) for k, v in fields.items() if v is not None}
            files = {"input_reference": (ref.filename, ref.data, ref.content_type)}
            return Request(
                "POST", self.videos_url(), headers, data=data, files=files, creates_job=True
            )
        if ref is not None:
            fields["input_reference"] = {"image_url": ref.url or _data_url(ref.data, ref)}
        return Request("POST", self.videos_url(), headers, json=fields, creates_job=True)

    # A server that cannot parse multipart (the in-process ``local`` one) gets data URLs.
    send_images_inline: ClassVar[bool] = False

    # -- flows -------------------------------------------------------------------------------

    def create(self, params: CreateParams) -> Flow[Video]:
        response = yield self.build_create(params)
        return self.parse_video(response.json(), now=response.received_at)

    def retrieve(self, video_id: str, *, model: str) -> Flow[Video]:
        response = yield Request("GET", self.videos_url(video_id), self.headers())
        return self.parse_video(response.json(), now=response.received_at)

    def content(
        self, video_id: str, *, model: str, variant: VideoContentVariant
    ) -> Flow[ContentSource]:
        headers = {**self.headers(), "Accept": "application/binary"}
        params: dict[str, str] = {} if variant == "video" else {"variant": variant}
        request = Request(
            "GET", self.videos_url(video_id, "content"), headers, params=params, download=True
        )
        return ContentSource(request=request, content_type=CONTENT_TYPES[variant])
        yield  # pragma: no cover - a flow that needs no metadata request

    def delete(self, video_id: str, *, model: str) -> Flow[VideoDeleted]:
        response = yield Request("DELETE", self.videos_url(video_id), self.headers())
        return VideoDeleted.model_validate(response.json() or {"id": video_id})

    def list(self, *, limit: int | None, after: str | None, order: Order | None) -> Flow[VideoList]:
        params = {
            k: str(v) for k, v in {"limit": limit, "after": after, "order": order}.items() if v
        }
        if limit == 0:
            params["limit"] = "0"
        response = yield Request("GET", self.videos_url(), self.headers(), params=params)
        body = response.json() or {}
        data = [self.parse_video(item, now=response.received_at) for item in body.get("data", [])]
        return VideoList(
            data=data,
            first_id=body.get("first_id"),
            last_id=body.get("last_id"),
            has_more=bool(body.get("has_more", False)),
        )

    def remix(self, video_id: str, *, model: str, prompt: str) -> Flow[Video]:
        request = Request(
            "POST",
            self.videos_url(video_id, "remix"),
            self.headers(),
            json={"prompt": prompt},
            creates_job=True,
        )
        response = yield request
        return self.parse_video(response.json(), now=response.received_at)

    # -- parsing -----------------------------------------------------------------------------

    def parse_video(self, body: Any, *, now: float) -> Video:
        """A Video from an OpenAI-shaped body, tolerant of missing nullable fields and extras.
        ``now`` is when the response came (``Response.received_at``), the ``created_at`` of a
        body without one."""
        if not isinstance(body, dict):
            raise ValueError(f"expected a video object, got {type(body).__name__}")
        data = dict(body)
        raw_status = str(data.get("status", "queued"))
        data["status"] = _STATUS.get(raw_status, "in_progress")
        if raw_status not in _STATUS:
            data["upstream_status"] = raw_status
        if raw_status in ("cancelled", "expired") and not data.get("error"):
            data["error"] = {"code": raw_status, "message": f"The video job was {raw_status}."}
        data.setdefault("created_at", int(now))
        data.setdefault("model", "")
        data.setdefault("size", "")
        data["seconds"] = str(data.get("seconds", ""))
        data["progress"] = int(data.get("progress") or 0)
        return Video.model_validate(data)


def _form_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _data_url(data: bytes | None, ref: ImageInput) -> str:
    return f"data:{ref.content_type};base64,{base64.b64encode(data or b'').decode()}"
