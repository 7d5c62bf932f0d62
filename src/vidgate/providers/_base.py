"""The contract every provider adapter follows.

Adapters are sans-IO (``../STYLE.md`` habit 2): each operation is a *flow*, a generator that
yields :class:`Request` objects and receives :class:`Response` objects, and returns a
normalized result. The engine drives the flow over its HTTP client, with retries and timeouts;
tests drive it with fixtures. An adapter never sleeps, retries or opens a connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from .._constants import USER_AGENT
from .._exceptions import (
    APIStatusError,
    AuthenticationError,
    InternalServerError,
    UnsupportedFeatureError,
    error_for_status,
)
from .._models import ContentSource, Credentials, Flow, Order, Response
from ..types.capabilities import ModelCapabilities
from ..types.params import CreateParams
from ..types.video import Video, VideoContentVariant, VideoDeleted, VideoList

T = TypeVar("T")


def queued_video(
    job_id: object, params: CreateParams, response: Response, *, provider: str
) -> Video:
    """The video for a job a provider just accepted: queued, with what was asked.

    Raises:
        InternalServerError: the provider answered a create without a job id (a broken
            upstream: nothing can be polled, so the caller must know at once).
    """
    if not job_id:
        raise InternalServerError(
            f"{provider} accepted the request but returned no job id: {response.summary(200)}",
            status_code=502,
            code="upstream_protocol_error",
        )
    return Video(
        id=str(job_id),
        model=params.model,
        status="queued",
        created_at=int(response.received_at),
        prompt=params.prompt,
        size=params.size,
        seconds=params.seconds,
    )


class Provider:
    """Base adapter. Subclasses set the class attributes and implement the flows they support.

    Attributes:
        name: the provider prefix in model ids (``runway`` in ``runway/gen4_turbo``).
        label: the provider as people write it (``xAI``), for messages.
        env_api_key / env_api_base: environment variables read when no argument is given.
        default_api_base: where the provider lives.
        poll_interval: seconds between status checks when the provider gives no hint.
        models: the models vidgate knows, with what each accepts.
        default_capabilities: for a model name not in ``models``; ``None`` refuses unknown models.
        expired_link_statuses: the statuses of a download of finished content (a request with
            ``download=True``) that mean its link has expired; the engine turns them into the
            one ``download_link_expired`` error.
        link_lifetime: one sentence saying how long the provider's download links last, for
            that error's message.
    """

    name: ClassVar[str]
    label: ClassVar[str] = ""
    env_api_key: ClassVar[tuple[str, ...]] = ()
    env_api_base: ClassVar[tuple[str, ...]] = ()
    default_api_base: ClassVar[str] = ""
    poll_interval: ClassVar[float] = 5.0
    models: ClassVar[Mapping[str, ModelCapabilities]] = {}
    default_capabilities: ClassVar[ModelCapabilities | None] = None
    # Whether status responses repeat the request's size and seconds; if not, the SDK keeps
    # them in the video id so later calls can still report them.
    echoes_shape: ClassVar[bool] = False
    # The provider's own wire names for what decides what is made and billed (duration,
    # resolution, number of outputs, model, ...): ``extra_body`` may not set them, or a caller
    # could be billed for 4 s while the provider makes (and charges) 20.
    reserved_fields: ClassVar[frozenset[str]] = frozenset()
    # ``extra_body`` objects the adapter merges into its own (``generation_config``): their
    # keys are held to ``reserved_fields`` too.
    merged_objects: ClassVar[frozenset[str]] = frozenset()
    # Options that pick whose account, project or bucket a job uses (``vertex_project``,
    # ``storage_uri``): the SDK's caller is the account holder and may set them; a gateway's
    # caller is a tenant and may not (the operator sets them in the deployment's params).
    operator_fields: ClassVar[frozenset[str]] = frozenset()
    # Headers the provider's API wants on every call whatever the credentials (Runway's
    # ``X-Runway-Version``); see :meth:`headers`.
    fixed_headers: ClassVar[Mapping[str, str]] = {}
    # Signed output links are refused once expired, most with 403 (the signature), some with
    # 404 or 410 (the file deleted); see the engine's ``download_link_expired``.
    expired_link_statuses: ClassVar[frozenset[int]] = frozenset({403, 404, 410})
    link_lifetime: ClassVar[str] = "The provider's download links are temporary."

    def __init__(self, credentials: Credentials) -> None:
        # The only instance state: an adapter remembers nothing between flows (issue 9).
        self.credentials = credentials

    # -- headers -----------------------------------------------------------------------------

    def headers(self) -> dict[str, str]:
        """The headers of a call to the provider's API. Adapters do not override this; they
        override :meth:`auth_headers`, the one place credentials become headers."""
        return self.headers_with(self.auth_headers())

    def headers_with(self, auth: Mapping[str, str]) -> dict[str, str]:
        """The common headers around ``auth``: ``User-Agent`` and ``Accept`` first, then
        ``auth``, :attr:`fixed_headers` and the caller's ``extra_headers`` (which win). Called
        by :meth:`headers`, and by an adapter whose credentials come from a flow (Vertex's
        token exchange) with what that flow returned."""
        return {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            **auth,
            **self.fixed_headers,
            **self.credentials.extra_headers,
        }

    def auth_headers(self) -> dict[str, str]:
        """The hook: the credentials as headers. The default is ``Authorization: Bearer``
        with the API key, and nothing without one (the server then decides)."""
        key = self.credentials.api_key
        return {"Authorization": f"Bearer {key}"} if key else {}

    def require_api_key(self) -> str:
        """The API key, for an ``auth_headers`` that cannot go without one.

        Raises:
            AuthenticationError: no key, before any request is sent.
        """
        key = self.credentials.api_key
        if not key:
            where = " or ".join(self.env_api_key) or "the provider's key variable"
            raise AuthenticationError(
                f"No API key for {self.name}: pass api_key=... or set {where}.",
                code="missing_api_key",
            )
        return key

    def public_headers(self) -> dict[str, str]:
        """The headers of a download from a signed or public link on another host: the
        ``User-Agent`` only, never the key or the caller's extra headers."""
        return {"User-Agent": USER_AGENT}

    def audio(self, extra_body: Mapping[str, Any]) -> bool | None:
        """Whether a create with these provider options makes sound, where that changes the
        price (``None``: the model's default, which the price table assumes)."""
        return None

    @classmethod
    def names_credential_file(cls, api_key: str) -> bool:
        """Whether ``api_key`` is the path of a key file (a Google service-account key) rather
        than the key itself: the credential resolver then reads the file and hands the adapter
        its text, so adapters read no files."""
        return False

    @property
    def api_base(self) -> str:
        return (self.credentials.api_base or self.default_api_base).rstrip("/")

    def capabilities(self, model: str) -> ModelCapabilities:
        caps = self.models.get(model, self.default_capabilities)
        if caps is None:
            known = ", ".join(f"{self.name}/{m}" for m in self.models)
            raise UnsupportedFeatureError(
                f"Unknown model '{self.name}/{model}'. Known models: {known}.",
                param="model",
                code="model_not_found",
            )
        return caps

    # -- flows -------------------------------------------------------------------------------

    def create(self, params: CreateParams) -> Flow[Video]:
        raise self._unsupported("create")

    def retrieve(self, video_id: str, *, model: str) -> Flow[Video]:
        raise self._unsupported("retrieve")

    def content(
        self, video_id: str, *, model: str, variant: VideoContentVariant
    ) -> Flow[ContentSource]:
        raise self._unsupported("content")

    def delete(self, video_id: str, *, model: str) -> Flow[VideoDeleted]:
        raise self._unsupported("delete")

    def list(self, *, limit: int | None, after: str | None, order: Order | None) -> Flow[VideoList]:
        raise self._unsupported("list")

    def remix(self, video_id: str, *, model: str, prompt: str) -> Flow[Video]:
        raise self._unsupported("remix")

    # -- errors ------------------------------------------------------------------------------

    def parse_error(self, response: Response) -> APIStatusError:
        """Turn an error response into our exception. The default reads the OpenAI envelope;
        providers with another shape override this one function."""
        return openai_style_error(response)

    def _unsupported(self, operation: str) -> UnsupportedFeatureError:
        return UnsupportedFeatureError(
            f"Provider '{self.name}' does not support {operation}.", param=None
        )


def openai_style_error(
    response: Response, *, fallback_message: str | None = None
) -> APIStatusError:
    """Build the exception for an OpenAI-envelope error body (spec §4)."""
    body: Any = None
    message = fallback_message or f"HTTP {response.status_code}"
    kind = param = code = None
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        body = parsed["error"]
        message = str(body.get("message") or message)
        kind, param, code = body.get("type"), body.get("param"), body.get("code")
    elif isinstance(parsed, dict):
        body = parsed
        message = str(parsed.get("message") or parsed.get("detail") or message)
    elif response.content:
        body = response.text
        message = response.summary()
    cls = error_for_status(response.status_code)
    return cls(
        message,
        status_code=response.status_code,
        type=kind if isinstance(kind, str) else None,
        param=param if isinstance(param, str) else None,
        code=str(code) if code is not None else None,
        body=body,
        headers=dict(response.headers),
        request_id=response.headers.get("x-request-id"),
    )
