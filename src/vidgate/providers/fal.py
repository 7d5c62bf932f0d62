"""fal.ai's queue API (providers.md §7): Kling, MiniMax Hailuo and Wan models.

Model ids are fal app paths: ``fal/fal-ai/kling-video/v2.1/master/text-to-video``. A create is
``POST {queue}/{app}`` with the model's own input JSON; the job is then polled at its status
URL and its output JSON read at its response URL (§7).

**Native ids.** fal's status, response and cancel URLs use only ``owner/alias`` of the app,
not the full submit path (§7 "Gotcha"), so the native id is the response URL's path below the
queue base, e.g. ``fal-ai/kling-video/requests/<request_id>``: status is ``{id}/status`` and
cancel ``{id}/cancel`` below the same base. Keeping a path rather than the absolute URL lets a
later call honour another ``api_base`` (a proxy) for the same job.

**Unknown model ids are refused** (400, ``param="model"``, naming the known models). fal hosts
hundreds of apps with different input schemas; for an app vidgate does not know it cannot tell
which field takes the duration, the aspect ratio or the image, and passing ``seconds``/``size``
through unmapped would silently drop them. New apps are one entry in ``models`` below.

**Delete** cancels a job that has not finished (``PUT {id}/cancel``, §7) and otherwise sends
nothing: fal has no delete, and its CDN files expire on their own. **List** is not offered:
fal has none (§7), the gateway lists from its own records.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from .._exceptions import APIStatusError, BadRequestError, NotFoundError, UnsupportedFeatureError
from .._models import ContentSource, Flow, Request, Response
from ..types.capabilities import ModelCapabilities
from ..types.params import CreateParams
from ..types.video import Video, VideoContentVariant, VideoDeleted, VideoError
from ._base import Provider, openai_style_error, queued_video

QUEUE_BASE = "https://queue.fal.run"
_NATIVE_ID = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*/requests/[A-Za-z0-9_-]+$")
# fal apps under a namespace keep one more path segment in their queue URLs (fal-client AppId).
_NAMESPACES = ("workflows", "comfy")
# §7 error types (and fal's request-error types) that name a reason rather than a bug.
_FAILURE_CODES = {"content_policy_violation": "moderation_blocked", "client_cancelled": "cancelled"}


@dataclass(frozen=True)
class FalModel:
    """One fal app: what vidgate accepts and how it maps onto the app's input fields.

    ``sizes`` maps each accepted OpenAI size to the input fields it sets (``{}`` where the app
    has no field for it: image-to-video apps take the image's aspect ratio, so there ``size``
    names only the resolution the app renders, and the reference image should have that
    shape, as OpenAI requires of ``input_reference``). ``image_field`` is where
    ``input_reference`` goes (required there); ``None`` means a text-only app.
    """

    seconds: tuple[str, ...]
    sizes: Mapping[str, Mapping[str, str]]
    image_field: str | None = None

    @property
    def capabilities(self) -> ModelCapabilities:
        return ModelCapabilities(
            seconds=self.seconds,
            sizes=tuple(self.sizes),
            image_input=self.image_field is not None,
            remix=False,
            idempotency=False,
            default_seconds=self.seconds[0],
            default_size=next(iter(self.sizes)),
        )


def _aspects(landscape: str, portrait: str, square: str) -> dict[str, dict[str, str]]:
    return {
        landscape: {"aspect_ratio": "16:9"},
        portrait: {"aspect_ratio": "9:16"},
        square: {"aspect_ratio": "1:1"},
    }


def _image_led(sizes: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """The same sizes without ``aspect_ratio``: an image-to-video app follows the image."""
    return {s: {k: v for k, v in f.items() if k != "aspect_ratio"} for s, f in sizes.items()}


# Kling (§7, fal-js types [S19]): duration "5"|"10", aspect 16:9|9:16|1:1 on text-to-video only.
# Render tiers are UNVERIFIED (not in §7): 2.0 Master and 2.1 Standard 720p, 2.1 Master and
# 2.1 Pro 1080p, as Kling describes those modes.
_KLING_720 = _aspects("1280x720", "720x1280", "720x720")
_KLING_1080 = _aspects("1920x1080", "1080x1920", "1080x1080")
_KLING_SECONDS = ("5", "10")
# Hailuo-02 standard (§7): text-to-video renders 768P (16:9, 1366x768 as MiniMax sizes it);
# image-to-video takes resolution 512P|768P. 512P as 912x512 is UNVERIFIED.
_HAILUO_I2V = {
    "1366x768": {"resolution": "768P"},
    "768x1366": {"resolution": "768P"},
    "912x512": {"resolution": "512P"},
    "512x912": {"resolution": "512P"},
}
# Wan 2.5 preview (§7): resolution 480p|720p|1080p and aspect ratio; the frame sizes per tier
# are Wan's own (providers.md §10: 832x480, 1280x720, 1920x1080 and their 9:16 / 1:1 shapes).
_WAN = {
    size: {"resolution": tier, "aspect_ratio": ratio}
    for tier, shapes in {
        "480p": ("832x480", "480x832", "624x624"),
        "720p": ("1280x720", "720x1280", "960x960"),
        "1080p": ("1920x1080", "1080x1920", "1440x1440"),
    }.items()
    for size, ratio in zip(shapes, ("16:9", "9:16", "1:1"), strict=True)
}

FAL_MODELS: dict[str, FalModel] = {
    "fal-ai/kling-video/v2/master/text-to-video": FalModel(_KLING_SECONDS, _KLING_720),
    "fal-ai/kling-video/v2/master/image-to-video": FalModel(
        _KLING_SECONDS, _image_led(_KLING_720), "image_url"
    ),
    "fal-ai/kling-video/v2.1/master/text-to-video": FalModel(_KLING_SECONDS, _KLING_1080),
    "fal-ai/kling-video/v2.1/master/image-to-video": FalModel(
        _KLING_SECONDS, _image_led(_KLING_1080), "image_url"
    ),
    "fal-ai/kling-video/v2.1/pro/image-to-video": FalModel(
        _KLING_SECONDS, _image_led(_KLING_1080), "image_url"
    ),
    "fal-ai/kling-video/v2.1/standard/image-to-video": FalModel(
        _KLING_SECONDS, _image_led(_KLING_720), "image_url"
    ),
    "fal-ai/minimax/hailuo-02/standard/text-to-video": FalModel(("6", "10"), {"1366x768": {}}),
    "fal-ai/minimax/hailuo-02/standard/image-to-video": FalModel(
        ("6", "10"), _HAILUO_I2V, "image_url"
    ),
    "fal-ai/wan-25-preview/text-to-video": FalModel(("5", "10"), _WAN),
    "fal-ai/wan-25-preview/image-to-video": FalModel(("5", "10"), _image_led(_WAN), "image_url"),
}


class FalProvider(Provider):
    """fal queue: ``Authorization: Key $FAL_KEY``; ``FAL_QUEUE_RUN_HOST`` (a host name, as
    fal-client reads it) or ``api_base`` moves the queue."""

    name: ClassVar[str] = "fal"
    label: ClassVar[str] = "fal"
    link_lifetime: ClassVar[str] = "fal CDN links are short-lived (providers.md §1.2)."
    env_api_key: ClassVar[tuple[str, ...]] = ("FAL_KEY",)
    env_api_base: ClassVar[tuple[str, ...]] = ("FAL_API_BASE", "FAL_QUEUE_RUN_HOST")
    default_api_base = QUEUE_BASE
    poll_interval = 5.0
    models: ClassVar[dict[str, ModelCapabilities]] = {
        name: spec.capabilities for name, spec in FAL_MODELS.items()
    }
    default_capabilities: ClassVar[ModelCapabilities | None] = None
    # ``extra_body`` is the app's input JSON itself (build_input). The inputs of the declared
    # apps that set length, shape or the first frame (providers.md §7 "Model inputs": Kling
    # ``duration``/``aspect_ratio``, Hailuo-02 ``resolution``, Wan 2.5 ``resolution``/
    # ``aspect_ratio``, ``image_url``); the app, hence the model, is in the URL. None of these
    # apps takes an output count or an audio switch.
    reserved_fields: ClassVar[frozenset[str]] = frozenset(
        {"duration", "aspect_ratio", "resolution", "image_url"}
    )

    @property
    def api_base(self) -> str:
        base = (self.credentials.api_base or self.default_api_base).rstrip("/")
        return base if "://" in base else f"https://{base}"

    def auth_headers(self) -> dict[str, str]:
        key = self.credentials.api_key
        return {"Authorization": f"Key {key}"} if key else {}

    # -- flows -------------------------------------------------------------------------------

    def create(self, params: CreateParams) -> Flow[Video]:
        body = build_input(params)
        url = f"{self.api_base}/{params.model}"
        response = yield Request("POST", url, self.headers(), json=body, creates_job=True)
        data = _object(response)
        return queued_video(self._native_id(params.model, data), params, response, provider="fal")

    def retrieve(self, video_id: str, *, model: str) -> Flow[Video]:
        url = self._job_url(video_id)
        response = yield Request("GET", f"{url}/status", self.headers())
        status = _object(response)
        state = str(status.get("status", ""))
        # §7 gives no percentage: 0 queued, 50 running, 100 done. Nor does the status say
        # the prompt, size or duration; the SDK keeps size and seconds in the video id.
        video = Video(
            id=video_id,
            model=model,
            status="in_progress",
            progress=50,
            created_at=int(response.received_at),  # fal's status has no creation time
            prompt="",
            size="",
            seconds="",
        )
        if state == "IN_QUEUE":
            return video.model_copy(update={"status": "queued", "progress": 0})
        if state == "IN_PROGRESS":
            return video
        if state != "COMPLETED":
            return video.model_copy(update={"upstream_status": state})
        if status.get("error") or status.get("error_type"):
            error = _failure(status.get("error_type"), status.get("error"))
            return video.model_copy(update={"status": "failed", "progress": 100, "error": error})
        # §7 / addenda: fal may report bad input or a content-policy refusal only when the
        # result is fetched (422 {"detail": [...]}), so a completed job is confirmed by its
        # output. Catching the error needs the engine to throw it into the flow (see report).
        try:
            result = yield Request("GET", url, self.headers())
        except APIStatusError as exc:
            if not _is_job_failure(exc):
                raise
            error = VideoError(code=exc.code or f"http_{exc.status_code}", message=exc.message)
            return video.model_copy(update={"status": "failed", "progress": 100, "error": error})
        if _video_file(result.json()) is None:
            error = VideoError(code="no_output", message="fal's result holds no video file.")
            return video.model_copy(update={"status": "failed", "progress": 100, "error": error})
        return video.model_copy(update={"status": "completed", "progress": 100})

    def content(
        self, video_id: str, *, model: str, variant: VideoContentVariant
    ) -> Flow[ContentSource]:
        response = yield Request("GET", self._job_url(video_id), self.headers())
        file = _video_file(response.json())
        if file is None:
            raise NotFoundError(
                f"fal's result for {video_id} holds no video file.", code="no_output"
            )
        url = str(file["url"])
        # §1.2: the file is on fal's CDN, a signed public URL: no fal key goes there.
        request = Request("GET", url, self.public_headers(), download=True)
        if variant == "video":
            return ContentSource(request, content_type=str(file.get("content_type") or "video/mp4"))
        return ContentSource(request, derive=variant)

    def delete(self, video_id: str, *, model: str) -> Flow[VideoDeleted]:
        url = self._job_url(video_id)
        status = _object((yield Request("GET", f"{url}/status", self.headers())))
        if status.get("status") != "COMPLETED":
            # §7: 202 CANCELLATION_REQUESTED; a job that finished meanwhile answers
            # ALREADY_COMPLETED (a 400, UNVERIFIED), which is fine for a delete.
            try:
                yield Request("PUT", f"{url}/cancel", self.headers())
            except APIStatusError as exc:
                if "ALREADY_COMPLETED" not in str(exc.body):
                    raise
        return VideoDeleted(id=video_id, deleted=True)

    # -- errors ------------------------------------------------------------------------------

    def parse_error(self, response: Response) -> APIStatusError:
        """fal's bodies (§7): ``{"detail": [{"loc", "msg", "type"}]}`` for validation and
        content policy, ``{"detail": "...", "error_type": "..."}`` for request errors. (An
        expired CDN link is the engine's one ``download_link_expired``.)"""
        error = openai_style_error(response)
        body = error.body if isinstance(error.body, dict) else {}
        detail = body.get("detail")
        code = body.get("error_type") or response.headers.get("x-fal-error-type")
        if isinstance(detail, list) and detail and all(isinstance(d, dict) for d in detail):
            error.message = "; ".join(_describe(d) for d in detail)
            code = code or detail[0].get("type")
            loc = detail[0].get("loc")
            if isinstance(loc, list) and len(loc) > 1 and loc[0] == "body":
                error.param = str(loc[-1])
        if isinstance(code, str):
            error.code = _FAILURE_CODES.get(code, code)
        error.request_id = response.headers.get("x-fal-request-id")
        return error

    # -- helpers -----------------------------------------------------------------------------

    def _native_id(self, app: str, data: Mapping[str, Any]) -> str:
        request_id = str(data.get("request_id") or "")
        response_url = data.get("response_url")
        prefix = self.api_base + "/"
        if isinstance(response_url, str) and response_url.startswith(prefix):
            native = response_url[len(prefix) :]
        else:
            native = f"{_app_root(app)}/requests/{request_id}"
        if not _NATIVE_ID.match(native):
            raise BadRequestError(f"fal answered the submit without a usable request id: {data}")
        return native

    def _job_url(self, video_id: str) -> str:
        if not _NATIVE_ID.match(video_id) or ".." in video_id:
            raise BadRequestError(
                f"Malformed fal request id '{video_id}'.", param="video_id", code="invalid_video_id"
            )
        return f"{self.api_base}/{video_id}"


def build_input(params: CreateParams) -> dict[str, Any]:
    """The app's input JSON for a validated request (§7 model inputs).

    Raises:
        UnsupportedFeatureError: an image-to-video app without ``input_reference``, or an
            ``extra_body`` key that would override a value set from ``prompt``/``seconds``/
            ``size``/``input_reference``.
    """
    spec = FAL_MODELS[params.model]
    fields: dict[str, Any] = {"prompt": params.prompt, "duration": params.seconds}
    fields.update(spec.sizes[params.size])
    ref = params.input_reference
    if spec.image_field is not None:
        if ref is None:
            raise UnsupportedFeatureError(
                f"fal/{params.model} animates an image: pass input_reference.",
                param="input_reference",
                code="missing_required_parameter",
            )
        # §7: image_url takes a URL or a data URI.
        fields[spec.image_field] = ref.url or (
            f"data:{ref.content_type};base64,{base64.b64encode(ref.data or b'').decode()}"
        )
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


def _app_root(app: str) -> str:
    """``fal-ai/kling-video/v2.1/master/text-to-video`` → ``fal-ai/kling-video`` (§7)."""
    parts = app.split("/")
    keep = 3 if parts[0] in _NAMESPACES else 2
    return "/".join(parts[:keep])


def _object(response: Response) -> dict[str, Any]:
    data = response.json()
    if not isinstance(data, dict):
        # A broken upstream, not the caller's mistake: the engine makes it a 502.
        raise ValueError(f"fal answered with {type(data).__name__}, not a JSON object")
    return data


def _video_file(result: Any) -> Mapping[str, Any] | None:
    """``{"video": {"url", "content_type", ...}}`` from the app's output (§7 Fetch)."""
    video = result.get("video") if isinstance(result, dict) else None
    if isinstance(video, dict) and isinstance(video.get("url"), str) and video["url"]:
        return video
    return None


def _failure(error_type: Any, error: Any) -> VideoError:
    kind = str(error_type) if error_type else "generation_failed"
    message = error if isinstance(error, str) and error else f"fal reported {kind}."
    return VideoError(code=_FAILURE_CODES.get(kind, kind), message=message)


def _is_job_failure(exc: APIStatusError) -> bool:
    """A result fetch that failed because the job did (not because of auth or limits)."""
    if exc.status_code in (401, 403, 404, 408, 429):
        return False
    return exc.status_code < 500 or exc.code is not None


def _describe(item: Mapping[str, Any]) -> str:
    loc = item.get("loc")
    where = ".".join(str(p) for p in loc[1:]) if isinstance(loc, list) and len(loc) > 1 else ""
    message = str(item.get("msg") or item.get("type") or "invalid input")
    return f"{where}: {message}" if where else message
