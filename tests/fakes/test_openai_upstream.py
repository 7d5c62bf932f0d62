"""Checks the fake OpenAI Videos upstream against the official ``openai`` SDK (spec sections
refer to /work/shared/spec/openai-videos-api.md)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai import OpenAI

from tests.fakes.openai_upstream import (
    CONTENT_TYPES,
    FakeOpenAIState,
    create_app,
    run_fake_openai,
)

# Every videos method of SDK ≥ 3.1 is marked deprecated (spec, lifecycle warning).
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

VIDEO_KEYS = {
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
ERROR_KEYS = {"message", "type", "param", "code"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture(scope="module")
def _server() -> Iterator[tuple[FakeOpenAIState, str]]:
    state = FakeOpenAIState()
    with run_fake_openai(state) as base_url:
        yield state, base_url


@pytest.fixture
def state(_server: tuple[FakeOpenAIState, str]) -> FakeOpenAIState:
    _server[0].reset()
    return _server[0]


@pytest.fixture
def base_url(_server: tuple[FakeOpenAIState, str], state: FakeOpenAIState) -> str:
    return _server[1]


@pytest.fixture
def client(base_url: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=base_url, api_key="sk-test", max_retries=0) as c:
        yield c


AUTH = {"Authorization": "Bearer sk-test"}


def _poll_to_end(client: OpenAI, video_id: str) -> openai.types.Video:
    for _ in range(20):
        video = client.videos.retrieve(video_id)
        if video.status in ("completed", "failed"):
            return video
    raise AssertionError("job never finished")


def test_base_url_and_create_multipart_without_reference(
    client: OpenAI, state: FakeOpenAIState, base_url: str
) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", base_url)
    raw = client.videos.with_raw_response.create(prompt="A cat", seconds="8", size="1280x720")
    body = raw.http_response.json()
    assert set(body) == VIDEO_KEYS  # spec §3.1: all 13 keys
    assert re.fullmatch(r"video_[0-9a-f]{48}", body["id"])
    assert body["status"] == "queued" and body["progress"] == 0
    assert body["model"] == "sora-2" and body["seconds"] == "8" and body["size"] == "1280x720"
    assert body["completed_at"] is None and body["error"] is None
    assert raw.headers["x-request-id"].startswith("req_")
    assert raw.headers["openai-poll-after-ms"] == "10"

    (req,) = state.requests_for("POST", "/v1/videos")
    assert req.content_type is not None and req.content_type.startswith("multipart/form-data")
    assert req.form == {"prompt": "A cat", "seconds": "8", "size": "1280x720"}
    assert req.files == []
    assert req.headers["authorization"] == "Bearer sk-test"
    assert req.status == 200
    assert state.jobs_created == 1


def test_create_multipart_with_reference_file(client: OpenAI, state: FakeOpenAIState) -> None:
    video = client.videos.create(prompt="A dog", input_reference=("ref.png", PNG, "image/png"))
    (req,) = state.requests
    (file,) = req.files
    assert (file.name, file.filename, file.content_type, file.data) == (
        "input_reference",
        "ref.png",
        "image/png",
        PNG,
    )
    job = state.jobs[video.id]
    assert job.input_reference is not None and job.input_reference["file"].data == PNG
    assert video.model == "sora-2" and video.seconds == "4" and video.size == "720x1280"


def test_create_json_and_input_reference_errors(state: FakeOpenAIState, base_url: str) -> None:
    body = {
        "prompt": "A teapot",
        "model": "sora-2-pro",
        "seconds": "12",
        "size": "1792x1024",
        "input_reference": {"image_url": "https://example.com/a.png"},
        "characters": [{"id": "char_123"}],
    }
    resp = httpx.post(f"{base_url}/videos", json=body, headers=AUTH)
    assert resp.status_code == 200
    video = resp.json()
    assert set(video) == VIDEO_KEYS and video["model"] == "sora-2-pro"
    assert state.requests[-1].json == body
    job = state.jobs[video["id"]]
    assert job.input_reference == {"image_url": "https://example.com/a.png"}
    assert job.extra == {"characters": [{"id": "char_123"}]}

    # spec §4.1: a bare string is rejected, with wording depending on the content type.
    resp = httpx.post(
        f"{base_url}/videos", json={"prompt": "x", "input_reference": "https://a"}, headers=AUTH
    )
    assert resp.status_code == 400
    assert resp.json() == {
        "error": {
            "message": "Invalid type for 'input_reference': expected an object, but got a "
            "string instead.",
            "type": "invalid_request_error",
            "param": "input_reference",
            "code": "invalid_type",
        }
    }
    resp = httpx.post(
        f"{base_url}/videos",
        files={"prompt": (None, "x"), "input_reference": (None, "https://a")},
        headers=AUTH,
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["message"] == (
        "Invalid type for 'input_reference': expected a file, but got a string instead."
    )
    # spec §4.1: integer seconds.
    resp = httpx.post(f"{base_url}/videos", json={"prompt": "x", "seconds": 8}, headers=AUTH)
    assert resp.json()["error"] == {
        "message": "Invalid type for 'seconds': expected one of '4', '8', or '12', but got an "
        "integer instead.",
        "type": "invalid_request_error",
        "param": "seconds",
        "code": "invalid_type",
    }
    resp = httpx.post(f"{base_url}/videos", json={"model": "sora-2"}, headers=AUTH)
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "prompt"
    resp = httpx.post(f"{base_url}/videos", content=b"{nope", headers=AUTH)
    assert resp.status_code == 400 and set(resp.json()["error"]) == ERROR_KEYS
    assert state.jobs_created == 1


def test_retrieve_progression(client: OpenAI, state: FakeOpenAIState) -> None:
    created = client.videos.create(prompt="A cat")
    seen = []
    for _ in range(3):
        raw = client.videos.with_raw_response.retrieve(created.id)
        video = raw.parse()
        seen.append((video.status, video.progress, raw.headers.get("openai-poll-after-ms")))
        assert raw.headers["x-request-id"]
    assert seen == [("in_progress", 33, "10"), ("in_progress", 66, "10"), ("completed", 100, None)]
    assert video.completed_at is not None and video.completed_at >= created.created_at
    assert video.expires_at == created.created_at + 86400
    # Terminal jobs stay terminal.
    assert client.videos.retrieve(created.id).status == "completed"


def test_create_and_poll_honours_poll_after_header(client: OpenAI, state: FakeOpenAIState) -> None:
    state.polls_to_complete = 4
    start = time.monotonic()
    video = client.videos.create_and_poll(prompt="A cat")
    assert time.monotonic() - start < 0.8  # the SDK default would be 1 s per poll (spec §6)
    assert video.status == "completed"
    polls = state.requests_for("GET", "/v1/videos/{id}")
    assert len(polls) == 4
    assert all(r.headers["x-stainless-poll-helper"] == "true" for r in polls)


def test_download_content_variants(client: OpenAI, state: FakeOpenAIState, base_url: str) -> None:
    video = client.videos.create(prompt="A cat")
    with pytest.raises(openai.BadRequestError) as info:  # before completion: 400 (fake's choice)
        client.videos.download_content(video.id)
    assert info.value.code == "video_not_ready"
    _poll_to_end(client, video.id)
    for variant, content_type in CONTENT_TYPES.items():
        raw = client.videos.with_raw_response.download_content(video.id, variant=variant)  # type: ignore[arg-type]
        data = raw.content
        assert raw.headers["content-type"] == content_type
        assert int(raw.headers["content-length"]) == len(data) == state.content_size(variant)
        assert data == state.expected_content(video.id, variant)
    assert client.videos.download_content(video.id).content[4:8] == b"ftyp"
    with client.videos.with_streaming_response.download_content(video.id) as streamed:
        chunks = list(streamed.iter_bytes(chunk_size=None))
    assert b"".join(chunks) == state.expected_content(video.id)
    downloads = state.requests_for("GET", "/v1/videos/{id}/content")
    assert downloads[-1].headers["accept"] == "application/binary"
    assert downloads[-1].query == {}  # the SDK omits variant when not given (spec §2.3)

    resp = httpx.get(f"{base_url}/videos/{video.id}/content?variant=gif", headers=AUTH)
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "variant"
    with pytest.raises(openai.NotFoundError) as nf:
        client.videos.download_content("video_nope")
    assert nf.value.code == "not_found" and nf.value.request_id


def test_list_pagination(client: OpenAI, state: FakeOpenAIState) -> None:
    ids = [client.videos.create(prompt=f"clip {i}").id for i in range(5)]
    assert [v.id for v in client.videos.list(limit=2)] == ids[::-1]  # default order desc
    pages = state.requests_for("GET", "/v1/videos")
    assert [r.query for r in pages] == [
        {"limit": "2"},
        {"limit": "2", "after": ids[3]},
        {"limit": "2", "after": ids[1]},
    ]
    page = client.videos.list(limit=3, order="asc")
    assert [v.id for v in page.data] == ids[:3] and page.has_more
    raw = client.videos.with_raw_response.list(order="asc", after=ids[2]).http_response.json()
    assert raw == {
        "object": "list",
        "data": [state.video(ids[3]), state.video(ids[4])],
        "first_id": ids[3],
        "last_id": ids[4],
        "has_more": False,
    }
    for bad in (101, -1):
        with pytest.raises(openai.BadRequestError) as info:
            client.videos.list(limit=bad)
        assert info.value.param == "limit"


def test_delete(client: OpenAI, state: FakeOpenAIState) -> None:
    video = client.videos.create(prompt="A cat")
    with pytest.raises(openai.BadRequestError):  # still queued (fake's choice, spec §2.4)
        client.videos.delete(video.id)
    state.complete(video.id)
    deleted = client.videos.delete(video.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (video.id, "video.deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    with pytest.raises(openai.NotFoundError):
        client.videos.delete(video.id)
    assert [v.id for v in client.videos.list()] == []


def test_remix(client: OpenAI, state: FakeOpenAIState) -> None:
    source = client.videos.create(prompt="A cat", seconds="8", size="1280x720")
    with pytest.raises(openai.BadRequestError) as info:
        client.videos.remix(source.id, prompt="make it blue")
    assert info.value.code == "video_not_ready"
    _poll_to_end(client, source.id)
    remix = client.videos.remix(source.id, prompt="make it blue")
    assert remix.remixed_from_video_id == source.id and remix.status == "queued"
    assert (remix.seconds, remix.size, remix.prompt) == ("8", "1280x720", "make it blue")
    assert state.requests[-1].json == {"prompt": "make it blue"}
    assert state.jobs_created == 2


def test_failed_job(client: OpenAI, state: FakeOpenAIState) -> None:
    video = client.videos.create_and_poll(prompt="please FAIL this")
    assert video.status == "failed" and video.progress == 0
    assert video.error is not None
    assert (video.error.code, video.error.message) == (
        "moderation_blocked",
        "Your request was blocked by our moderation system.",
    )
    assert state.requests[-1].status == 200  # spec §2.2: a failed job is not an HTTP error


def test_auth_errors(base_url: str, state: FakeOpenAIState) -> None:
    with (
        OpenAI(base_url=base_url, api_key="sk-wrong-key", max_retries=0) as bad,
        pytest.raises(openai.AuthenticationError) as info,
    ):
        bad.videos.list()
    assert info.value.code == "invalid_api_key" and info.value.type == "invalid_request_error"
    resp = httpx.get(f"{base_url}/videos")
    assert resp.status_code == 401 and set(resp.json()["error"]) == ERROR_KEYS
    resp = httpx.get(f"{base_url}/nope", headers=AUTH)
    assert resp.status_code == 404
    assert resp.json()["error"]["message"] == "Invalid URL (GET /v1/nope)"


def test_injected_429_is_retried_once_created(base_url: str, state: FakeOpenAIState) -> None:
    fault = state.inject(
        method="POST", path="/v1/videos", status=429, headers={"retry-after-ms": "10"}, times=2
    )
    with OpenAI(base_url=base_url, api_key="sk-test", max_retries=2) as c:
        video = c.videos.create(prompt="A cat")
    assert video.status == "queued" and fault.served == 2
    posts = state.requests_for("POST", "/v1/videos")
    assert [r.status for r in posts] == [429, 429, 200]
    assert [r.headers["x-stainless-retry-count"] for r in posts] == ["0", "1", "2"]
    assert state.jobs_created == 1 and len(state.videos()) == 1


def test_injected_500_after_processing_creates_the_job(
    base_url: str, client: OpenAI, state: FakeOpenAIState
) -> None:
    state.inject(method="POST", path="/v1/videos", status=500, process_request=True)
    with pytest.raises(openai.InternalServerError):
        client.videos.create(prompt="A cat")
    assert state.jobs_created == 1
    # The SDK retries 5xx, so a retried create duplicates a paid job (spec §5).
    state.inject(
        method="POST",
        path="/v1/videos",
        status=500,
        process_request=True,
        headers={"retry-after-ms": "1"},
    )
    with OpenAI(base_url=base_url, api_key="sk-test", max_retries=1) as c:
        c.with_options(timeout=5).videos.create(prompt="A dog")
    assert state.jobs_created == 3


def test_x_should_retry_and_non_json_body(
    base_url: str, client: OpenAI, state: FakeOpenAIState
) -> None:
    video = client.videos.create(prompt="A cat")
    state.inject(
        method="GET",
        path="/v1/videos/{id}",
        status=500,
        body="<html>upstream exploded</html>",
        content_type="text/html",
        headers={"x-should-retry": "false"},
    )
    with OpenAI(base_url=base_url, api_key="sk-test", max_retries=2) as c:
        with pytest.raises(openai.InternalServerError) as info:
            c.videos.retrieve(video.id)
        assert info.value.body == "<html>upstream exploded</html>"
        assert len(state.requests_for("GET", "/v1/videos/*")) == 1  # not retried
        state.inject(
            method="GET",
            path=f"/v1/videos/{video.id}",
            status=400,
            headers={"x-should-retry": "true", "retry-after-ms": "1"},
        )
        assert c.videos.retrieve(video.id).status == "in_progress"  # retried past the 400


def test_dropped_connection(base_url: str, client: OpenAI, state: FakeOpenAIState) -> None:
    video = client.videos.create(prompt="A cat")
    state.inject(method="GET", path="/v1/videos/{id}", drop_connection=True)
    with pytest.raises(openai.APIConnectionError):
        client.videos.retrieve(video.id)
    assert state.requests[-1].status is None  # no response was sent
    state.inject(method="GET", path="/v1/videos/{id}", drop_connection=True)
    with OpenAI(base_url=base_url, api_key="sk-test", max_retries=1) as c:
        assert c.videos.retrieve(video.id).status == "in_progress"


def test_azure_mode() -> None:
    state = FakeOpenAIState(azure=True, azure_deployments=("my-sora",), api_key="az-key")
    with run_fake_openai(state) as base_url:
        assert base_url.endswith("/openai/v1")
        resp = httpx.post(
            f"{base_url}/videos",
            json={"prompt": "A cat", "model": "my-sora"},
            headers={"api-key": "az-key"},
        )
        assert resp.status_code == 200 and resp.json()["model"] == "my-sora"
        with OpenAI(base_url=base_url, api_key="az-key", max_retries=0) as c:  # Bearer
            video = c.videos.create(prompt="A dog", model="my-sora", size="1280x720")
            assert c.videos.retrieve(video.id).status == "in_progress"
            with pytest.raises(openai.NotFoundError) as info:
                c.videos.create(prompt="A dog")  # default "sora-2" is not a deployment
            assert info.value.code == "DeploymentNotFound"
            with pytest.raises(openai.BadRequestError):
                c.videos.create(prompt="x", model="my-sora", size="1792x1024")
        resp = httpx.get(f"{base_url}/videos", headers={"api-key": "wrong"})
        assert resp.status_code == 401 and set(resp.json()["error"]) == ERROR_KEYS
        root = base_url.removesuffix("/openai/v1")
        assert httpx.get(f"{root}/v1/videos", headers={"api-key": "az-key"}).status_code == 404
    assert state.jobs_created == 2


@pytest.mark.asyncio
async def test_in_process_asgi_transport() -> None:
    state = FakeOpenAIState()
    transport = httpx.ASGITransport(app=create_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as http:
        resp = await http.post("/v1/videos", json={"prompt": "A cat"}, headers=AUTH)
        assert resp.status_code == 200 and resp.headers["x-request-id"]
        resp = await http.get(f"/v1/videos/{resp.json()['id']}", headers=AUTH)
        assert resp.json()["status"] == "in_progress"
    assert state.jobs_created == 1
