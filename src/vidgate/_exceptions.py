"""The one error tree of vidgate, named as in the ``openai`` SDK so ``except`` clauses port.

::

    APIError  (alias OpenAIError)
    ├── APIStatusError                  an error response: status_code, body, headers, request_id
    │   ├── BadRequestError             400; also raised before sending invalid input
    │   │   └── UnsupportedFeatureError a model cannot honour a parameter
    │   ├── AuthenticationError         401
    │   ├── PermissionDeniedError       403
    │   ├── NotFoundError               404
    │   ├── ConflictError               409
    │   ├── UnprocessableEntityError    422
    │   ├── RateLimitError              429
    │   └── InternalServerError         >= 500
    ├── APIConnectionError              the request could not be sent or no response came back
    │   └── APITimeoutError
    └── VideoGenerationFailed           a job ended ``failed``; carries the video and its error

Every exception carries the OpenAI error body's ``message``, ``type``, ``param`` and ``code``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .types.video import Video

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "OpenAIError",
    "PermissionDeniedError",
    "RateLimitError",
    "UnprocessableEntityError",
    "UnsupportedFeatureError",
    "VideoGenerationFailed",
    "error_for_status",
]


class APIError(Exception):
    """Base of every vidgate error.

    Attributes:
        message: human-readable description.
        type: OpenAI error ``type`` (``invalid_request_error``, ``rate_limit_error``, ...).
        param: the request parameter at fault, if any.
        code: a machine-readable code, if any.
        body: the error object as received (the inner ``error`` dict), raw text, or ``None``.
    """

    status_code: int | None = None
    default_type = "api_error"

    def __init__(
        self,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        body: object | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.type = type or self.default_type
        self.param = param
        self.code = code
        self.body = body

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI error envelope for this error."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


OpenAIError = APIError


class APIStatusError(APIError):
    """An error response from a server (or the same error raised locally before sending)."""

    status_code: int = 500

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        body: object | None = None,
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, type=type, param=param, code=code, body=body)
        if status_code is not None:
            self.status_code = status_code
        self.headers: dict[str, str] = dict(headers or {})
        self.request_id = request_id

    def __str__(self) -> str:
        return f"Error code: {self.status_code} - {self.message}"


class BadRequestError(APIStatusError):
    status_code = 400
    default_type = "invalid_request_error"


class UnsupportedFeatureError(BadRequestError):
    """The chosen model cannot honour a parameter; ``param`` names it."""

    def __init__(self, message: str, *, param: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("code", "unsupported_value")
        super().__init__(message, param=param, **kwargs)


class AuthenticationError(APIStatusError):
    status_code = 401
    default_type = "authentication_error"


class PermissionDeniedError(APIStatusError):
    status_code = 403
    default_type = "permission_error"


class NotFoundError(APIStatusError):
    status_code = 404
    default_type = "invalid_request_error"


class ConflictError(APIStatusError):
    status_code = 409
    default_type = "invalid_request_error"


class UnprocessableEntityError(APIStatusError):
    status_code = 422
    default_type = "invalid_request_error"


class RateLimitError(APIStatusError):
    status_code = 429
    default_type = "rate_limit_error"


class InternalServerError(APIStatusError):
    status_code = 500
    default_type = "server_error"


class APIConnectionError(APIError):
    """No response arrived: the connection failed, was reset, or timed out."""

    default_type = "connection_error"

    def __init__(self, message: str = "Connection error.", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


class APITimeoutError(APIConnectionError):
    default_type = "timeout_error"

    def __init__(self, message: str = "Request timed out.", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


class VideoGenerationFailed(APIError):
    """A video job reached ``failed``. ``video`` is the final object; ``code`` and ``message``
    are the provider's reason (for example ``moderation_blocked``)."""

    default_type = "video_generation_failed"

    def __init__(self, video: Video) -> None:
        err = video.error
        message = err.message if err else "video generation failed"
        code = err.code if err else None
        super().__init__(f"Video {video.id} failed: {message}", code=code, body=err)
        self.video = video


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_for_status(status_code: int) -> type[APIStatusError]:
    """The exception class the ``openai`` SDK raises for an HTTP status."""
    if status_code >= 500:
        return InternalServerError
    return _BY_STATUS.get(status_code, APIStatusError)
