"""The ``openai`` provider against the fake OpenAI Videos upstream on loopback (spec §2–§6).

Retry waits are recorded by an injected ``sleep`` instead of being slept, so the tests check
exactly which delays the SDK chose.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

import vidgate
from tests.fakes.clock import Sleeps
from tests.fakes.openai_upstream import FakeOpenAIState, run_fake_openai
from vidgate import (
    APIConnectionError,
    APITimeoutError,
    AsyncVideoClient,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    VideoGenerationFailed,
)
from vidgate._engine import Engine

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x40" * 2 + b"\x00" * 24  # 64x64


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
def client(
    _server: tuple[FakeOpenAIState, str], state: FakeOpenAIState, sleeps: Sleeps
) -> AsyncVideoClient:
    return AsyncVideoClient(
        api_key="sk-test", api_base=_server[1], engine=Engine(sleep=sleeps, rand=lambda: 0.0)
    )


async def test_create_sends_json_and_returns_a_full_video(
    client: AsyncVideoClient, state: FakeOpenAIState
) -> None:
    video = await client.create("A cat", model="sora-2", seconds="8", size="1280x720")
    [sent] = state.requests_for("POST", "/v1/videos")
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.content_type.startswith("application/json")
    assert sent.json == {"prompt": "A cat", "model": "sora-2", "seconds": "8", "size": "1280x720"}
    assert video.id == state.videos()[0]["id"]
    assert (video.status, video.model, video.seconds, video.size) == (
        "queued",
        "sora-2",
        "8",
        "1280x720",
    )
    dumped = video.model_dump()
    for key in ("completed_at", "expires_at", "remixed_from_video_id", "error"):
        assert key in dumped and dumped[key] is None
    assert video.usage is not None and video.usage.cost_usd == pytest.approx(0.80)


async def test_create_with_a_file_sends_multipart(
    client: AsyncVideoClient, state: FakeOpenAIState, tmp_path: Path
) -> None:
    path = tmp_path / "start.png"
    path.write_bytes(PNG)
    await client.create(
        "Walk away",
        model="sora-2-pro",
        size="1792x1024",
        input_reference=path,
        extra_body={"characters": [{"id": "char_1"}]},
    )
    [sent] = state.requests_for("POST", "/v1/videos")
    assert sent.content_type.startswith("multipart/form-data")
    assert sent.form["prompt"] == "Walk away" and sent.form["size"] == "1792x1024"
    [part] = sent.files
    assert (part.name, part.filename, part.content_type, part.data) == (
        "input_reference",
        "start.png",
        "image/png",
        PNG,
    )


async def test_url_reference_goes_as_json_object(
    client: AsyncVideoClient, state: FakeOpenAIState
) -> None:
    await client.create("x", input_reference="https://example.com/first.png")
    [sent] = state.requests_for("POST", "/v1/videos")
    assert sent.json["input_reference"] == {"image_url": "https://example.com/first.png"}


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x" * 32_001}, "prompt"),
        ({"seconds": "5"}, "seconds"),
        ({"seconds": 4.5}, "seconds"),
        ({"size": "1024x1792"}, "size"),  # sora-2-pro only
        ({"size": "big"}, "size"),
        ({"input_reference": b"not an image"}, "input_reference"),
        ({"input_reference": "/no/such/file.png"}, "input_reference"),
        ({"input_reference": ("a.png", "text", "image/png")}, "input_reference"),
        ({"model": "nosuch/model"}, "model"),
    ],
)
async def test_bad_input_is_refused_before_any_request(
    client: AsyncVideoClient, state: FakeOpenAIState, kwargs: dict[str, object], param: str
) -> None:
    args: dict[str, object] = {"prompt": "A cat", "model": "sora-2", **kwargs}
    with pytest.raises(BadRequestError) as info:
        await client.create(**args)  # type: ignore[arg-type]
    assert info.value.param == param
    assert info.value.status_code == 400
    assert state.requests == []


async def test_wait_polls_with_the_servers_hint_to_completion(
    client: AsyncVideoClient, state: FakeOpenAIState, sleeps: Sleeps
) -> None:
    state.poll_after_ms = 250
    seen: list[tuple[str, int]] = []
    video = await client.create_and_poll(
        "A cat", on_progress=lambda v: seen.append((v.status, v.progress))
    )
    assert video.status == "completed" and video.progress == 100
    assert seen[0] == ("queued", 0) and seen[-1] == ("completed", 100)
    assert [p for _, p in seen] == sorted(p for _, p in seen)
    assert sleeps.calls and all(s == 0.25 for s in sleeps.calls)


async def test_wait_raises_with_the_providers_reason_on_failure(
    client: AsyncVideoClient, state: FakeOpenAIState
) -> None:
    video = await client.create("FAIL please")
    with pytest.raises(VideoGenerationFailed) as info:
        await client.wait(video.id)
    assert info.value.code == "moderation_blocked"
    assert info.value.video.status == "failed"
    assert "moderation" in str(info.value)


async def test_wait_stops_at_the_deadline(
    _server: tuple[FakeOpenAIState, str], state: FakeOpenAIState
) -> None:
    state.polls_to_complete = 1000
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    client = AsyncVideoClient(
        api_key="sk-test", api_base=_server[1], engine=Engine(sleep=sleep), clock=lambda: now[0]
    )
    video = await client.create("slow")
    with pytest.raises(APITimeoutError, match="still in_progress"):
        await client.wait(video.id, deadline=0.5, poll_interval=0.2)
    assert now[0] == pytest.approx(0.5)


async def test_content_variants_read_and_streamed(
    client: AsyncVideoClient, state: FakeOpenAIState, tmp_path: Path
) -> None:
    video = await client.create("A cat")
    state.complete(state.videos()[0]["id"])
    upstream_id = video.id
    for variant, ctype in [
        ("video", "video/mp4"),
        ("thumbnail", "image/webp"),
        ("spritesheet", "image/jpeg"),
    ]:
        content = await client.download_content(video.id, variant=variant)  # type: ignore[arg-type]
        assert content.content_type == ctype
        assert content.content == state.expected_content(upstream_id, variant)
    streamed = await client.download_content(video.id, stream=True)
    with pytest.raises(RuntimeError):
        _ = streamed.content
    chunks = [c async for c in streamed.aiter_bytes(1000)]
    assert max(len(c) for c in chunks) == 1000
    assert b"".join(chunks) == state.expected_content(upstream_id, "video")
    out = await client.download_to_file(video.id, tmp_path / "cat.mp4")
    assert out.read_bytes() == state.expected_content(upstream_id, "video")
    [first] = state.requests_for("GET", "/v1/videos/{id}/content")[:1]
    assert first.headers["accept"] == "application/binary"
    assert "variant" not in first.query


async def test_list_pages_with_cursor(client: AsyncVideoClient, state: FakeOpenAIState) -> None:
    ids = [(await client.create(f"clip {i}")).id for i in range(5)]
    page = await client.list(limit=2)
    assert [v.id for v in page.data] == ids[::-1][:2]
    assert page.has_more and page.first_id == ids[4] and page.last_id == ids[3]
    seen = [v.id for v in page.data]
    while page.has_more:
        page = await client.list(limit=2, after=page.last_id)
        seen += [v.id for v in page.data]
    assert seen == ids[::-1]
    asc = await client.list(order="asc", limit=100)
    assert [v.id for v in asc.data] == ids


async def test_delete_then_retrieve_is_not_found(
    client: AsyncVideoClient, state: FakeOpenAIState
) -> None:
    video = await client.create("A cat")
    state.complete(video.id)
    deleted = await client.delete(video.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (video.id, "video.deleted", True)
    with pytest.raises(NotFoundError) as info:
        await client.retrieve(video.id)
    assert info.value.status_code == 404 and info.value.request_id
    assert info.value.type == "invalid_request_error"


async def test_remix_links_the_source(client: AsyncVideoClient, state: FakeOpenAIState) -> None:
    video = await client.create("A cat")
    state.complete(video.id)
    remix = await client.remix(video.id, prompt="make it blue")
    assert remix.remixed_from_video_id == video.id and remix.id != video.id
    [sent] = state.requests_for("POST", "/v1/videos/{id}/remix")
    assert sent.json == {"prompt": "make it blue"}


async def test_errors_carry_the_openai_error_body(
    _server: tuple[FakeOpenAIState, str], state: FakeOpenAIState
) -> None:
    client = AsyncVideoClient(api_key="sk-wrong", api_base=_server[1])
    with pytest.raises(AuthenticationError) as info:
        await client.retrieve("video_123")
    err = info.value
    assert err.status_code == 401 and err.code == "invalid_api_key"
    assert isinstance(err, vidgate.OpenAIError) and err.message in str(err)


async def test_429_on_create_is_retried_with_the_servers_delay(
    client: AsyncVideoClient, state: FakeOpenAIState, sleeps: Sleeps
) -> None:
    fault = state.inject(
        method="POST", path="/v1/videos", status=429, headers={"retry-after-ms": "10"}, times=2
    )
    video = await client.create("A cat")
    assert fault.served == 2 and state.jobs_created == 1 and video.status == "queued"
    assert sleeps.calls == [0.01, 0.01]


async def test_429_past_max_retries_raises_rate_limit(
    client: AsyncVideoClient, state: FakeOpenAIState
) -> None:
    state.inject(method="POST", path="/v1/videos", status=429, times=5)
    with pytest.raises(RateLimitError):
        await client.create("A cat", max_retries=1)
    assert len(state.requests_for("POST", "/v1/videos")) == 2


async def test_500_on_create_is_not_retried_without_idempotency_key(
    client: AsyncVideoClient, state: FakeOpenAIState
) -> None:
    state.inject(method="POST", path="/v1/videos", status=500, process_request=True)
    with pytest.raises(InternalServerError):
        await client.create("A cat")
    assert state.jobs_created == 1  # a retry would have paid for a second video


async def test_500_on_create_is_retried_with_idempotency_key(
    client: AsyncVideoClient, state: FakeOpenAIState
) -> None:
    state.inject(method="POST", path="/v1/videos", status=500)
    await client.create("A cat", extra_headers={"Idempotency-Key": "k1"})
    sent = state.requests_for("POST", "/v1/videos")
    assert len(sent) == 2 and {r.headers["idempotency-key"] for r in sent} == {"k1"}


async def test_reads_are_retried_on_5xx_unless_told_not_to(
    client: AsyncVideoClient, state: FakeOpenAIState, sleeps: Sleeps
) -> None:
    video = await client.create("A cat")
    state.inject(method="GET", path="/v1/videos/{id}", status=503)
    assert (await client.retrieve(video.id)).id == video.id
    assert sleeps.calls == [0.5]
    state.inject(
        method="GET", path="/v1/videos/{id}", status=500, headers={"x-should-retry": "false"}
    )
    with pytest.raises(InternalServerError):
        await client.retrieve(video.id)


async def test_dropped_connection_retried_for_reads_not_for_creates(
    client: AsyncVideoClient, state: FakeOpenAIState
) -> None:
    video = await client.create("A cat")
    state.inject(method="GET", path="/v1/videos/{id}", drop_connection=True)
    assert (await client.retrieve(video.id)).id == video.id
    state.inject(method="POST", path="/v1/videos", drop_connection=True)
    with pytest.raises(APIConnectionError):
        await client.create("Another")
    assert len(state.requests_for("POST", "/v1/videos")) == 2


async def test_timeout_raises_api_timeout(client: AsyncVideoClient, state: FakeOpenAIState) -> None:
    state.inject(method="GET", path="/v1/videos", status=None, delay=2.0)
    with pytest.raises(APITimeoutError):
        await client.list(timeout=0.2, max_retries=0)


async def test_organization_header(client: AsyncVideoClient, state: FakeOpenAIState) -> None:
    await client.list(organization="org-42")
    [sent] = state.requests_for("GET", "/v1/videos")
    assert sent.headers["openai-organization"] == "org-42"


async def test_environment_credentials(
    _server: tuple[FakeOpenAIState, str],
    state: FakeOpenAIState,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", _server[1])
    page = await AsyncVideoClient().list()
    assert page.data == []


async def test_verbose_logs_requests_without_secrets(
    client: AsyncVideoClient,
    state: FakeOpenAIState,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(vidgate, "set_verbose", True)
    with caplog.at_level(logging.INFO, logger="vidgate"):
        await client.list(extra_headers={"X-Trace": "1"})
    text = caplog.text
    assert "GET http://127.0.0.1:" in text and "/v1/videos -> 200" in text
    assert "sk-test" not in text


def test_redaction_of_urls_and_headers() -> None:
    from vidgate._log import redact_headers, redact_url

    url = "https://user:pw@x.com/v?X-Amz-Signature=abc&key=sk-1&limit=2"
    out = redact_url(url)
    assert "abc" not in out and "sk-1" not in out and "pw" not in out and "limit=2" in out
    assert redact_headers({"Authorization": "Bearer sk", "api-key": "k", "A": "b"}) == {
        "Authorization": "[REDACTED]",
        "api-key": "[REDACTED]",
        "A": "b",
    }


def test_sync_twins_work_against_the_fake(
    _server: tuple[FakeOpenAIState, str], state: FakeOpenAIState, tmp_path: Path
) -> None:
    video = vidgate.create_video("A cat", api_key="sk-test", api_base=_server[1])
    assert vidgate.video_retrieve(video.id, api_key="sk-test", api_base=_server[1]).id == video.id
    state.complete(video.id)
    content = vidgate.video_content(video.id, api_key="sk-test", api_base=_server[1], stream=True)
    assert b"".join(content.iter_bytes(4096)) == state.expected_content(video.id, "video")
    page = vidgate.video_list(api_key="sk-test", api_base=_server[1])
    assert [v.id for v in page.data] == [video.id]
    assert json.loads(page.model_dump_json())["object"] == "list"


async def test_without_a_hint_polls_use_the_providers_cadence(
    client: AsyncVideoClient, state: FakeOpenAIState, sleeps: Sleeps
) -> None:
    state.poll_after_ms = None
    await client.create_and_poll("A cat", extra_headers={"X-Trace": "t1"})
    assert sleeps.calls and set(sleeps.calls) == {1.0}
    # Per-call headers reach every poll, not only the create.
    polls = state.requests_for("GET", "/v1/videos/{id}")
    assert polls and all(r.headers.get("x-trace") == "t1" for r in polls)


async def test_an_unreadable_upstream_answer_is_a_502_not_a_crash(
    client: AsyncVideoClient, state: FakeOpenAIState
) -> None:
    state.inject(method="POST", path="/v1/videos", status=200, body="<html>oops</html>")
    with pytest.raises(InternalServerError) as info:
        await client.create("A cat")
    assert info.value.status_code == 502 and info.value.code == "upstream_protocol_error"
    state.inject(method="GET", path="/v1/videos/{id}", status=200, body=["not", "a", "video"])
    with pytest.raises(InternalServerError):
        await client.retrieve("video_123")
