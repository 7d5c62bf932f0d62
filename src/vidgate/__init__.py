"""vidgate: one OpenAI-compatible Videos API for every video generation model.

Port code written for LiteLLM's or OpenAI's video API by changing one import::

    import vidgate as litellm

    video = await litellm.acreate_video("A cat playing with yarn", model="local/preview")

Names are imported on first use, so ``import vidgate`` stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Set ``vidgate.set_verbose = True`` to log every request (method, URL, status, time).
set_verbose: bool = False

_EXPORTS: dict[str, str] = {
    "APIConnectionError": "vidgate._exceptions",
    "APIError": "vidgate._exceptions",
    "APIStatusError": "vidgate._exceptions",
    "APITimeoutError": "vidgate._exceptions",
    "AsyncVideoClient": "vidgate._client",
    "GatewayAdmin": "vidgate._admin",
    "AuthenticationError": "vidgate._exceptions",
    "BadRequestError": "vidgate._exceptions",
    "ConflictError": "vidgate._exceptions",
    "InternalServerError": "vidgate._exceptions",
    "ModelCapabilities": "vidgate.types",
    "NotFoundError": "vidgate._exceptions",
    "OpenAIError": "vidgate._exceptions",
    "PermissionDeniedError": "vidgate._exceptions",
    "RateLimitError": "vidgate._exceptions",
    "UnprocessableEntityError": "vidgate._exceptions",
    "UnsupportedFeatureError": "vidgate._exceptions",
    "Usage": "vidgate.types",
    "Video": "vidgate.types",
    "VideoClient": "vidgate._sync_client",
    "VideoContent": "vidgate.types",
    "VideoDeleted": "vidgate.types",
    "VideoError": "vidgate.types",
    "VideoGenerationFailed": "vidgate._exceptions",
    "VideoList": "vidgate.types",
    "acreate_video": "vidgate._api",
    "avideo_content": "vidgate._api",
    "avideo_delete": "vidgate._api",
    "avideo_list": "vidgate._api",
    "avideo_remix": "vidgate._api",
    "avideo_retrieve": "vidgate._api",
    "create_video": "vidgate._api",
    "video_content": "vidgate._api",
    "video_delete": "vidgate._api",
    "video_list": "vidgate._api",
    "video_remix": "vidgate._api",
    "video_retrieve": "vidgate._api",
}

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncVideoClient",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "GatewayAdmin",
    "InternalServerError",
    "ModelCapabilities",
    "NotFoundError",
    "OpenAIError",
    "PermissionDeniedError",
    "RateLimitError",
    "UnprocessableEntityError",
    "UnsupportedFeatureError",
    "Usage",
    "Video",
    "VideoClient",
    "VideoContent",
    "VideoDeleted",
    "VideoError",
    "VideoGenerationFailed",
    "VideoList",
    "__version__",
    "acreate_video",
    "avideo_content",
    "avideo_delete",
    "avideo_list",
    "avideo_remix",
    "avideo_retrieve",
    "create_video",
    "set_verbose",
    "video_content",
    "video_delete",
    "video_list",
    "video_remix",
    "video_retrieve",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vidgate' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from ._admin import GatewayAdmin
    from ._api import (
        acreate_video,
        avideo_content,
        avideo_delete,
        avideo_list,
        avideo_remix,
        avideo_retrieve,
        create_video,
        video_content,
        video_delete,
        video_list,
        video_remix,
        video_retrieve,
    )
    from ._client import AsyncVideoClient
    from ._exceptions import (
        APIConnectionError,
        APIError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ConflictError,
        InternalServerError,
        NotFoundError,
        OpenAIError,
        PermissionDeniedError,
        RateLimitError,
        UnprocessableEntityError,
        UnsupportedFeatureError,
        VideoGenerationFailed,
    )
    from ._sync_client import VideoClient
    from .types import (
        ModelCapabilities,
        Usage,
        Video,
        VideoContent,
        VideoDeleted,
        VideoError,
        VideoList,
    )
