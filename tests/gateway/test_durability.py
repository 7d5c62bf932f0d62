"""A gateway killed with SIGKILL loses no accepted job: after a restart it resumes polling,
and a job caught between "record written" and "upstream id saved" is resubmitted safely
(idempotent provider) or failed and refunded (any other). SIGTERM drains in-flight requests."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.openai_upstream import FakeOpenAIState, run_fake_openai
from vidgate.gateway.store import Database, JobRecord

from .conftest import MASTER_KEY, Gateway, is_mp4, standard_config, wait_done


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[Gateway]:
    gateway = Gateway(tmp_path / "gw", standard_config(tmp_path / "gw"))
    try:
        yield gateway
    finally:
        gateway.stop()


def _unsubmitted(
    job_id: str, *, model: str, deployment: str, provider: str, upstream: str
) -> JobRecord:
    """A record as a gateway writes it just before the upstream create."""
    return JobRecord(
        id=job_id,
        owner_key_id="master",
        model=model,
        deployment=deployment,
        provider=provider,
        upstream_model=upstream,
        request={
            "prompt": "caught in the window",
            "model": upstream,
            "seconds": "1",
            "size": "720x1280",
            "reference": None,
            "extra_body": {},
        },
        size="720x1280",
        seconds="1",
        prompt="caught in the window",
        estimated_cost=0.1,
        created_at=int(time.time()),
    )


def test_sigkill_then_restart_finishes_the_job(gw: Gateway) -> None:
    gw.start(subprocess=True)
    client = gw.openai()
    video = client.videos.create(prompt="survive a crash", model="sora-2", seconds="2")
    gw.kill()
    gw.start(subprocess=True)
    done = wait_done(gw.openai(), video.id)
    assert done.status == "completed", done.error
    assert is_mp4(gw.openai().videos.download_content(video.id).content)


def test_crash_window_with_idempotent_provider_resubmits_once(gw: Gateway) -> None:
    gw.start(subprocess=True)
    dep = next(  # the deployment id the running gateway uses for "sora-2"
        r for r in _deployments(gw) if r[0] == "sora-2"
    )[1]
    gw.stop()
    db = Database(gw.db_url)
    job = _unsubmitted(
        "video_" + "ab" * 24, model="sora-2", deployment=dep, provider="local", upstream="preview"
    )
    db.jobs.insert(job)
    db.close()
    gw.start(subprocess=True)
    done = wait_done(gw.openai(), job.id)
    assert done.status == "completed", done.error
    upstream_jobs = list((gw.home / "local" / "videos").iterdir())
    assert len(upstream_jobs) == 1


def test_crash_window_with_other_provider_fails_and_refunds(tmp_path: Path) -> None:
    state = FakeOpenAIState()
    with run_fake_openai(state) as base_url:
        home = tmp_path / "gw"
        config = standard_config(home)
        config["model_list"] = [
            {
                "model_name": "sora-2",
                "id": "upstream-sora",
                "params": {"model": "openai/sora-2", "api_base": base_url, "api_key": "sk-test"},
            }
        ]
        gw = Gateway(home, config)
        db = Database(gw.db_url)
        db.migrate()
        job = _unsubmitted(
            "video_" + "cd" * 24,
            model="sora-2",
            deployment="upstream-sora",
            provider="openai",
            upstream="sora-2",
        )
        db.jobs.insert(job)
        db.close()
        try:
            gw.start(subprocess=True)
            with gw.admin() as admin:
                video = admin.get(f"/v1/videos/{job.id}").json()
        finally:
            gw.stop()
    assert video["status"] == "failed"
    assert video["error"]["code"] == "gateway_interrupted"
    assert video["usage"]["cost_usd"] == 0.0
    assert state.jobs_created == 0  # never sent twice: not even once after the restart


def test_sigterm_drains_in_flight_requests(tmp_path: Path) -> None:
    state = FakeOpenAIState()
    with run_fake_openai(state) as base_url:
        home = tmp_path / "gw"
        config = standard_config(home)
        config["model_list"] = [
            {
                "model_name": "sora-2",
                "params": {"model": "openai/sora-2", "api_base": base_url, "api_key": "sk-test"},
            }
        ]
        gw = Gateway(home, config).start(subprocess=True)
        state.inject(method="POST", path="/v1/videos", status=None, delay=1.5)
        result: dict[str, httpx.Response] = {}

        def create() -> None:
            with gw.admin() as admin:
                result["reply"] = admin.post("/v1/videos", json={"prompt": "slow upstream"})

        thread = threading.Thread(target=create)
        thread.start()
        deadline = time.monotonic() + 10
        while not state.requests and time.monotonic() < deadline:  # the create is in flight
            time.sleep(0.01)
        assert gw.proc is not None
        gw.proc.send_signal(signal.SIGTERM)
        thread.join(timeout=20)
        gw.proc.wait(timeout=20)
        gw.proc = None
    assert result["reply"].status_code == 200, result["reply"].text
    assert result["reply"].json()["status"] == "queued"


def _deployments(gw: Gateway) -> list[tuple[str, str]]:
    from vidgate.gateway import load_settings

    assert gw.config_path is not None
    settings = load_settings(gw.config_path)
    return [(d.model_name, d.deployment_id) for d in settings.model_list]


def test_master_key_constant_is_long_enough() -> None:
    # The durability gateways run on loopback, but the standard key must also pass the
    # public-bind check so other tests can rely on it.
    from vidgate.gateway.auth import weak_master_key

    assert weak_master_key(MASTER_KEY) is None
