"""Retention: ``expires_at`` from the gateway's or the key's period, ``video_expired`` content,
and the sweeper that deletes expired files in bounded batches on one gateway at a time.

The store-level tests run on SQLite and on a real PostgreSQL (the ``db_url`` fixture of
``test_postgres.py``). Time is driven by writing past timestamps and by injected clocks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import update

from vidgate.gateway.storage import Storage
from vidgate.gateway.store import Database, schema
from vidgate.gateway.sweeper import LEASE_NAME, Sweeper

from .conftest import Gateway, standard_config
from .test_postgres import _job, _together, db_url, postgres  # noqa: F401

HOUR = 3600


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:  # noqa: F811
    database = Database(db_url, retention_seconds=HOUR)
    database.migrate()
    try:
        yield database
    finally:
        database.close()


def _completed(db: Database, job_id: str, owner: str) -> None:
    db.jobs.insert(_job(job_id, owner))
    db.jobs.set_upstream(job_id, f"up_{job_id}", status="in_progress", progress=0)
    assert db.jobs.complete(job_id, storage_path=f"videos/{job_id}", settled_cost=0.1)


def _set(db: Database, job_ids: list[str], **values: object) -> None:
    with db.engine.begin() as conn:
        conn.execute(update(schema.jobs).where(schema.jobs.c.id.in_(job_ids)).values(**values))


# -- expires_at --------------------------------------------------------------------------------


def test_expires_at_is_completed_at_plus_the_keys_else_the_gateways_retention(
    db: Database,
) -> None:
    _plain, short = db.keys.create(
        alias=None,
        models=[],
        max_budget=None,
        rpm_limit=None,
        metadata={},
        expires_at=None,
        retention_seconds=60,
    )
    _plain, plain_key = db.keys.create(
        alias=None, models=[], max_budget=None, rpm_limit=None, metadata={}, expires_at=None
    )
    assert short.retention_seconds == 60 and plain_key.retention_seconds is None
    _completed(db, "video_short", short.id)
    _completed(db, "video_default", plain_key.id)
    _completed(db, "video_master", "master")  # a caller with no key row: the gateway's
    for job_id, period in (("video_short", 60), ("video_default", HOUR), ("video_master", HOUR)):
        job = db.jobs.get(job_id)
        assert job is not None and job.completed_at is not None
        assert job.expires_at == job.completed_at + period, job_id
    db.jobs.insert(_job("video_failed", plain_key.id))
    assert db.jobs.fail("video_failed", {"code": "x", "message": "y"})
    failed = db.jobs.get("video_failed")
    assert failed is not None and failed.expires_at is None  # nothing stored to expire


def test_without_retention_videos_never_expire(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'forever.db'}")
    db.migrate()
    _completed(db, "video_forever", "master")
    job = db.jobs.get("video_forever")
    assert job is not None and job.completed_at is not None and job.expires_at is None
    db.close()


# -- the sweeper -------------------------------------------------------------------------------


def _stored(storage: Storage, job_id: str) -> Path:
    path = storage.file(storage.location(job_id), "video")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"mp4")
    return path


def test_sweeper_deletes_expired_files_in_bounded_batches_and_nothing_else(
    db: Database, tmp_path: Path
) -> None:
    storage = Storage(tmp_path / "storage")
    storage.open()
    now = time.time()
    expired = [f"video_old{i:03d}" for i in range(250)]
    kept = [f"video_new{i}" for i in range(5)]
    for job_id in [*expired, *kept]:
        _completed(db, job_id, "master")
    _set(db, expired, expires_at=int(now) - 10)
    _set(db, kept, expires_at=int(now) + HOUR)
    files = {job_id: _stored(storage, job_id) for job_id in [*expired, *kept]}
    sweeper = Sweeper(db=db, storage=storage, instance="a", batch=100, clock=lambda: now)

    assert asyncio.run(sweeper.sweep()) == [100, 100, 50]

    assert not any(files[j].exists() for j in expired)
    assert all(files[j].exists() for j in kept)
    for job_id in expired[:3] + expired[-3:]:
        job = db.jobs.get(job_id)  # the record stays
        assert job is not None and job.status == "completed" and job.storage_path is None
    assert all((j := db.jobs.get(k)) and j.storage_path for k in kept)
    assert asyncio.run(sweeper.sweep()) == []  # none is swept twice
    # Later, the rest expire too.
    later = Sweeper(db=db, storage=storage, instance="a", batch=100, clock=lambda: now + 2 * HOUR)
    assert asyncio.run(later.sweep()) == [5]
    assert not any(files[j].exists() for j in kept)


def test_two_sweepers_on_one_database_never_sweep_at_the_same_time(
    db: Database, tmp_path: Path
) -> None:
    results = _together(
        8, lambda i: db.leases.acquire(LEASE_NAME, holder=f"g{i}", now=100.0, ttl=60)
    )
    assert results.count(True) == 1, results
    winner = f"g{results.index(True)}"
    assert db.leases.holder(LEASE_NAME, now=100.0) == winner

    storage = Storage(tmp_path / "storage")
    storage.open()
    _completed(db, "video_x", "master")
    _set(db, ["video_x"], expires_at=10)
    clock = [130.0]
    loser = "g0" if winner != "g0" else "g1"
    other = Sweeper(db=db, storage=storage, instance=loser, clock=lambda: clock[0], lease=60)
    holder = Sweeper(db=db, storage=storage, instance=winner, clock=lambda: clock[0], lease=60)
    assert asyncio.run(other.sweep()) is None  # the lease is held: it does nothing
    job = db.jobs.get("video_x")
    assert job is not None and job.storage_path is not None
    assert asyncio.run(holder.sweep()) == [1]  # the holder renews and sweeps
    clock[0] = 185.0  # renewed at 130 until 190: still the holder's
    assert asyncio.run(other.sweep()) is None
    clock[0] = 191.0  # the holder stopped renewing (died): another takes over
    assert asyncio.run(other.sweep()) == []
    assert db.leases.holder(LEASE_NAME, now=191.0) == loser
    assert asyncio.run(holder.sweep()) is None
    asyncio.run(other.stop())  # a stop hands the lease back at once
    assert db.leases.holder(LEASE_NAME, now=191.0) is None


# -- through the gateway -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("retention")
    gw = Gateway(home, standard_config(home, retention="1h", sweep_interval=3600)).start()
    try:
        yield gw
    finally:
        gw.stop()


def _finished(gateway: Gateway, key: str) -> dict[str, object]:
    client = gateway.openai(key)
    video = client.videos.create_and_poll(
        prompt="A lighthouse", model="sora-2", seconds="1", size="720x1280"
    )
    assert video.status == "completed", video
    return video.model_dump()


def test_expires_at_through_the_gateway_and_a_keys_override(gateway: Gateway) -> None:
    video = _finished(gateway, gateway.new_key())
    assert video["expires_at"] == video["completed_at"] + HOUR  # type: ignore[operator]
    key = gateway.new_key(retention="2m")
    with gateway.admin() as admin:
        info = admin.post("/key/info", json={"key": key}).json()["info"]
        assert info["retention_seconds"] == 120
        bad = admin.post("/key/generate", json={"retention": "forever"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "retention"
    video = _finished(gateway, key)
    assert video["expires_at"] == video["completed_at"] + 120  # type: ignore[operator]


def test_expired_content_is_404_while_the_record_stays(gateway: Gateway) -> None:
    key = gateway.new_key()
    video_id = str(_finished(gateway, key)["id"])
    with gateway.http(key) as http:
        assert http.get(f"/v1/videos/{video_id}/content").status_code == 200
        engine = sqlalchemy.create_engine(gateway.db_url)
        with engine.begin() as conn:
            conn.execute(
                update(schema.jobs).where(schema.jobs.c.id == video_id).values(expires_at=1000)
            )
        engine.dispose()
        for variant in ("video", "thumbnail"):
            gone = http.get(f"/v1/videos/{video_id}/content", params={"variant": variant})
            assert gone.status_code == 404
            error = gone.json()["error"]
            assert error["code"] == "video_expired"
            assert "1970-01-01T00:16:40Z" in error["message"]
        record = http.get(f"/v1/videos/{video_id}")
        assert record.status_code == 200
        assert record.json()["status"] == "completed" and record.json()["expires_at"] == 1000
        listed = http.get("/v1/videos").json()["data"]
        assert [v["expires_at"] for v in listed if v["id"] == video_id] == [1000]
