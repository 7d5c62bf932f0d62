"""The gateway in front of each upstream provider (issue 5): a real ``vidgate serve`` whose
config maps ``my-<provider>`` to runway, xai, fal, replicate, vertex and gemini deployments with
``api_base`` pointing at that provider's fake on loopback, driven with the official ``openai``
SDK. Create (text, and with a reference image), server-side polling to ``completed``, every
content variant, cost from the price table, failures and moderation refusals, 400s before any
upstream call, delete, downloads that outlive the provider's link, a create the provider
answers with 429 and ``Retry-After`` (retried after the hint; a ``RateLimitError`` once the
retries run out), and a provider refusing the gateway's credentials (a 502 that hides the key).

One gateway and one set of fakes serve the whole module; each test runs once per provider and
finds its own upstream requests by a marker in its prompt. Fakes are reset after each test.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import av
import openai
import pytest

from vidgate._constants import DEFAULT_MAX_RETRIES

from ._providers import NAMES, WRONG_KEY, Upstream, run_upstreams, token
from .conftest import Gateway, png_bytes, standard_config

JOB_TIMEOUT = 30.0
# The provider's ``Retry-After: 1``: longer than the engine's own first backoff (at most
# 0.5 s), so a create that took this long waited for the hint.
RETRY_AFTER = 1.0


def each_provider(**xfail: str) -> pytest.MarkDecorator:
    """Run a test once per provider; ``xfail={"gemini": "bug ..."}`` marks one of them."""
    params = [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=xfail[name]))
        if name in xfail
        else name
        for name in NAMES
    ]
    return pytest.mark.parametrize("up", params, indirect=True)


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Upstream]]:
    with run_upstreams(tmp_path_factory.mktemp("upstreams")) as ups:
        yield ups


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, upstreams: dict[str, Upstream]
) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("gw-providers")
    config = standard_config(home)
    config["model_list"] = [d for up in upstreams.values() for d in up.deployments()] + [
        up.wrong_key_deployment() for up in upstreams.values()
    ]
    # Vertex reads gs:// outputs through the GCS JSON API at STORAGE_EMULATOR_HOST when set
    # (the variable Google's storage clients honour): here, the Vertex fake.
    # The gateway runs in this process: the variable is set here for the module's life.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STORAGE_EMULATOR_HOST", upstreams["vertex"].base_url)
        gateway = Gateway(home, config).start()
        try:
            yield gateway
        finally:
            gateway.stop()


@pytest.fixture
def up(request: pytest.FixtureRequest, upstreams: dict[str, Upstream]) -> Iterator[Upstream]:
    upstream = upstreams[request.param]
    try:
        yield upstream
    finally:
        upstream.restore()


def _create(client: openai.OpenAI, up: Upstream, prompt: str, **kwargs: Any) -> Any:
    args: dict[str, Any] = {
        "prompt": prompt,
        "model": up.public,
        "seconds": up.seconds,
        "size": up.size,
        **kwargs,
    }
    return client.videos.create(**args)


def wait_done(client: openai.OpenAI, video_id: str, timeout: float) -> Any:
    """Retrieve until terminal, bounded in time (the gateway polls the fake every 20 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        video = client.videos.retrieve(video_id)
        if video.status in ("completed", "failed"):
            return video
        if time.monotonic() > deadline:
            raise TimeoutError(f"{video_id} still {video.status} after {timeout} s")
        time.sleep(0.02)


def _download(client: openai.OpenAI, video_id: str, variant: str = "video") -> Any:
    return client.videos.download_content(video_id, variant=variant)  # type: ignore[arg-type]


def _codec(data: bytes) -> str:
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.video[0]
        next(container.decode(stream))
        return str(stream.codec_context.name)


def _spend(gw: Gateway, key: str) -> float:
    with gw.http(key) as http:
        spend: float = http.get("/key/info").json()["info"]["spend"]
    return spend


def test_every_deployment_is_listed(gw: Gateway, upstreams: dict[str, Upstream]) -> None:
    listed = {m.id for m in gw.openai(gw.new_key()).models.list()}
    for up in upstreams.values():
        assert {up.public, up.public_image} <= listed


@each_provider()
def test_create_polls_server_side_and_serves_every_variant(gw: Gateway, up: Upstream) -> None:
    client = gw.openai(gw.new_key())
    marker = token()
    video = _create(client, up, f"A fox in the snow {marker}")
    assert video.id.startswith("video_") and video.model == up.public
    assert video.status in ("queued", "in_progress")
    assert (video.size, video.seconds) == (up.size, up.seconds)
    # size and seconds mapped onto the provider's own fields.
    body = up.sent_create(marker)
    assert up.shape(body) == up.wire
    assert up.upstream_id(marker) != video.id  # public ids are the gateway's own

    done = wait_done(client, video.id, JOB_TIMEOUT)
    assert done.status == "completed", done.error
    assert done.progress == 100 and done.error is None and done.completed_at is not None

    got = _download(client, video.id)
    assert got.content == up.video
    assert got.response.headers["content-type"] == "video/mp4"
    thumb = _download(client, video.id, "thumbnail")
    assert thumb.response.headers["content-type"] == "image/webp"
    assert thumb.content[:4] == b"RIFF" and thumb.content[8:12] == b"WEBP"
    assert _codec(thumb.content) == "webp"
    sprite = _download(client, video.id, "spritesheet")
    assert sprite.response.headers["content-type"] == "image/jpeg"
    assert sprite.content[:3] == b"\xff\xd8\xff" and _codec(sprite.content) == "mjpeg"

    # Reads are answered from the gateway's record and storage, never from the provider.
    seen = len(up.requests())
    for _ in range(3):
        assert client.videos.retrieve(video.id).status == "completed"
    assert _download(client, video.id).content == up.video
    assert up.requests()[seen:] == []


@each_provider()
def test_input_reference_reaches_the_providers_image_field(gw: Gateway, up: Upstream) -> None:
    client = gw.openai(gw.new_key())
    png = png_bytes(96, 54, (20, 120, 220))
    marker = token()
    video = _create(
        client,
        up,
        f"The picture comes alive {marker}",
        model=up.public_image,
        input_reference=("first.png", png, "image/png"),  # multipart upload
    )
    assert video.model == up.public_image
    assert up.image(up.sent_create(marker)) == up.expected_image(png)
    done = wait_done(client, video.id, JOB_TIMEOUT)
    assert done.status == "completed", done.error
    assert _download(client, video.id).content == up.video


@each_provider()
def test_usage_cost_is_the_price_tables(gw: Gateway, up: Upstream) -> None:
    key = gw.new_key()
    client = gw.openai(key)
    video = _create(client, up, f"A lighthouse at dusk {token()}")
    done = wait_done(client, video.id, JOB_TIMEOUT)
    assert done.status == "completed", done.error
    for seen in (video, done):
        assert seen.usage["seconds"] == float(up.seconds)
        if up.cost is None:
            assert seen.usage["cost_usd"] is None
        else:
            assert seen.usage["cost_usd"] == pytest.approx(up.cost)
    assert _spend(gw, key) == pytest.approx(up.cost or 0.0)


@each_provider()
def test_failed_job_carries_the_providers_reason(gw: Gateway, up: Upstream) -> None:
    key = gw.new_key()
    client = gw.openai(key)
    marker = token()
    video = _create(client, up, f"{up.fail_prompt} {marker}")
    assert up.sent_creates(marker)
    done = wait_done(client, video.id, JOB_TIMEOUT)
    assert done.status == "failed"
    assert done.error is not None
    assert done.error.code == up.fail_code
    assert up.fail_message in done.error.message
    assert not done.usage["cost_usd"]  # refunded
    assert _spend(gw, key) == 0.0
    with pytest.raises(openai.BadRequestError) as caught:
        _download(client, video.id)
    assert caught.value.code == "video_not_ready"


@each_provider()
def test_moderation_refusal_is_moderation_blocked(gw: Gateway, up: Upstream) -> None:
    key = gw.new_key()
    client = gw.openai(key)
    marker = token()
    video = _create(client, up, f"{up.refuse_prompt} {marker}")
    assert up.sent_creates(marker)
    done = wait_done(client, video.id, JOB_TIMEOUT)
    assert done.status == "failed"
    assert done.error is not None and done.error.code == "moderation_blocked"
    assert up.refuse_message in done.error.message
    assert _spend(gw, key) == 0.0


@each_provider()
def test_unsupported_values_are_refused_before_any_upstream_call(gw: Gateway, up: Upstream) -> None:
    key = gw.new_key()
    client = gw.openai(key)
    since = len(up.requests())
    for kwargs, param in up.unsupported:
        with pytest.raises(openai.BadRequestError) as caught:
            _create(client, up, f"A cat {token()}", **kwargs)
        assert caught.value.status_code == 400
        assert caught.value.param == param, (kwargs, caught.value.message)
    assert [(r.method, r.path) for r in up.requests()[since:]] == []
    assert list(client.videos.list()) == []  # no job was kept
    assert _spend(gw, key) == 0.0


@each_provider()
def test_delete_a_finished_video(gw: Gateway, up: Upstream) -> None:
    client = gw.openai(gw.new_key())
    marker = token()
    video = _create(client, up, f"A cat {marker}")
    assert wait_done(client, video.id, JOB_TIMEOUT).status == "completed"
    upstream_id = up.upstream_id(marker)
    assert [v.id for v in client.videos.list()] == [video.id]
    stored = gw.storage_dir / "videos" / video.id
    assert (stored / "video.mp4").is_file()

    since = len(up.requests())
    deleted = client.videos.delete(video.id)
    assert (deleted.id, deleted.deleted) == (video.id, True)
    # The provider's own delete where it has one; elsewhere only the gateway's copy goes.
    assert up.writes(since) == [(m, p.format(id=upstream_id)) for m, p in up.delete_finished]
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    with pytest.raises(openai.NotFoundError):
        _download(client, video.id)
    assert list(client.videos.list()) == []
    assert not stored.exists()


@each_provider()
def test_delete_a_running_video_cancels_it_upstream(gw: Gateway, up: Upstream) -> None:
    key = gw.new_key()
    client = gw.openai(key)
    up.hold()
    marker = token()
    video = _create(client, up, f"A slow cat {marker}")
    upstream_id = up.upstream_id(marker)
    assert client.videos.retrieve(video.id).status in ("queued", "in_progress")
    since = len(up.requests())
    deleted = client.videos.delete(video.id)
    assert (deleted.id, deleted.deleted) == (video.id, True)
    assert up.writes(since) == [(m, p.format(id=upstream_id)) for m, p in up.delete_running]
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    assert _spend(gw, key) == 0.0  # refunded: it never finished


@each_provider()
def test_download_outlives_the_providers_expired_link(gw: Gateway, up: Upstream) -> None:
    client = gw.openai(gw.new_key())
    video = _create(client, up, f"A kite {token()}", extra_body=up.expiry_extra or None)
    assert wait_done(client, video.id, JOB_TIMEOUT).status == "completed"
    fetched = up.downloads()
    assert fetched, "the gateway never downloaded from the provider's link"
    up.expire()
    assert up.replay(fetched[-1]) >= 400  # the provider's link is dead now
    assert _download(client, video.id).content == up.video
    assert _codec(_download(client, video.id, "thumbnail").content) == "webp"
    assert _codec(_download(client, video.id, "spritesheet").content) == "mjpeg"


@each_provider()
def test_a_429_on_create_is_retried_after_its_retry_after(gw: Gateway, up: Upstream) -> None:
    key = gw.new_key()
    client = gw.openai(key)
    up.throttle({"retry-after": "1"}, times=1)
    marker = token()
    started = time.monotonic()
    video = _create(client, up, f"A busy harbour {marker}")
    assert time.monotonic() - started >= RETRY_AFTER  # the hint, not the engine's own backoff
    # Asked twice (the 429 and the retry), and exactly one job exists upstream: the 429 was
    # refused before acceptance, so the retry could not start a second one.
    assert len(up.sent_creates(marker)) == 2
    assert len(up.upstream_ids(marker)) == 1
    assert [v.id for v in client.videos.list()] == [video.id]
    done = wait_done(client, video.id, JOB_TIMEOUT)
    assert done.status == "completed", done.error
    assert _spend(gw, key) == pytest.approx(up.cost or 0.0)  # charged once


@each_provider()
def test_a_429_beyond_the_retries_is_a_rate_limit_error(gw: Gateway, up: Upstream) -> None:
    key = gw.new_key()
    client = gw.openai(key)
    attempts = DEFAULT_MAX_RETRIES + 1
    # More 429s than the gateway will ask for; ``retry-after-ms`` keeps the waits short.
    up.throttle({"retry-after": "1", "retry-after-ms": "100"}, times=attempts + 2)
    marker = token()
    with pytest.raises(openai.RateLimitError) as caught:
        _create(client, up, f"A crowded beach {marker}")
    assert caught.value.status_code == 429
    assert caught.value.response.headers.get("retry-after") == "1"  # the hint reaches the caller
    assert len(up.sent_creates(marker)) == attempts  # retried, then gave up
    assert up.upstream_ids(marker) == []
    assert list(client.videos.list()) == []  # no job was kept
    assert _spend(gw, key) == 0.0


@each_provider()
def test_provider_refusing_our_key_is_a_502_that_does_not_leak_it(
    gw: Gateway, up: Upstream
) -> None:
    key = gw.new_key()
    client = gw.openai(key)
    marker = token()
    with pytest.raises(openai.InternalServerError) as caught:
        _create(client, up, f"A locked door {marker}", model=up.public_wrong_key)
    error = caught.value
    # Not a 401: the caller's own key is fine; the gateway's credentials for the provider
    # are not, and nothing the caller changes would fix that (errors.from_upstream).
    assert error.status_code == 502
    assert error.code == "upstream_auth_failed"
    assert up.name in error.message and "credentials" in error.message
    assert WRONG_KEY not in error.response.text
    # The wrong key did reach the provider, once (a refused key is not retried).
    [sent] = up.sent_creates(marker)
    assert WRONG_KEY in json.dumps(sent.headers)
    assert up.upstream_ids(marker) == []
    assert list(client.videos.list()) == []  # no job was kept
    assert _spend(gw, key) == 0.0
