"""Start-up recovery of jobs left between "record written" and "upstream id saved" must not
take another live gateway's in-flight create for a crashed one."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from vidgate.gateway.app import build_state
from vidgate.gateway.config import Settings
from vidgate.gateway.poller import holder_alive, instance_id
from vidgate.gateway.store import JobRecord
from vidgate.gateway.webhooks import Event, Webhooks

HOST = socket.gethostname()[:40]


def _settings(tmp_path: Path) -> Settings:
    return Settings.model_validate(
        {
            "model_list": [
                {
                    "model_name": "sora-2",
                    # Nothing listens here: recovery of this non-idempotent provider must
                    # fail the job without sending anything.
                    "params": {
                        "model": "openai/sora-2",
                        "api_base": "http://127.0.0.1:9/v1",
                        "api_key": "k",
                    },
                }
            ],
            "general_settings": {
                "database_url": f"sqlite:///{tmp_path / 'gw.db'}",
                "storage_dir": str(tmp_path / "storage"),
            },
        }
    )


def _job(job_id: str, holder: str | None, until: float | None) -> JobRecord:
    return JobRecord(
        id=job_id,
        owner_key_id="k",
        model="sora-2",
        deployment="sora-2#0",
        provider="openai",
        upstream_model="sora-2",
        request={"prompt": "p"},
        size="720x1280",
        seconds="4",
        prompt="p",
        estimated_cost=0.4,
        created_at=int(time.time()),
        claimed_by=holder,
        claimed_until=until,
    )


def test_holder_liveness() -> None:
    assert holder_alive(instance_id()) is True
    assert holder_alive(f"{HOST}:999999999:dead") is False
    assert holder_alive("some-other-host:1:x") is None
    assert holder_alive(None) is False


async def test_recovery_leaves_live_submissions_alone(tmp_path: Path) -> None:
    state = build_state(_settings(tmp_path))
    state.db.migrate()
    future, past = time.time() + 600, time.time() - 1
    deployment = state.router.pick("sora-2").deployment_id
    jobs = {
        "video_live": _job("video_live", instance_id(), future),
        "video_dead_here": _job("video_dead_here", f"{HOST}:999999999:dead", future),
        "video_elsewhere": _job("video_elsewhere", "some-other-host:1:x", future),
        "video_expired": _job("video_expired", "some-other-host:1:x", past),
        "video_unclaimed": _job("video_unclaimed", None, None),
    }
    for job in jobs.values():
        job.deployment = deployment
        state.db.jobs.insert(job)
    emitted: list[tuple[str, str]] = []

    class Recorder(Webhooks):
        def emit(self, video_id: str, event: Event) -> None:
            emitted.append((video_id, event))

    state.videos.webhooks = Recorder([])
    await state.videos.recover()
    status = {i: (state.db.jobs.get(i) or _job(i, None, None)).status for i in jobs}
    assert status == {
        "video_live": "queued",
        "video_dead_here": "failed",
        "video_elsewhere": "queued",
        "video_expired": "failed",
        "video_unclaimed": "failed",
    }
    assert sorted(emitted) == [
        ("video_dead_here", "video.failed"),
        ("video_expired", "video.failed"),
        ("video_unclaimed", "video.failed"),
    ]
    failed = state.db.jobs.get("video_expired")
    assert failed is not None and failed.error is not None
    assert failed.error["code"] == "gateway_interrupted"
    await state.engine.aclose()


async def test_a_running_gateway_recovers_what_a_dead_one_left_without_restarting(
    tmp_path: Path,
) -> None:
    """Recovery is not only a start-up step: a live gateway's poller runs it now and then, so
    a replica that dies for good is covered by the others once its lease runs out."""
    import asyncio

    state = build_state(_settings(tmp_path))
    state.db.migrate()
    state.storage.open()
    state.poller.recover_every = 0.05
    state.poller.start()
    try:
        deployment = state.router.pick("sora-2").deployment_id
        # Written after this gateway started: a replica elsewhere died mid-create.
        orphan = _job("video_orphan", "other-host:4242:x", time.time() - 1)
        orphan.deployment = deployment
        state.db.jobs.insert(orphan)
        for _ in range(100):
            job = state.db.jobs.get("video_orphan")
            if job is not None and job.status == "failed":
                break
            await asyncio.sleep(0.05)
        assert job is not None and job.status == "failed"
        assert job.error is not None and job.error["code"] == "gateway_interrupted"
    finally:
        await state.poller.stop()
        await state.engine.aclose()
        state.db.close()
