"""The gateway on a real PostgreSQL server, and several gateways (pollers) on one database.

PostgreSQL is started by the test set-up on loopback (``_postgres.py``); when its binaries are
missing these tests fail and say that ``.ci/run`` installs them. The store-level tests run on
both SQLite and PostgreSQL: the same schema, migrations and queries serve both.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import openai
import pytest
import sqlalchemy
from sqlalchemy import text

from tests.fakes.openai_upstream import FakeOpenAIState, run_fake_openai
from vidgate.gateway import poller as poller_module
from vidgate.gateway.app import build_state
from vidgate.gateway.auth import Caller
from vidgate.gateway.body import CreateBody
from vidgate.gateway.config import Settings
from vidgate.gateway.state import GatewayState
from vidgate.gateway.store import Database, JobRecord, schema
from vidgate.gateway.store.jobs import BudgetExceeded
from vidgate.gateway.store.migrations import MIGRATIONS, _0001_initial, migrate, schema_version

from . import test_idempotency, test_keys_spend
from ._postgres import PostgresServer, running_postgres
from .conftest import Gateway, is_mp4, standard_config, wait_done

T = TypeVar("T")
CONTENT = "/v1/videos/{id}/content"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for this module; each test makes its own database on it."""
    with running_postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.database()


def _together(n: int, fn: Callable[[int], T]) -> list[T | BaseException]:
    """Run ``fn(0..n-1)`` in ``n`` threads released at the same instant."""
    start = threading.Barrier(n)

    def run(i: int) -> T | BaseException:
        start.wait()
        try:
            return fn(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def _job(job_id: str, owner: str, **fields: Any) -> JobRecord:
    return JobRecord(
        id=job_id,
        owner_key_id=owner,
        model="sora-2",
        deployment="d",
        provider="local",
        upstream_model="preview",
        request={"prompt": "p"},
        size="720x1280",
        seconds="1",
        prompt="p",
        estimated_cost=fields.pop("estimated_cost", 0.1),
        created_at=int(time.time()),
        **fields,
    )


# -- migrations --------------------------------------------------------------------------------


def test_migrations_from_empty_are_idempotent_and_match_the_schema(
    postgres: PostgresServer,
) -> None:
    db = Database(postgres.database())
    assert db.migrate() == len(MIGRATIONS)
    assert db.migrate() == len(MIGRATIONS)  # a second start changes nothing
    inspector = sqlalchemy.inspect(db.engine)
    for table in schema.metadata.sorted_tables:
        columns = {c["name"]: c for c in inspector.get_columns(table.name)}
        assert set(columns) == set(table.columns.keys()), table.name
    jobs_columns = {c["name"]: c for c in inspector.get_columns("jobs")}
    assert isinstance(jobs_columns["priced"]["type"], sqlalchemy.Boolean)
    assert isinstance(jobs_columns["claimed_until"]["type"], sqlalchemy.Float)
    with db.engine.connect() as conn:
        versions = conn.execute(text("SELECT version FROM schema_version ORDER BY 1")).all()
    assert [v for (v,) in versions] == [n for n, _, _ in MIGRATIONS]
    stored, created = db.jobs.insert(_job("video_pg", "k"))
    assert created and stored.priced is True and stored.claimed_by is None
    db.close()


def test_gateways_starting_together_migrate_once(postgres: PostgresServer) -> None:
    url = postgres.database()
    dbs = [Database(url) for _ in range(4)]
    results = _together(4, lambda i: dbs[i].migrate())
    assert results == [len(MIGRATIONS)] * 4
    with dbs[0].engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM schema_version")).scalar() == len(MIGRATIONS)
    for db in dbs:
        db.close()


def test_a_version_1_database_upgrades_on_postgres(postgres: PostgresServer) -> None:
    engine = sqlalchemy.create_engine(postgres.database())
    with engine.begin() as conn:
        schema_version.metadata.create_all(conn)
        _0001_initial(conn)
        conn.execute(schema_version.insert().values(version=1, name="initial", applied_at=0))
        conn.execute(
            text(
                "INSERT INTO jobs (id, owner_key_id, model, deployment, provider, upstream_model, "
                "request_json, size, seconds, status, progress, created_at, updated_at, "
                "estimated_cost, next_poll_at, attempts) VALUES ('video_old', 'k', 'sora-2', "
                "'d', 'local', 'preview', '{}', '720x1280', '4', 'completed', 100, 0, 0, 0.4, "
                "0, 0)"
            )
        )
    assert migrate(engine) == len(MIGRATIONS)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT priced, claimed_by FROM jobs WHERE id = 'video_old'")).one()
    assert tuple(row) == (True, None)
    engine.dispose()


# -- races in the store, on both databases ----------------------------------------------------


def _key(db: Database, max_budget: float | None) -> str:
    _, record = db.keys.create(
        alias=None, models=[], max_budget=max_budget, rpm_limit=None, metadata={}, expires_at=None
    )
    return record.id


def test_concurrent_idempotent_inserts_make_one_job(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    owner = _key(db, max_budget=None)

    def insert(i: int) -> tuple[JobRecord, bool]:
        job = _job(f"video_{i:048x}", owner, idempotency_key="same", idempotency_fingerprint="f")
        return db.jobs.insert(job)

    results = _together(12, insert)
    assert not [r for r in results if isinstance(r, BaseException)], results
    pairs = [r for r in results if not isinstance(r, BaseException)]
    assert sum(created for _, created in pairs) == 1
    assert len({job.id for job, _ in pairs}) == 1
    key = db.keys.get(owner)
    assert key is not None and key.spend == pytest.approx(0.1)  # charged once
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM jobs")).scalar() == 1
    db.close()


def test_concurrent_charges_never_pass_the_budget(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    owner = _key(db, max_budget=0.5)
    results = _together(16, lambda i: db.jobs.insert(_job(f"video_{i:048x}", owner)))
    created = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert (len(created), len(refused)) == (5, 11), results
    key = db.keys.get(owner)
    assert key is not None and key.spend == pytest.approx(0.5)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM jobs")).scalar() == 5
    db.close()


def test_leases_are_exclusive_renewable_and_expire(db_url: str) -> None:
    first, second = Database(db_url), Database(db_url)  # two gateways' connections
    first.migrate()
    ids = [f"video_{i:048x}" for i in range(40)]
    for job_id in ids:
        first.jobs.insert(_job(job_id, "k", upstream_id="up-" + job_id, status="in_progress"))
    now = time.time()

    def take_all(i: int) -> list[str]:
        db, holder = (first, "a") if i % 2 == 0 else (second, "b")
        won = []
        for job in db.jobs.due(now, 100):
            if db.jobs.claim(job.id, holder=holder, now=now, lease=30) is not None:
                won.append(job.id)
        return won

    results = _together(4, take_all)
    won = [r for r in results if isinstance(r, list)]
    assert len(won) == 4, results
    taken = [job_id for w in won for job_id in w]
    assert sorted(taken) == sorted(ids)  # every job claimed, none twice
    assert first.jobs.due(now, 100) == []  # held jobs are not due for anyone
    assert first.jobs.next_due_at() == pytest.approx(now + 30)  # ... until the leases end

    job_id = ids[0]
    holder = first.jobs.get(job_id).claimed_by  # type: ignore[union-attr]
    other = "b" if holder == "a" else "a"
    assert second.jobs.claim(job_id, holder=other, now=now + 29, lease=30) is None
    assert first.jobs.renew(job_id, holder=holder or "", now=now + 20, lease=30)
    assert second.jobs.claim(job_id, holder=other, now=now + 45, lease=30) is None  # renewed
    stolen = second.jobs.claim(job_id, holder=other, now=now + 51, lease=30)  # expired
    assert stolen is not None and stolen.claimed_by == other
    assert not first.jobs.renew(job_id, holder=holder or "", now=now + 52, lease=30)
    first.jobs.release(job_id, holder=holder or "")  # not its lease any more: no effect
    assert first.jobs.get(job_id).claimed_by == other  # type: ignore[union-attr]
    second.jobs.release(job_id, holder=other)
    assert first.jobs.claim(job_id, holder="c", now=now + 53, lease=30) is not None
    assert first.jobs.release_all(holder="c") == 1
    # A finished job is never claimed.
    assert first.jobs.fail(job_id, {"code": "x", "message": "y"})
    assert second.jobs.claim(job_id, holder=other, now=now + 99, lease=30) is None
    first.close()
    second.close()


# -- two pollers in one process, on one database ----------------------------------------------


@contextlib.asynccontextmanager
async def _gateway_states(
    n: int, db_url: str, base_url: str, storage: Path
) -> AsyncIterator[list[GatewayState]]:
    settings = Settings.model_validate(
        {
            "model_list": [
                {
                    "model_name": "sora-2",
                    "params": {
                        "model": "openai/sora-2",
                        "api_base": base_url,
                        "api_key": "sk-test",
                    },
                }
            ],
            "general_settings": {
                "database_url": db_url,
                "storage_dir": str(storage),
                "poll_after_ms": 50,
                "poll_concurrency": 2,
            },
        }
    )
    states = [build_state(settings) for _ in range(n)]
    for state in states:
        state.db.migrate()
        state.storage.open()
    try:
        yield states
    finally:
        for state in states:
            await state.poller.stop()
            await state.engine.aclose()
            await state.poller.webhooks.aclose()
            state.db.close()


async def test_two_pollers_never_poll_one_job_at_once(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Leases far shorter than a copy: only renewal keeps the other poller off the job.
    monkeypatch.setattr(poller_module, "LEASE_SECONDS", 0.6)
    monkeypatch.setattr(poller_module, "LEASE_RENEW_EVERY", 0.15)
    upstream = FakeOpenAIState(polls_to_complete=2, poll_after_ms=10)
    upstream.inject(method="GET", path=CONTENT, status=None, delay=0.4, times=1000)
    with run_fake_openai(upstream) as base_url:
        async with _gateway_states(2, db_url, base_url, tmp_path / "storage") as states:
            in_flight: set[str] = set()
            overlaps: list[str] = []
            polled_by: Counter[int] = Counter()
            for index, state in enumerate(states):
                original = state.poller.poll

                async def poll(
                    job: JobRecord, original: Any = original, index: int = index
                ) -> None:
                    if job.id in in_flight:
                        overlaps.append(job.id)
                    in_flight.add(job.id)
                    polled_by[index] += 1
                    try:
                        await original(job)
                    finally:
                        in_flight.discard(job.id)

                monkeypatch.setattr(state.poller, "poll", poll)
            caller = Caller(owner="master", admin=True)
            made = [
                await states[0].videos.create(
                    caller, CreateBody(prompt=f"job {i}", model="sora-2"), idempotency_key=None
                )
                for i in range(8)
            ]
            for state in states:
                state.poller.start()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                jobs = [states[0].db.jobs.get(job.id) for job in made]
                if all(j is not None and j.status == "completed" for j in jobs):
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail(f"not all completed: {[j and j.status for j in jobs]}")
    assert overlaps == []
    assert min(polled_by[0], polled_by[1]) > 0, polled_by  # both pollers did work
    copies = Counter((r.path, r.query.get("variant", "video")) for r in _content(upstream))
    assert len(copies) == 8 * 3 and set(copies.values()) == {1}, copies


async def test_a_poller_that_loses_its_lease_lets_the_job_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(poller_module, "LEASE_SECONDS", 0.6)
    monkeypatch.setattr(poller_module, "LEASE_RENEW_EVERY", 0.15)
    upstream = FakeOpenAIState(polls_to_complete=1, poll_after_ms=10)
    upstream.inject(method="GET", path=CONTENT, status=None, delay=1.0, times=1)
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    with run_fake_openai(upstream) as base_url:
        async with _gateway_states(1, db_url, base_url, tmp_path / "storage") as [state]:
            caller = Caller(owner="master", admin=True)
            job = await state.videos.create(caller, CreateBody(prompt="slow"), idempotency_key=None)
            state.poller.start()
            while not _content(upstream):  # the copy began (and is slowed by the fault)
                await asyncio.sleep(0.02)
            # Another gateway "takes over" (as if this one had stalled past its lease).
            with state.db.engine.begin() as conn:
                conn.execute(
                    text("UPDATE jobs SET claimed_by = 'thief', claimed_until = :until"),
                    {"until": time.time() + 60},
                )
            await asyncio.sleep(0.6)
            stolen = state.db.jobs.get(job.id)
            assert stolen is not None and stolen.status in ("queued", "in_progress")
            assert stolen.claimed_by == "thief" and state.poller._busy == {}  # it let go
            state.db.jobs.release(job.id, holder="thief")
            state.poller.wake()
            deadline = time.monotonic() + 10
            while (done := state.db.jobs.get(job.id)) and done.status != "completed":
                assert time.monotonic() < deadline, done
                await asyncio.sleep(0.05)


def _content(state: FakeOpenAIState) -> list[Any]:
    return state.requests_for("GET", CONTENT)


# -- the real gateway on PostgreSQL -----------------------------------------------------------


@pytest.fixture(scope="module")
def pg_gateway(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("gw-pg")
    gw = Gateway(home, standard_config(home, database_url=postgres.database())).start(
        subprocess=True
    )
    try:
        yield gw
    finally:
        gw.stop()


def _info(gw: Gateway, key: str) -> dict[str, Any]:
    with gw.http(key) as http:
        reply = http.get("/key/info")
    assert reply.status_code == 200, reply.text
    info: dict[str, Any] = reply.json()["info"]
    return info


def test_gateway_flow_on_postgres(pg_gateway: Gateway) -> None:
    gw = pg_gateway
    assert gw.db_url.startswith("postgresql+psycopg://")
    key = gw.new_key(key_alias="pg", max_budget=0.35)
    client = gw.openai(key)
    video = client.videos.create(prompt="A lighthouse", model="local/preview", seconds="1")
    done = wait_done(client, video.id)
    assert done.status == "completed", done.error
    assert is_mp4(client.videos.download_content(video.id).content)
    paid = client.videos.create(prompt="paid", model="sora-2", seconds="3")  # $0.30
    assert [v.id for v in client.videos.list()] == [paid.id, video.id]
    assert _info(gw, key)["spend"] == pytest.approx(0.3)
    with pytest.raises(openai.BadRequestError) as caught:  # $0.10 more passes $0.35
        client.videos.create(prompt="over", model="sora-2", seconds="1")
    assert caught.value.code == "budget_exceeded"
    assert wait_done(client, paid.id).status == "completed"
    with gw.http(key) as http:
        logs = http.get("/spend/logs").json()
    assert {(e["request_id"], e["spend"]) for e in logs} == {(paid.id, 0.3), (video.id, 0.0)}
    client.videos.delete(video.id)
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    assert [v.id for v in client.videos.list()] == [paid.id]
    with gw.http() as http:
        assert http.get("/health/readiness").json()["db"] == "connected"


def test_concurrent_idempotent_creates_on_postgres(pg_gateway: Gateway) -> None:
    key = pg_gateway.new_key()
    body = {"prompt": "once only", "model": "sora-2", "seconds": "2"}

    def create(_: int) -> str:
        with pg_gateway.http(key) as http:
            reply = http.post("/v1/videos", json=body, headers={"Idempotency-Key": "pg-1"})
        assert reply.status_code == 200, reply.text
        video_id: str = reply.json()["id"]
        return video_id

    ids = _together(8, create)
    assert len(set(ids)) == 1 and isinstance(ids[0], str), ids
    assert _info(pg_gateway, key)["spend"] == pytest.approx(0.2)
    with pg_gateway.http(key) as http:
        assert [v["id"] for v in http.get("/v1/videos").json()["data"]] == [ids[0]]


def test_concurrent_creates_on_postgres_stay_within_budget(pg_gateway: Gateway) -> None:
    key = pg_gateway.new_key(max_budget=0.45)

    def create(i: int) -> int:
        with pg_gateway.http(key) as http:
            return http.post(
                "/v1/videos", json={"prompt": f"race {i}", "model": "sora-2", "seconds": "1"}
            ).status_code

    statuses = Counter(_together(12, create))
    assert statuses == {200: 4, 400: 8}, statuses
    assert _info(pg_gateway, key)["spend"] == pytest.approx(0.4)


# -- two gateways on one PostgreSQL database --------------------------------------------------


def test_two_gateways_share_the_jobs_and_survive_a_kill(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    upstream = FakeOpenAIState(polls_to_complete=3, poll_after_ms=10)
    with run_fake_openai(upstream) as base_url:
        config = standard_config(
            tmp_path, database_url=postgres.database(), storage_dir=str(tmp_path / "storage")
        )
        config["model_list"] = [
            {
                "model_name": "sora-2",
                "params": {"model": "openai/sora-2", "api_base": base_url, "api_key": "sk-test"},
            }
        ]
        first = Gateway(tmp_path / "a", config)
        second = Gateway(tmp_path / "b", config)
        try:
            _share_and_survive(
                upstream, first.start(subprocess=True), second.start(subprocess=True)
            )
        finally:
            first.stop()
            second.stop()


def _share_and_survive(upstream: FakeOpenAIState, first: Gateway, second: Gateway) -> None:
    gateways = (first, second)
    clients = [gw.openai() for gw in gateways]
    # 1. Jobs created through both; each is copied from upstream exactly once.
    made = [
        clients[i % 2].videos.create(prompt=f"shared {i}", model="sora-2", seconds="4")
        for i in range(12)
    ]
    for i, video in enumerate(made):
        assert wait_done(clients[(i + 1) % 2], video.id, timeout=30).status == "completed"
    copies = Counter((r.path, r.query.get("variant", "video")) for r in _content(upstream))
    assert len(copies) == 12 * 3 and set(copies.values()) == {1}, copies
    logs = [gw.log.read_text() for gw in gateways]
    assert not [line for log in logs for line in log.splitlines() if "Traceback" in line]
    for i, video in enumerate(made[:4]):
        [upstream_job] = [j for j in upstream.videos() if j["prompt"] == f"shared {i}"]
        got = clients[(i + 1) % 2].videos.download_content(video.id).content
        assert got == upstream.expected_content(upstream_job["id"])

    # 2. A gateway killed while copying: its leases run out and the other finishes its jobs.
    upstream.inject(method="GET", path=CONTENT, status=None, delay=0.5, times=1000)
    before = len(_content(upstream))
    late: list[Any] = []
    assert first.proc is not None
    pid = first.proc.pid
    engine = sqlalchemy.create_engine(first.db_url)
    copying: set[str] = set()  # jobs the first gateway holds and has begun to copy
    deadline = time.monotonic() + 30
    # Both pollers wake on every create (LISTEN/NOTIFY) and race for the jobs: create through
    # the first gateway, a batch at a time, until it holds one mid-copy.
    next_batch = time.monotonic()
    while not copying and time.monotonic() < deadline:
        if time.monotonic() >= next_batch and len(late) < 24:
            late += [
                clients[0].videos.create(
                    prompt=f"late {len(late) + i}", model="sora-2", seconds="4"
                )
                for i in range(6)
            ]
            next_batch = time.monotonic() + 3
        with engine.connect() as conn:
            held = dict(
                conn.execute(
                    text("SELECT upstream_id, id FROM jobs WHERE claimed_by LIKE :me"),
                    {"me": f"%:{pid}:%"},
                ).all()
            )
        fetched = {r.path.split("/")[3] for r in _content(upstream)[before:]}
        copying = {held[upstream_id] for upstream_id in fetched & set(held)}
        time.sleep(0.05)
    engine.dispose()
    assert copying, "the first gateway never held a job mid-copy"
    first.kill()
    for video in late:
        done = wait_done(clients[1], video.id, timeout=40)
        assert done.status == "completed", (video.id, done.error)
    assert copying <= {v.id for v in late}
    for video in late:
        [upstream_job] = [j for j in upstream.videos() if j["prompt"] == video.prompt]
        got = clients[1].videos.download_content(video.id).content
        assert got == upstream.expected_content(upstream_job["id"])


# -- the SQLite suite's key, spend and idempotency tests, again on PostgreSQL -------------------


@pytest.fixture(scope="module")
def gateway(pg_gateway: Gateway) -> Gateway:
    """What those tests call ``gateway``: here, the gateway on PostgreSQL."""
    return pg_gateway


for _module in (test_keys_spend, test_idempotency):
    for _name, _test in vars(_module).items():
        if _name.startswith("test_"):
            globals()[_name] = _test
