"""The OpenAI Video object (spec §3.1), its list page, delete response and usage.

Every model accepts unknown fields and keeps them, so an upstream that adds a field does not
break callers; nullable fields are always present when serialized.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

VideoStatus = Literal["queued", "in_progress", "completed", "failed"]
VideoContentVariant = Literal["video", "thumbnail", "spritesheet"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed"})
# What each variant is served as (spec §2.3; the spritesheet's type is the guide's JPEG), and
# the file it is kept in wherever vidgate stores one (the local engine, the gateway).
CONTENT_TYPES: dict[str, str] = {
    "video": "video/mp4",
    "thumbnail": "image/webp",
    "spritesheet": "image/jpeg",
}
VARIANTS: tuple[VideoContentVariant, ...] = ("video", "thumbnail", "spritesheet")
VARIANT_FILES: dict[str, str] = {
    "video": "video.mp4",
    "thumbnail": "thumbnail.webp",
    "spritesheet": "spritesheet.jpg",
}
# The Video object's keys, in the spec's order (§3.1): every one present, null when unknown.
VIDEO_FIELDS: tuple[str, ...] = (
    "id",
    "object",
    "model",
    "status",
    "progress",
    "created_at",
    "completed_at",
    "expires_at",
    "prompt",
    "size",
    "seconds",
    "remixed_from_video_id",
    "error",
)


def video_json(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The Video object as JSON, from any mapping holding its fields (a job record, a stored
    job): the 13 keys of :data:`VIDEO_FIELDS`, ``object`` always ``"video"``. Cheap enough for
    every status poll (no model is built)."""
    data = {key: fields.get(key) for key in VIDEO_FIELDS}
    data["object"] = "video"
    return data


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class VideoError(_Model):
    """Why a job failed (spec §3.2), e.g. ``{"code": "moderation_blocked", "message": ...}``."""

    code: str
    message: str


class Usage(_Model):
    """What a video costs: seconds of output and the price from vidgate's price table."""

    seconds: float
    cost_usd: float | None = None


class Video(_Model):
    """A video job, as OpenAI's ``GET /v1/videos/{id}`` returns it, plus ``usage``."""

    id: str
    object: Literal["video"] = "video"
    model: str
    status: VideoStatus
    progress: int = 0
    created_at: int
    completed_at: int | None = None
    expires_at: int | None = None
    prompt: str | None = None
    size: str
    seconds: str
    remixed_from_video_id: str | None = None
    error: VideoError | None = None
    usage: Usage | None = None

    @property
    def done(self) -> bool:
        """True once the job is ``completed`` or ``failed``."""
        return self.status in TERMINAL_STATUSES


class VideoList(_Model):
    """One page of ``GET /v1/videos`` (spec §2.5)."""

    object: Literal["list"] = "list"
    data: list[Video] = Field(default_factory=list)
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


class VideoDeleted(_Model):
    """The response of ``DELETE /v1/videos/{id}`` (spec §3.3)."""

    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool = True
