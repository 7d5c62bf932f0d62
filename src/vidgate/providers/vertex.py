"""Vertex AI Veo (providers.md §3, "Gemini Enterprise Agent Platform"): model ids
``vertex/veo-3.1-generate-001`` etc.

Wire: ``POST {root}/v1/projects/{P}/locations/{L}/publishers/google/models/{M}:predictLongRunning``
starts a long-running operation; ``POST …/models/{M}:fetchPredictOperation`` with
``{"operationName": name}`` polls it (§3 "Poll"). The native video id is the full operation
name (``projects/P/locations/L/publishers/google/models/M/operations/OP``), which holds the
project, region and model every later call needs.

Credentials (§3, Addenda): a service-account key (JSON text or its path, in ``api_key`` or
``GOOGLE_APPLICATION_CREDENTIALS``), whose signed JWT is exchanged for an access token by a
request this adapter yields (``_google_auth``); or an OAuth access token as ``api_key``.
Project: ``extra_body["vertex_project"]``, ``api_base`` (``…/projects/P/locations/L``),
``VERTEXAI_PROJECT`` / ``GOOGLE_CLOUD_PROJECT``, then the key file's ``project_id``. Region
likewise (``vertex_location``, ``VERTEXAI_LOCATION`` / ``GOOGLE_CLOUD_LOCATION``), default
``us-central1``.

Output (§1.2): inline ``bytesBase64Encoded`` in the operation JSON (returned to the SDK as
:attr:`ContentSource.data`), or, with ``extra_body["storage_uri"]``, a ``gs://`` object read
through the GCS JSON API with the same token (base ``STORAGE_EMULATOR_HOST`` if set, the
variable Google's storage clients honour). Thumbnails and spritesheets are made locally.
Delete: Vertex has no delete or cancel for these operations (§3), so it sends nothing.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import os
import re
from typing import Any, ClassVar
from urllib.parse import quote

from .._exceptions import (
    APIStatusError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    UnsupportedFeatureError,
)
from .._models import ContentSource, Flow, Request, Response
from ..types.capabilities import ModelCapabilities
from ..types.params import CreateParams
from ..types.video import Video, VideoContentVariant, VideoDeleted, VideoError
from . import _google_auth
from ._base import Provider

# §3 / §13: Veo 3.x takes 4, 6 or 8 s; Veo 2 5–8 s; 720p, 1080p and 4k (Veo 3.1 and 3.1 Fast,
# the models §3 prices at 4k), 16:9 or 9:16. Veo 2 renders 720p only and takes no
# ``resolution`` or ``generateAudio`` (Veo 3 features), so neither is sent for it.
# UNVERIFIED: some Google docs restrict 1080p/4k to 8 s; not in the spec, so not refused here.
_SIZES_720 = ("1280x720", "720x1280")
_SIZES_1080 = (*_SIZES_720, "1920x1080", "1080x1920")
_SIZES_4K = (*_SIZES_1080, "3840x2160", "2160x3840")


def _veo(seconds: tuple[str, ...], sizes: tuple[str, ...]) -> ModelCapabilities:
    # No native remix, list or idempotency key (§3 "List / delete / remix: none").
    return ModelCapabilities(
        seconds=seconds,
        sizes=sizes,
        remix=False,
        idempotency=False,
        default_seconds="8",
        default_size="1280x720",
    )


VEO_31 = _veo(("4", "6", "8"), _SIZES_4K)
VEO_31_LITE = _veo(("4", "6", "8"), _SIZES_1080)
VEO_30 = _veo(("4", "6", "8"), _SIZES_1080)
VEO_2 = _veo(("5", "6", "7", "8"), _SIZES_720)

_RESOLUTION = {720: "720p", 1080: "1080p", 2160: "4k"}
_OPERATION = re.compile(
    r"^projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/publishers/google/"
    r"models/(?P<model>[^/:]+)/operations/(?P<op>[^/]+)$"
)
_API_BASE = re.compile(
    r"^(?P<root>.*?)(?:/(?P<version>v1|v1beta1))?"
    r"(?:/projects/(?P<project>[^/]+)(?:/locations/(?P<location>[^/]+))?)?/*$"
)
_GS_URI = re.compile(r"^gs://(?P<bucket>[^/]+)/(?P<object>.+)$")
# extra_body keys (snake_case or the wire's camelCase) -> ``parameters`` field (§3 body).
_PARAMETERS = {
    "negative_prompt": "negativePrompt",
    "seed": "seed",
    "generate_audio": "generateAudio",
    "person_generation": "personGeneration",
    "enhance_prompt": "enhancePrompt",
    "storage_uri": "storageUri",
    "sample_count": "sampleCount",
    "compression_quality": "compressionQuality",
    "resize_mode": "resizeMode",
    "pubsub_topic": "pubsubTopic",
    "fps": "fps",
}
_ALIASES = {**_PARAMETERS, **{v: v for v in _PARAMETERS.values()}}
# google.rpc.Code numbers (an operation's ``error`` carries only ``code`` and ``message``).
_RPC_CODES: dict[Any, str] = {
    1: "cancelled",
    3: "invalid_argument",
    4: "deadline_exceeded",
    7: "permission_denied",
    8: "resource_exhausted",
    9: "failed_precondition",
    13: "internal",
    14: "unavailable",
}
MAX_SEED = 4_294_967_295  # §3: seed 0–4294967295


class VertexProvider(Provider):
    """Veo on Vertex AI: service-account OAuth, LRO create/poll, inline or GCS output."""

    name: ClassVar[str] = "vertex"
    label: ClassVar[str] = "Vertex AI"
    # The object is in the caller's own bucket: a 403 there is a missing permission
    # (``storage_permission_denied``, see parse_error), not an expired link.
    expired_link_statuses: ClassVar[frozenset[int]] = frozenset({404, 410})
    link_lifetime: ClassVar[str] = (
        "Vertex AI writes the video to your Cloud Storage bucket, where it lasts until deleted; "
        "this one is no longer in Cloud Storage (deleted, or expired by a bucket lifecycle rule)."
    )
    env_api_key: ClassVar[tuple[str, ...]] = (
        "VERTEXAI_CREDENTIALS",
        "GOOGLE_APPLICATION_CREDENTIALS",
    )
    env_api_base: ClassVar[tuple[str, ...]] = ("VERTEXAI_API_BASE",)
    default_api_base = ""  # regional: https://{location}-aiplatform.googleapis.com (§3)
    poll_interval = 10.0  # §14: "Veo 10 s typical"
    models: ClassVar[dict[str, ModelCapabilities]] = {
        "veo-3.1-generate-001": VEO_31,
        "veo-3.1-fast-generate-001": VEO_31,
        "veo-3.1-lite-generate-001": VEO_31_LITE,
        "veo-3.0-generate-001": VEO_30,
        "veo-2.0-generate-001": VEO_2,
    }
    default_capabilities: ClassVar[ModelCapabilities | None] = None
    # ``extra_body`` keys land in ``parameters`` under their wire name or snake_case alias
    # (build_body; only ``last_frame``, ``reference_images`` and ``labels`` go elsewhere), so
    # both spellings of the §3 parameters that set the output count, length and shape are
    # refused: ``sampleCount``, ``durationSeconds``, ``aspectRatio``, ``resolution``.
    # ``generateAudio`` stays allowed: §3 gives one price for sound and silence (vertex.json);
    # so does ``fps``, which sets the frame rate, not the billed seconds.
    reserved_fields: ClassVar[frozenset[str]] = frozenset(
        {
            "sampleCount",
            "sample_count",
            "durationSeconds",
            "duration_seconds",
            "aspectRatio",
            "aspect_ratio",
            "resolution",
        }
    )
    gcs_api_base: ClassVar[str] = "https://storage.googleapis.com"
    # Whose project, region and bucket a job runs in: the gateway's operator sets them in the
    # deployment (``vertex_project: ...`` in its params); a tenant may not point the
    # gateway's credentials at another project or write output to any bucket.
    operator_fields: ClassVar[frozenset[str]] = frozenset(
        {"vertex_project", "vertex_location", "storage_uri", "storageUri"}
    )

    @classmethod
    def names_credential_file(cls, api_key: str) -> bool:
        return _google_auth.is_key_file_path(api_key)

    # -- endpoints and credentials -----------------------------------------------------------

    def _base_parts(self) -> dict[str, str | None]:
        match = _API_BASE.match((self.credentials.api_base or "").strip())
        return match.groupdict() if match else {}

    def _model_url(self, project: str, location: str, model: str, verb: str) -> str:
        parts = self._base_parts()
        root = parts.get("root") or (
            "https://aiplatform.googleapis.com"
            if location == "global"
            else f"https://{location}-aiplatform.googleapis.com"
        )
        version = parts.get("version") or "v1"
        path = f"projects/{project}/locations/{location}/publishers/google/models/{model}"
        return f"{root}/{version}/{path}:{verb}"

    def _credentials(self) -> _google_auth.GoogleCredentials:
        return _google_auth.load_credentials(self.credentials.api_key)

    def auth_headers(self) -> dict[str, str]:
        """Vertex has no header to make from ``api_key`` alone: it holds a service-account key
        (never sent) or a token, and a key's bearer token is minted by a request. The flows
        take their headers from :meth:`_headers`, a flow, instead."""
        raise NotImplementedError("Vertex AI's auth headers come from a flow: use _headers.")

    def _headers(self, creds: _google_auth.GoogleCredentials) -> Flow[dict[str, str]]:
        """The auth hook as a flow: the common headers (``headers_with``) around a bearer
        token from ``api_key`` or from the token exchange."""
        token = yield from _google_auth.access_token(creds)
        return self.headers_with({"Authorization": f"Bearer {token}"})

    def _where(
        self, extra: dict[str, Any], creds: _google_auth.GoogleCredentials
    ) -> tuple[str, str]:
        parts = self._base_parts()
        account = creds.service_account
        project = (
            extra.pop("vertex_project", None)
            or parts.get("project")
            or _env("VERTEXAI_PROJECT", "GOOGLE_CLOUD_PROJECT")
            or (account.project_id if account else None)
        )
        location = (
            extra.pop("vertex_location", None)
            or parts.get("location")
            or _env("VERTEXAI_LOCATION", "GOOGLE_CLOUD_LOCATION")
            or "us-central1"
        )
        if not project:
            raise BadRequestError(
                "Vertex AI needs a Google Cloud project: set VERTEXAI_PROJECT or "
                "GOOGLE_CLOUD_PROJECT, pass extra_body={'vertex_project': ...}, or use a "
                "service-account key that names its project_id.",
                param="vertex_project",
                code="missing_project",
            )
        return str(project), str(location)

    # -- create ------------------------------------------------------------------------------

    def build_body(self, params: CreateParams, extra: dict[str, Any]) -> dict[str, Any]:
        """The §3 ``predictLongRunning`` body; refuses what the model cannot honour."""
        veo2 = params.model.startswith("veo-2")
        width, height = (int(v) for v in params.size.split("x"))
        instance: dict[str, Any] = {"prompt": params.prompt}
        parameters: dict[str, Any] = {
            "sampleCount": 1,
            "durationSeconds": int(params.seconds),
            "aspectRatio": "16:9" if width > height else "9:16",
        }
        if not veo2:
            parameters["resolution"] = _RESOLUTION[min(width, height)]
            parameters["generateAudio"] = True  # Veo 3 default; the price assumes audio
        ref = params.input_reference
        if ref is not None:
            if ref.data is None:
                raise UnsupportedFeatureError(
                    "Vertex AI Veo takes the input_reference image as bytes (upload the file or "
                    "pass a data: URL), not as a web URL.",
                    param="input_reference",
                )
            instance["image"] = _inline_image(ref.data, ref.content_type)
        body: dict[str, Any] = {"instances": [instance], "parameters": parameters}
        for key, value in extra.items():
            if key in ("last_frame", "lastFrame"):
                instance["lastFrame"] = _frame(value)
            elif key in ("reference_images", "referenceImages"):
                instance["referenceImages"] = value
            elif key == "labels":
                body["labels"] = value
            else:
                parameters[_ALIASES.get(key, key)] = value
        _check_parameters(parameters, veo2=veo2)
        return body

    def create(self, params: CreateParams) -> Flow[Video]:
        creds = self._credentials()
        extra = dict(params.extra_body)
        project, location = self._where(extra, creds)
        body = self.build_body(params, extra)
        headers = yield from self._headers(creds)
        url = self._model_url(project, location, params.model, "predictLongRunning")
        response = yield Request("POST", url, headers, json=body, creates_job=True)
        operation = response.json() or {}
        video = self.parse_operation(
            operation, model=params.model, polled=False, now=response.received_at
        )
        return video.model_copy(
            update={"prompt": params.prompt, "size": params.size, "seconds": params.seconds}
        )

    # -- poll and content ---------------------------------------------------------------------

    def _fetch(self, name: str) -> Flow[tuple[Response, dict[str, str]]]:
        """The operation's ``fetchPredictOperation`` response, and the headers it was sent with."""
        match = _OPERATION.match(name)
        if match is None:
            raise BadRequestError(
                f"'{name}' is not a Vertex AI operation name.",
                param="video_id",
                code="invalid_video_id",
            )
        headers = yield from self._headers(self._credentials())
        url = self._model_url(
            match["project"], match["location"], match["model"], "fetchPredictOperation"
        )
        response = yield Request("POST", url, headers, json={"operationName": name})
        return response, headers

    def retrieve(self, video_id: str, *, model: str) -> Flow[Video]:
        response, _ = yield from self._fetch(video_id)
        operation = response.json() or {}
        return self.parse_operation(operation, model=model, name=video_id, now=response.received_at)

    def content(
        self, video_id: str, *, model: str, variant: VideoContentVariant
    ) -> Flow[ContentSource]:
        response, headers = yield from self._fetch(video_id)
        operation = response.json() or {}
        video = self.parse_operation(
            operation, model=model, name=video_id, now=response.received_at
        )
        if video.status != "completed":
            raise BadRequestError(
                f"Video is not ready: it is {video.status}"
                + (f" ({video.error.message})" if video.error else "")
                + ".",
                param="video_id",
                code="video_not_ready",
            )
        derive = None if variant == "video" else variant
        sample = operation["response"]["videos"][0]
        mime = str(sample.get("mimeType") or "video/mp4")
        if sample.get("bytesBase64Encoded"):
            data = base64.b64decode(sample["bytesBase64Encoded"])
            return ContentSource(data=data, derive=derive, content_type=mime)
        gs = _GS_URI.match(str(sample.get("gcsUri") or ""))
        if gs is None:
            raise NotFoundError(
                "The Vertex AI operation names no video (neither inline bytes nor a gs:// URI).",
                param="video_id",
                code="video_missing",
            )
        base = (os.environ.get("STORAGE_EMULATOR_HOST") or self.gcs_api_base).rstrip("/")
        url = f"{base}/storage/v1/b/{gs['bucket']}/o/{quote(gs['object'], safe='')}"
        # The object lives in the caller's own bucket: GCS needs the same bearer token.
        request = Request(
            "GET", url, {**headers, "Accept": "*/*"}, params={"alt": "media"}, download=True
        )
        return ContentSource(request, derive=derive, content_type=mime)

    def delete(self, video_id: str, *, model: str) -> Flow[VideoDeleted]:
        # §3: no delete or cancel for Veo operations; the gateway removes its record and files.
        return VideoDeleted(id=video_id, deleted=True)
        yield  # pragma: no cover - a flow that sends nothing

    # -- parsing -----------------------------------------------------------------------------

    def parse_operation(
        self, operation: Any, *, model: str, now: float, name: str = "", polled: bool = True
    ) -> Video:
        """A Video from an LRO (§1.1 Vertex row): ``error`` → failed; ``done`` with videos →
        completed; ``done`` without videos → RAI-filtered, failed ``moderation_blocked``;
        else in_progress. Vertex reports no progress: 0 at create, 50 while running, 100.
        An operation has no creation time: ``created_at`` is ``now``, the response's
        ``received_at``."""
        if not isinstance(operation, dict):
            raise ValueError(f"expected an operation object, got {type(operation).__name__}")
        fields: dict[str, Any] = {
            "id": str(operation.get("name") or name),
            "model": model,
            "status": "in_progress",
            "progress": 50 if polled else 0,
            "created_at": int(now),
            "prompt": None,
            "size": "",
            "seconds": "",
        }
        error = operation.get("error")
        response = operation.get("response") or {}
        if isinstance(error, dict):
            fields["status"] = "failed"
            code = error.get("status") or _RPC_CODES.get(error.get("code"), error.get("code"))
            fields["error"] = VideoError(
                code=str(code or "generation_failed").lower(),
                message=str(error.get("message") or "Vertex AI reported an error."),
            )
        elif operation.get("done"):
            if response.get("videos"):
                fields.update(status="completed", progress=100)
            else:
                reasons = response.get("raiMediaFilteredReasons") or []
                fields["status"] = "failed"
                fields["error"] = VideoError(
                    code="moderation_blocked",
                    message="; ".join(map(str, reasons))
                    or "Vertex AI filtered the video (responsible-AI filter).",
                )
        return Video(**fields)

    # -- errors ------------------------------------------------------------------------------

    def parse_error(self, response: Response) -> APIStatusError:
        token_error = _google_auth.token_endpoint_error(response)
        if token_error is not None:
            return token_error
        if "/storage/v1/b/" in response.url and response.status_code == 403:
            error = _google_auth.google_error(response)
            where = response.url.split("/storage/v1/b/", 1)[1]
            return PermissionDeniedError(
                f"Cannot read the video from Cloud Storage ({where}): the credentials lack "
                f"storage.objects.get on that bucket. {error.message}",
                status_code=403,
                code="storage_permission_denied",
                body=error.body,
            )
        return _google_auth.google_error(response)


def _check_parameters(parameters: dict[str, Any], *, veo2: bool) -> None:
    seed = parameters.get("seed")
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED
    ):
        raise UnsupportedFeatureError(
            f"'seed' must be a whole number from 0 to {MAX_SEED}.", param="seed"
        )
    if parameters.get("sampleCount") != 1:
        raise UnsupportedFeatureError(
            "vidgate makes one video per request: 'sample_count' must be 1.", param="sample_count"
        )
    audio = parameters.get("generateAudio")
    if veo2 and audio is not None:
        if audio:
            raise UnsupportedFeatureError(
                "Veo 2 makes silent videos; 'generate_audio' needs a Veo 3 model.",
                param="generate_audio",
            )
        del parameters["generateAudio"]
    negative = parameters.get("negativePrompt")
    if negative is not None and not isinstance(negative, str):
        raise UnsupportedFeatureError(
            "'negative_prompt' must be a string.", param="negative_prompt"
        )


def _inline_image(data: bytes, content_type: str) -> dict[str, str]:
    return {"bytesBase64Encoded": base64.b64encode(data).decode(), "mimeType": content_type}


def _frame(value: Any) -> Any:
    """``last_frame`` as a ``gs://`` URI, a base64 ``data:`` URL, or the §3 object itself."""
    if isinstance(value, str) and value.startswith("gs://"):
        return {"gcsUri": value, "mimeType": mimetypes.guess_type(value)[0] or "image/png"}
    if isinstance(value, str) and value.startswith("data:"):
        header, _, payload = value.partition(",")
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise UnsupportedFeatureError(
                "'last_frame' is not valid base64.", param="last_frame"
            ) from None
        return _inline_image(data, header[5:].split(";")[0] or "image/png")
    if isinstance(value, dict):
        return value
    raise UnsupportedFeatureError(
        "'last_frame' must be a gs:// URI, a base64 data: URL, or a Vertex image object.",
        param="last_frame",
    )


def _env(*names: str) -> str | None:
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    return None
