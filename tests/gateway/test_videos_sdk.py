"""The official ``openai`` SDK against a real ``vidgate serve`` running the local engine."""

from __future__ import annotations

import base64

import pytest

from .conftest import Gateway, is_mp4, png_bytes, wait_done

SPEC_VIDEO_KEYS = {
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
}


@pytest.fixture(scope="module")
def key(gateway: Gateway) -> str:
    return gateway.new_key(key_alias="sdk")


@pytest.fixture(scope="module")
def finished(gateway: Gateway, key: str) -> str:
    """One completed video, made with ``create_and_poll`` (shared by the read-only tests)."""
    client = gateway.openai(key)
    video = client.videos.create_and_poll(
        prompt="A cat playing with yarn", model="sora-2", seconds="1", size="720x1280"
    )
    assert video.status == "completed", video
    assert video.progress == 100
    assert video.completed_at is not None
    return video.id


def test_create_multipart_as_the_sdk_sends_it(gateway: Gateway, key: str) -> None:
    client = gateway.openai(key)
    raw = client.videos.with_raw_response.create(
        prompt="A red fox", model="local/preview", seconds="1", size="1280x720"
    )
    assert raw.http_request.headers["content-type"].startswith("multipart/form-data")
    video = raw.parse()
    assert video.id.startswith("video_") and len(video.id) == 6 + 48
    int(video.id[6:], 16)  # hex
    assert (video.status, video.model, video.seconds, video.size, video.prompt) == (
        "queued",
        "local/preview",
        "1",
        "1280x720",
        "A red fox",
    )
    body = raw.http_response.json()
    assert set(body) >= SPEC_VIDEO_KEYS
    assert body["usage"] == {"seconds": 1.0, "cost_usd": 0.0}
    assert raw.headers["openai-poll-after-ms"] == "100"
    assert raw.headers["x-request-id"].startswith("req_")


def test_create_json_with_integer_seconds(gateway: Gateway, key: str) -> None:
    with gateway.http(key) as http:
        reply = http.post(
            "/v1/videos", json={"prompt": "A lighthouse", "model": "sora-2", "seconds": 2}
        )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["seconds"] == "2" and body["size"] == "720x1280"  # the model's default size
    assert body["usage"]["cost_usd"] == pytest.approx(0.2)
    assert reply.headers["x-vidgate-cost-usd"] == "0.2000"
    assert set(body) == SPEC_VIDEO_KEYS | {"usage"}
    for nullable in ("completed_at", "expires_at", "remixed_from_video_id", "error"):
        assert body[nullable] is None


def test_create_with_reference_image_multipart_and_download(gateway: Gateway, key: str) -> None:
    client = gateway.openai(key)
    video = client.videos.create(
        prompt="Continue the scene",
        model="local/preview",
        seconds="1",
        size="720x1280",
        input_reference=("start.png", png_bytes(), "image/png"),
    )
    done = wait_done(client, video.id)
    assert done.status == "completed", done.error
    data = client.videos.download_content(video.id).read()
    assert is_mp4(data)


def test_create_with_image_url_object_in_json(gateway: Gateway, key: str) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    with gateway.http(key) as http:
        reply = http.post(
            "/v1/videos",
            json={
                "prompt": "From a data URL",
                "model": "local/preview",
                "seconds": "1",
                "input_reference": {"image_url": data_url},
            },
        )
    assert reply.status_code == 200, reply.text
    done = wait_done(gateway.openai(key), reply.json()["id"])
    assert done.status == "completed", done.error


def test_retrieve_and_download_every_variant(gateway: Gateway, key: str, finished: str) -> None:
    client = gateway.openai(key)
    video = client.videos.retrieve(finished)
    assert video.status == "completed" and video.usage == {"seconds": 1.0, "cost_usd": 0.1}
    content = client.videos.download_content(finished)
    assert is_mp4(content.content)
    assert content.response.headers["content-type"] == "video/mp4"
    assert int(content.response.headers["content-length"]) == len(content.content)
    thumb = client.videos.download_content(finished, variant="thumbnail")
    assert thumb.response.headers["content-type"] == "image/webp"
    assert thumb.content[:4] == b"RIFF" and thumb.content[8:12] == b"WEBP"
    sprite = client.videos.download_content(finished, variant="spritesheet")
    assert sprite.response.headers["content-type"] == "image/jpeg"
    assert sprite.content[:3] == b"\xff\xd8\xff"


def test_streaming_download_and_range(gateway: Gateway, key: str, finished: str) -> None:
    client = gateway.openai(key)
    whole = client.videos.download_content(finished).content
    with client.videos.with_streaming_response.download_content(finished) as response:
        chunks = list(response.iter_bytes(4096))
    assert b"".join(chunks) == whole and len(chunks) > 1
    with gateway.http(key) as http:
        part = http.get(f"/v1/videos/{finished}/content", headers={"Range": "bytes=10-109"})
    assert part.status_code == 206
    assert part.content == whole[10:110]
    assert part.headers["content-range"] == f"bytes 10-109/{len(whole)}"


def test_auto_paginating_list(gateway: Gateway) -> None:
    key = gateway.new_key(key_alias="lister")
    client = gateway.openai(key)
    made = [
        client.videos.create(prompt=f"clip {i}", model="local/preview", seconds="1").id
        for i in range(5)
    ]
    page = client.videos.list(limit=2)
    assert [v.id for v in page.data] == made[::-1][:2]
    assert page.has_more is True
    everything = [v.id for v in client.videos.list(limit=2)]  # follows after=last_id
    assert everything == made[::-1]
    ascending = [v.id for v in client.videos.list(limit=3, order="asc")]
    assert ascending == made
    last = client.videos.list(limit=2, after=made[1], order="asc")
    assert [v.id for v in last.data] == made[2:4]
    empty = client.videos.list(limit=0)
    assert empty.data == [] and empty.has_more is True


def test_delete(gateway: Gateway, key: str) -> None:
    import openai

    client = gateway.openai(key)
    video = client.videos.create_and_poll(prompt="to delete", model="local/preview", seconds="1")
    deleted = client.videos.delete(video.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (video.id, "video.deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    with pytest.raises(openai.NotFoundError):
        client.videos.download_content(video.id)
    assert video.id not in [v.id for v in client.videos.list()]


def test_remix(gateway: Gateway, key: str, finished: str) -> None:
    client = gateway.openai(key)
    remix = client.videos.remix(finished, prompt="Make it blue")
    assert remix.remixed_from_video_id == finished
    assert remix.id != finished and remix.prompt == "Make it blue"
    done = wait_done(client, remix.id)
    assert done.status == "completed", done.error
    assert is_mp4(client.videos.download_content(remix.id).content)


def test_models_lists_the_configured_names(gateway: Gateway, key: str) -> None:
    names = [m.id for m in gateway.openai(key).models.list()]
    assert names == ["local/preview", "sora-2", "sora-2-pro"]
