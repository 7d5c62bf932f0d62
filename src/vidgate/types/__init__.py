"""Public data types: the OpenAI Video object and friends, and model capabilities."""

from .capabilities import ModelCapabilities
from .content import VideoContent
from .video import (
    Usage,
    Video,
    VideoContentVariant,
    VideoDeleted,
    VideoError,
    VideoList,
    VideoStatus,
)

__all__ = [
    "ModelCapabilities",
    "Usage",
    "Video",
    "VideoContent",
    "VideoContentVariant",
    "VideoDeleted",
    "VideoError",
    "VideoList",
    "VideoStatus",
]
