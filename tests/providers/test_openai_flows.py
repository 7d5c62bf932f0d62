"""The ``openai`` adapter is sans-IO: its flows are driven here with fixture responses, with
no engine and no network (../shared/STYLE.md habit 2)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vidgate._models import Credentials, Request, Response
from vidgate.providers.openai import OpenAIProvider
from vidgate.types.params import CreateParams, ImageInput
from vidgate.types.video import Video

PROVIDER = OpenAIProvider(Credentials(api_key="sk-x", api_base="https://gw.example/v1/"))
NOW = 1_800_000_000.0  # when a canned response "arrived"

COMPLETED = {
    "id": "video_1",
    "object": "video",
    "model": "sora-2",
    "status": "completed",
    "progress": 100,
    "created_at": 1,
    "completed_at": 2,
    "expires_at": 3,
    "prompt": "p",
    "size": "720x1280",
    "seconds": "4",
    "remixed_from_video_id": None,
    "error": None,
    "quality": "standard",
}


def drive(flow: Any, *responses: Response) -> tuple[list[Request], Any]:
    """Run a flow against canned responses; return the requests it made and its result."""
    sent = [next(flow)]
    for response in responses:
        try:
            sent.append(flow.send(response))
        except StopIteration as stop:
            return sent, stop.value
    raise AssertionError("the flow wanted more responses than the fixture has")


def ok(body: dict[str, Any]) -> Response:
    return Response(200, {"content-type": "application/json"}, json.dumps(body).encode())


def test_create_json_then_parse() -> None:
    params = CreateParams(
        prompt="p",
        model="sora-2",
        seconds="4",
        size="720x1280",
        extra_body={"seed": 1},
        idempotency_key="k",
    )
    sent, video = drive(PROVIDER.create(params), ok({**COMPLETED, "status": "queued"}))
    [req] = sent
    assert (req.method, req.url) == ("POST", "https://gw.example/v1/videos")
    assert req.json == {
        "prompt": "p",
        "model": "sora-2",
        "seconds": "4",
        "size": "720x1280",
        "seed": 1,
    }
    assert req.headers["Authorization"] == "Bearer sk-x" and req.headers["Idempotency-Key"] == "k"
    assert req.creates_job and isinstance(video, Video) and video.status == "queued"


def test_create_with_image_bytes_is_multipart_with_text_fields() -> None:
    ref = ImageInput(filename="a.png", data=b"\x89PNG", content_type="image/png")
    params = CreateParams(
        prompt="p",
        model="sora-2",
        seconds="8",
        size="1280x720",
        input_reference=ref,
        extra_body={"characters": [{"id": "c"}]},
    )
    [req], _ = drive(PROVIDER.create(params), ok(COMPLETED))
    assert req.json is None and req.files == {"input_reference": ("a.png", b"\x89PNG", "image/png")}
    assert req.data == {
        "prompt": "p",
        "model": "sora-2",
        "seconds": "8",
        "size": "1280x720",
        "characters": '[{"id": "c"}]',
    }


def test_unknown_fields_are_kept_and_statuses_normalized() -> None:
    video = PROVIDER.parse_video(COMPLETED, now=NOW)
    assert video.model_extra == {"quality": "standard"}
    assert video.model_dump()["quality"] == "standard"
    cancelled = PROVIDER.parse_video({**COMPLETED, "status": "cancelled"}, now=NOW)
    assert cancelled.status == "failed" and cancelled.error is not None
    assert cancelled.error.code == "cancelled"
    odd = PROVIDER.parse_video({**COMPLETED, "status": "warming_up", "seconds": 8}, now=NOW)
    assert odd.status == "in_progress" and odd.seconds == "8"
    assert odd.model_extra is not None and odd.model_extra["upstream_status"] == "warming_up"


def test_minimal_body_gets_every_nullable_field() -> None:
    video = PROVIDER.parse_video({"id": "video_2", "status": "queued"}, now=NOW)
    dumped = video.model_dump()
    for key in ("completed_at", "expires_at", "prompt", "remixed_from_video_id", "error"):
        assert key in dumped and dumped[key] is None
    assert video.created_at == int(NOW)  # no created_at sent: the response's arrival time


def test_content_flow_needs_no_metadata_request() -> None:
    flow = PROVIDER.content("video_1", model="", variant="thumbnail")
    with pytest.raises(StopIteration) as stop:
        next(flow)
    source = stop.value.value
    assert source.request.url == "https://gw.example/v1/videos/video_1/content"
    assert source.request.params == {"variant": "thumbnail"}
    assert source.request.headers["Accept"] == "application/binary"
    assert source.content_type == "image/webp"


def test_list_and_remix_requests() -> None:
    page = {
        "object": "list",
        "data": [COMPLETED],
        "first_id": "video_1",
        "last_id": "video_1",
        "has_more": False,
    }
    [req], result = drive(PROVIDER.list(limit=0, after="video_0", order="asc"), ok(page))
    assert req.params == {"limit": "0", "after": "video_0", "order": "asc"}
    assert [v.id for v in result.data] == ["video_1"]
    [req], remix = drive(
        PROVIDER.remix("video_1", model="", prompt="blue"),
        ok({**COMPLETED, "remixed_from_video_id": "video_1"}),
    )
    assert req.url.endswith("/videos/video_1/remix") and req.json == {"prompt": "blue"}
    assert req.creates_job and remix.remixed_from_video_id == "video_1"


def test_error_bodies_map_to_the_openai_classes() -> None:
    from vidgate import NotFoundError, RateLimitError

    body = {
        "error": {
            "message": "nope",
            "type": "invalid_request_error",
            "param": "video_id",
            "code": "not_found",
        }
    }
    err = PROVIDER.parse_error(Response(404, {"x-request-id": "req_1"}, json.dumps(body).encode()))
    assert isinstance(err, NotFoundError)
    assert (err.message, err.param, err.code, err.request_id) == (
        "nope",
        "video_id",
        "not_found",
        "req_1",
    )
    raw = PROVIDER.parse_error(Response(429, {"retry-after": "2"}, b"slow down"))
    assert isinstance(raw, RateLimitError) and raw.body == "slow down"
    assert raw.headers["retry-after"] == "2"
