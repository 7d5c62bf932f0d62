"""The gateway in front of a remote OpenAI-compatible provider (the fake upstream): server-side
polling, copying to storage, derived thumbnails, failures, refunds and error translation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.fakes.openai_upstream import FakeOpenAIState, run_fake_openai
from vidgate.local.render import render

from .conftest import Gateway, standard_config, wait_done


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[FakeOpenAIState, str]]:
    state = FakeOpenAIState(polls_to_complete=3, poll_after_ms=10)
    with run_fake_openai(state) as base_url:
        yield state, base_url


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, upstream: tuple[FakeOpenAIState, str]
) -> Iterator[Gateway]:
    _, base_url = upstream
    home = tmp_path_factory.mktemp("gw-upstream")
    config: dict[str, Any] = standard_config(home)
    config["model_list"] = [
        {
            "model_name": "sora-2",
            "params": {"model": "openai/sora-2", "api_base": base_url, "api_key": "sk-test"},
        },
        {
            "model_name": "wrong-key",
            "params": {"model": "openai/sora-2", "api_base": base_url, "api_key": "sk-nope"},
        },
    ]
    gateway = Gateway(home, config).start()
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture(autouse=True)
def _clean_faults(upstream: tuple[FakeOpenAIState, str]) -> Iterator[None]:
    yield
    upstream[0].clear_faults()


def _spend(gw: Gateway, key: str) -> float:
    with gw.http(key) as http:
        spend: float = http.get("/key/info").json()["info"]["spend"]
    return spend


def test_polls_server_side_and_stores_every_variant(
    gw: Gateway, upstream: tuple[FakeOpenAIState, str]
) -> None:
    state, _ = upstream
    key = gw.new_key()
    client = gw.openai(key)
    video = client.videos.create(prompt="A cat", model="sora-2", seconds="4", size="1280x720")
    assert video.id.startswith("video_")
    done = wait_done(client, video.id, timeout=30)
    assert done.status == "completed"
    assert done.usage == {"seconds": 4.0, "cost_usd": 0.4}  # the price table's sora-2 rate
    assert state.requests_for("POST", "/v1/videos")[-1].json["prompt"] == "A cat"
    [job] = [j for j in state.videos() if j["prompt"] == "A cat"]
    assert job["id"] != video.id  # public ids are the gateway's own
    for variant in ("video", "thumbnail", "spritesheet"):
        got = client.videos.download_content(video.id, variant=variant).content  # type: ignore[arg-type]
        assert got == state.expected_content(job["id"], variant)
    # The provider's copy expires; ours is still served.
    with state.lock:
        state.jobs.clear()
    assert client.videos.download_content(video.id).content == state.expected_content(
        job["id"], "video"
    )
    assert _spend(gw, key) == pytest.approx(0.4)


def test_failed_job_carries_the_provider_error_and_is_refunded(gw: Gateway) -> None:
    key = gw.new_key()
    client = gw.openai(key)
    video = client.videos.create(prompt="FAIL please", model="sora-2", seconds="8")
    done = wait_done(client, video.id, timeout=30)
    assert done.status == "failed"
    assert done.error is not None and done.error.code == "moderation_blocked"
    assert done.usage == {"seconds": 8.0, "cost_usd": 0.0}
    assert _spend(gw, key) == pytest.approx(0.0)
    with gw.http(key) as http:
        [entry] = http.get("/spend/logs").json()
    assert (entry["estimated_cost"], entry["settled_cost"], entry["refunded"]) == (0.8, 0.0, True)


def test_poll_errors_are_retried(gw: Gateway, upstream: tuple[FakeOpenAIState, str]) -> None:
    state, _ = upstream
    fault = state.inject(method="GET", path="/v1/videos/{id}", status=503, times=2)
    client = gw.openai(gw.new_key())
    video = client.videos.create(prompt="flaky", model="sora-2", seconds="4")
    assert wait_done(client, video.id, timeout=30).status == "completed"
    assert fault.served == 2


def test_missing_variants_are_made_locally(
    gw: Gateway, upstream: tuple[FakeOpenAIState, str], tmp_path: Path
) -> None:
    state, _ = upstream
    render("real pixels", out_dir=tmp_path, width=320, height=180, seconds=1)
    mp4 = (tmp_path / "video.mp4").read_bytes()
    path = "/v1/videos/{id}/content"
    state.inject(method="GET", path=path, status=200, body=mp4, content_type="video/mp4")
    state.inject(method="GET", path=path, status=404, times=2)  # no thumbnail, no spritesheet
    client = gw.openai(gw.new_key())
    video = client.videos.create(prompt="needs thumbs", model="sora-2", seconds="4")
    assert wait_done(client, video.id, timeout=30).status == "completed"
    assert client.videos.download_content(video.id).content == mp4
    thumb = client.videos.download_content(video.id, variant="thumbnail").content
    assert thumb[:4] == b"RIFF" and thumb[8:12] == b"WEBP"
    sprite = client.videos.download_content(video.id, variant="spritesheet").content
    assert sprite[:3] == b"\xff\xd8\xff"


def test_upstream_client_error_passes_through_and_keeps_nothing(
    gw: Gateway, upstream: tuple[FakeOpenAIState, str]
) -> None:
    state, _ = upstream
    state.inject(
        method="POST",
        path="/v1/videos",
        status=400,
        body={
            "error": {
                "message": "nope",
                "type": "invalid_request_error",
                "param": "prompt",
                "code": "moderation_blocked",
            }
        },
    )
    key = gw.new_key()
    client = gw.openai(key)
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.create(prompt="refused", model="sora-2")
    assert (caught.value.code, caught.value.param) == ("moderation_blocked", "prompt")
    assert list(client.videos.list()) == []
    assert _spend(gw, key) == 0.0


def test_upstream_rejecting_our_credentials_is_502(gw: Gateway) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        gw.openai(gw.new_key()).videos.create(prompt="x", model="wrong-key")
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_auth_failed"
    assert "sk-nope" not in caught.value.message


def test_remix_goes_to_the_same_deployment(
    gw: Gateway, upstream: tuple[FakeOpenAIState, str]
) -> None:
    state, _ = upstream
    client = gw.openai(gw.new_key())
    video = client.videos.create_and_poll(prompt="base", model="sora-2", seconds="4")
    remix = client.videos.remix(video.id, prompt="blue")
    assert remix.remixed_from_video_id == video.id
    assert wait_done(client, remix.id, timeout=30).status == "completed"
    remix_calls = [r for r in state.requests if r.path.endswith("/remix")]
    assert remix_calls and remix_calls[-1].json == {"prompt": "blue"}
