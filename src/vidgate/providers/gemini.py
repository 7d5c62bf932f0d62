"""Gemini Omni Flash through the Gemini API's Interactions API (providers.md §2.2): model ids
``gemini/gemini-omni-1.2-flash`` and ``gemini/gemini-omni-1.1-flash``.

Wire: ``POST {base}/interactions`` with ``background: true`` starts a job, ``GET
{base}/interactions/{id}`` polls it (``base`` = ``https://generativelanguage.googleapis.com/v1beta``,
key in ``x-goog-api-key`` from ``GEMINI_API_KEY`` / ``GOOGLE_API_KEY``). Status per §1.1. The
video is read from ``output_video`` (§2.2) or, as google-genai 3.6.1 shows the wire (Addenda),
from the last ``video`` block in ``steps[].content[]``; it is inline base64 (``data``) or a
Files-API ``uri`` downloaded with the API key (§1.2). Delivery defaults to ``uri``
(``extra_body={"delivery": "inline"}`` switches). Remix is a new interaction with
``previous_interaction_id`` (§2.2 "Remix/edit", §14). Delete cancels a running interaction,
then deletes it (§2.2 endpoints).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from .._exceptions import (
    APIStatusError,
    BadRequestError,
    UnsupportedFeatureError,
)
from .._models import ContentSource, Flow, Request, Response
from ..types.capabilities import ModelCapabilities, seconds_range
from ..types.params import CreateParams
from ..types.video import Video, VideoContentVariant, VideoDeleted, VideoError, VideoStatus
from . import _google_auth
from ._base import Provider

# §2.2: resolution 360p|720p|1080p|4k, aspect 16:9|9:16, in OpenAI WxH form.
_TIERS = {360: "360p", 720: "720p", 1080: "1080p", 2160: "4k"}
_SIZES = tuple(
    size
    for short in _TIERS
    for size in (f"{short * 16 // 9}x{short}", f"{short}x{short * 16 // 9}")
)


def _omni(low: int, high: int) -> ModelCapabilities:
    return ModelCapabilities(
        seconds=seconds_range(low, high),
        sizes=_SIZES,
        remix=True,
        idempotency=False,
        default_seconds="8",
        default_size="1280x720",
    )


# §2.2: durations 3–15 s (1.2), 3–10 s (1.1) (3p, UNVERIFIED).
OMNI_12 = _omni(3, 15)
OMNI_11 = _omni(3, 10)

# §1.1 Gemini Omni row; ``continuation_required`` is the 3.6.1 SDK's spelling of
# ``requires_continuation``. Anything unknown is taken as still running.
_STATUS: dict[str, VideoStatus] = {
    "queued": "queued",
    "in_progress": "in_progress",
    "requires_action": "in_progress",
    "idle": "in_progress",
    "requires_continuation": "in_progress",
    "continuation_required": "in_progress",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "failed",
    "incomplete": "failed",
    "budget_exceeded": "failed",
}
_PROGRESS = {"queued": 0, "in_progress": 50, "completed": 100, "failed": 100}
# UNVERIFIED (§2.2 documents no refusal payload): an error whose code or message names a
# safety/policy block is reported as a moderation refusal.
_MODERATION_WORDS = ("safety", "blocked", "prohibited", "policy", "responsible ai")
_GOOGLE_HOST = ".googleapis.com"


class GeminiProvider(Provider):
    """Gemini Omni Flash video generation (Interactions API, API key)."""

    name: ClassVar[str] = "gemini"
    label: ClassVar[str] = "Gemini"
    link_lifetime: ClassVar[str] = (
        "A video no longer in the Gemini Files API is gone: generated files are kept about "
        "2 days (providers.md §2.1)."
    )
    env_api_key: ClassVar[tuple[str, ...]] = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    env_api_base: ClassVar[tuple[str, ...]] = ("GEMINI_API_BASE",)
    default_api_base = "https://generativelanguage.googleapis.com/v1beta"
    poll_interval = 5.0
    models: ClassVar[dict[str, ModelCapabilities]] = {
        "gemini-omni-1.2-flash": OMNI_12,
        "gemini-omni-1.1-flash": OMNI_11,
    }
    default_capabilities: ClassVar[ModelCapabilities | None] = None
    # ``extra_body`` joins the top level of the §2.2 ``CreateModelInteraction`` body and objects
    # merge into objects (build_body), so the whole ``response_format`` (which carries
    # ``aspect_ratio``, ``resolution`` and ``duration``) and ``input`` (prompt and image) are
    # refused, as are those three names themselves, and ``responseFormat`` (Google's JSON
    # parsers take the lowerCamelCase spelling of a field too). ``generation_config`` stays
    # open (seed, temperature); §2.2 puts no length, shape or count in it. Omni has no audio
    # switch.
    reserved_fields: ClassVar[frozenset[str]] = frozenset(
        {
            "response_format",
            "responseFormat",
            "input",
            "duration",
            "resolution",
            "aspect_ratio",
            "video_config",
            "videoConfig",
        }
    )
    # Objects are merged into the body's own one level deep, so a reserved name inside
    # ``generation_config`` (``video_config`` carries the task) is refused as well.
    merged_objects: ClassVar[frozenset[str]] = frozenset({"generation_config", "generationConfig"})
    # Where Google calls back about the job: the gateway's operator decides, not a tenant.
    operator_fields: ClassVar[frozenset[str]] = frozenset({"webhook_config", "webhookConfig"})

    # -- requests ----------------------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.require_api_key()}

    def _url(self, *parts: str) -> str:
        return "/".join((self.api_base, "interactions", *parts))

    def build_body(self, params: CreateParams) -> dict[str, Any]:
        """The §2.2 ``CreateModelInteraction`` body; refuses what Omni cannot honour."""
        extra = dict(params.extra_body)
        for key in ("negative_prompt", "negativePrompt"):
            if key in extra:
                raise UnsupportedFeatureError(
                    "Gemini Omni has no negative prompt (§2.2); describe what to avoid in the "
                    "prompt instead.",
                    param="negative_prompt",
                )
        response_format = _response_format(params.size, params.seconds)
        delivery = extra.pop("delivery", "uri")
        if delivery not in ("inline", "uri"):
            raise UnsupportedFeatureError("'delivery' must be 'inline' or 'uri'.", param="delivery")
        response_format["delivery"] = delivery
        content: list[dict[str, Any]] = []
        ref = params.input_reference
        if ref is not None:
            block: dict[str, Any] = {"type": "image", "mime_type": ref.content_type}
            if ref.data is not None:
                block["data"] = base64.b64encode(ref.data).decode()
            else:
                block = {"type": "image", "uri": ref.url}
            content.append(block)
        content.append({"type": "text", "text": params.prompt})
        task = "image_to_video" if ref is not None else "text_to_video"
        generation_config: dict[str, Any] = {"video_config": {"task": task}}
        seed = extra.pop("seed", None)
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise UnsupportedFeatureError("'seed' must be a whole number.", param="seed")
            generation_config["seed"] = seed
        body: dict[str, Any] = {
            "model": params.model,
            "input": content,
            "response_format": response_format,
            "generation_config": generation_config,
            "background": True,
        }
        # Other provider options (store, webhook_config, …) pass through; objects merge.
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(body.get(key), dict):
                body[key] = {**body[key], **value}
            else:
                body[key] = value
        return body

    # -- flows -------------------------------------------------------------------------------

    def create(self, params: CreateParams) -> Flow[Video]:
        request = Request(
            "POST", self._url(), self.headers(), json=self.build_body(params), creates_job=True
        )
        response = yield request
        video = self.parse_interaction(
            response.json(), model=params.model, now=response.received_at
        )
        return video.model_copy(
            update={"prompt": params.prompt, "size": params.size, "seconds": params.seconds}
        )

    def retrieve(self, video_id: str, *, model: str) -> Flow[Video]:
        response = yield Request("GET", self._url(video_id), self.headers())
        return self.parse_interaction(response.json(), model=model, now=response.received_at)

    def content(
        self, video_id: str, *, model: str, variant: VideoContentVariant
    ) -> Flow[ContentSource]:
        response = yield Request("GET", self._url(video_id), self.headers())
        body = response.json()
        video = self.parse_interaction(body, model=model, now=response.received_at)
        _require_completed(video)
        derive = None if variant == "video" else variant
        block = _video_block(body) or {}
        mime = str(block.get("mime_type") or "video/mp4")
        if block.get("data"):
            return ContentSource(
                data=base64.b64decode(block["data"]), derive=derive, content_type=mime
            )
        return ContentSource(self._download(str(block["uri"])), derive=derive, content_type=mime)

    def delete(self, video_id: str, *, model: str) -> Flow[VideoDeleted]:
        response = yield Request("GET", self._url(video_id), self.headers())
        if not self.parse_interaction(response.json(), model=model, now=response.received_at).done:
            yield Request("POST", self._url(video_id, "cancel"), self.headers(), json={})
        yield Request("DELETE", self._url(video_id), self.headers())
        return VideoDeleted(id=video_id, deleted=True)

    def remix(self, video_id: str, *, model: str, prompt: str) -> Flow[Video]:
        """A new interaction continuing ``video_id`` (``previous_interaction_id``), with the
        source's output format when the source reports it."""
        response = yield Request("GET", self._url(video_id), self.headers())
        source = response.json()
        _require_completed(self.parse_interaction(source, model=model, now=response.received_at))
        body: dict[str, Any] = {
            "model": model or str(source.get("model") or ""),
            "input": [{"type": "text", "text": prompt}],
            "previous_interaction_id": video_id,
            "generation_config": {"video_config": {"task": "edit"}},
            "background": True,
        }
        if isinstance(source.get("response_format"), dict):
            body["response_format"] = source["response_format"]
        created = yield Request("POST", self._url(), self.headers(), json=body, creates_job=True)
        video = self.parse_interaction(created.json(), model=body["model"], now=created.received_at)
        size, seconds = _shape(body.get("response_format"))
        return video.model_copy(
            update={
                "prompt": prompt,
                "remixed_from_video_id": video_id,
                "size": video.size or size,
                "seconds": video.seconds or seconds,
            }
        )

    # -- parsing -----------------------------------------------------------------------------

    def parse_interaction(self, body: Any, *, model: str, now: float) -> Video:
        """A Video from an Interaction (§2.2), status per §1.1. Omni reports no progress:
        0 queued, 50 running, 100 done. ``now`` is when the response came (the engine's
        ``Response.received_at``), the creation time when the Interaction gives none."""
        if not isinstance(body, dict) or not body.get("id"):
            raise ValueError("expected an Interaction object with an id")
        raw = str(body.get("status") or "in_progress")
        status: VideoStatus = _STATUS.get(raw, "in_progress")
        error: VideoError | None = None
        if status == "failed":
            error = _failure(raw, body)
        elif status == "completed" and _video_block(body) is None:
            status = "failed"
            text = " ".join(_texts(body)).strip()
            error = VideoError(
                code="no_video",
                message=text or "The interaction completed without producing a video.",
            )
        size, seconds = _shape(body.get("response_format"))
        return Video(
            id=str(body["id"]),
            model=model or str(body.get("model") or ""),
            status=status,
            progress=_PROGRESS[status],
            created_at=_timestamp(body.get("created"), now),
            prompt=None,
            size=size,
            seconds=seconds,
            error=error,
        )

    # -- errors ------------------------------------------------------------------------------

    def parse_error(self, response: Response) -> APIStatusError:
        # Addenda: a missing key is a 403, a wrong one a 400 API_KEY_INVALID.
        reasons = _google_auth.error_reasons(response)
        text = response.text.lower()
        auth = response.status_code in (400, 401, 403) and (
            any(r.startswith("API_KEY") for r in reasons)
            or "api key" in text
            or "unregistered callers" in text
        )
        return _google_auth.google_error(response, auth=auth or response.status_code == 401)

    def _download(self, uri: str) -> Request:
        """The Files-API download for ``uri`` (``…/files/{id}`` →
        ``…/download/{version}/files/{id}:download?alt=media``, 3p per §2.2). The API key
        goes only to the configured API host or Google's own hosts."""
        parts = urlsplit(uri)
        api = urlsplit(self.api_base)
        url = uri
        segments = parts.path.strip("/").split("/")
        if ":download" not in parts.path and len(segments) >= 3 and segments[-2] == "files":
            url = f"{parts.scheme}://{parts.netloc}/download/{segments[-3]}/files/{segments[-1]}:download"
        trusted = parts.netloc == api.netloc or (parts.hostname or "").endswith(_GOOGLE_HOST)
        headers = self.headers() if trusted else self.public_headers()
        return Request(
            "GET", url, {**headers, "Accept": "*/*"}, params={"alt": "media"}, download=True
        )


def _response_format(size: str, seconds: str) -> dict[str, Any]:
    width, height = (int(v) for v in size.split("x"))
    return {
        "type": "video",
        "aspect_ratio": "16:9" if width > height else "9:16",
        "resolution": _TIERS[min(width, height)],
        "duration": seconds,  # §2.2: a string; exact format UNVERIFIED (§15.3), "8" as in §2.2
    }


def _shape(response_format: Any) -> tuple[str, str]:
    """(size, seconds) back from a ``response_format`` echoed in an Interaction, if any."""
    if not isinstance(response_format, dict):
        return "", ""
    tiers = {v: k for k, v in _TIERS.items()}
    short = tiers.get(str(response_format.get("resolution")))
    ratio = response_format.get("aspect_ratio")
    size = ""
    if short is not None and ratio in ("16:9", "9:16"):
        long = short * 16 // 9
        size = f"{long}x{short}" if ratio == "16:9" else f"{short}x{long}"
    duration = str(response_format.get("duration") or "").removesuffix("s")
    return size, duration if duration.isdigit() else ""


def _video_block(body: dict[str, Any]) -> dict[str, Any] | None:
    """``output_video`` (§2.2), else the last ``video`` content block of the steps (Addenda)."""
    output = body.get("output_video")
    if isinstance(output, dict) and (output.get("data") or output.get("uri")):
        return output
    for step in reversed(body.get("steps") or []):
        for block in reversed(step.get("content") or [] if isinstance(step, dict) else []):
            if (
                isinstance(block, dict)
                and block.get("type") == "video"
                and (block.get("data") or block.get("uri"))
            ):
                return block
    return None


def _texts(body: dict[str, Any]) -> list[str]:
    return [
        str(block.get("text"))
        for step in body.get("steps") or []
        if isinstance(step, dict) and step.get("type") == "model_output"
        for block in step.get("content") or []
        if isinstance(block, dict) and block.get("type") == "text"
    ]


def _failure(raw: str, body: dict[str, Any]) -> VideoError:
    errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
    first = errors[0] if errors else {}
    code_uri = str(first.get("code") or "")
    message = str(first.get("message") or f"The interaction ended {raw}.")
    if any(word in f"{code_uri} {message}".lower() for word in _MODERATION_WORDS):
        return VideoError(code="moderation_blocked", message=message)
    if raw != "failed":  # cancelled, incomplete, budget_exceeded
        return VideoError(code=raw, message=message)
    return VideoError(code=code_uri.rstrip("/").rsplit("/", 1)[-1] or "failed", message=message)


def _require_completed(video: Video) -> None:
    if video.status != "completed":
        detail = f" ({video.error.message})" if video.error else ""
        raise BadRequestError(
            f"Video is not ready: it is {video.status}{detail}.",
            param="video_id",
            code="video_not_ready",
        )


def _timestamp(value: Any, now: float) -> int:
    """An Interaction's ``created`` as epoch seconds; ``now`` (the response's receipt time)
    when it has none."""
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
        except ValueError:
            pass
    return int(now)
