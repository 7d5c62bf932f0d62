"""Replicas sharing rate limits and poller wake-ups through a real ``redis-server``.

Two in-process gateways share one database, one storage directory and one Redis on
loopback. CI installs Debian's ``redis-server``; without it these tests fail, never skip.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml

from tests.fakes.loopback import serve_on_loopback
from tests.gateway.conftest import MASTER_KEY, free_port, standard_config
from vidgate.gateway import create_app, load_settings
from vidgate.gateway.redis_state import SharedState

CREATE = {"prompt": "x", "model": "local/preview", "seconds": "1"}


@contextlib.contextmanager
def redis_server(tmp: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (CI installs Debian's redis-server)")
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    proc = subprocess.Popen([*args, "no", "--dir", str(tmp)], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        yield proc, url
    finally:
        client.close()
        proc.kill()
        proc.wait()


@dataclass
class Replica:
    url: str
    app: Any

    @property
    def shared(self) -> SharedState:
        shared = self.app.state.gateway.videos.limiter
        assert isinstance(shared, SharedState)
        return shared

    def create(self, key: str) -> httpx.Response:
        headers = {"authorization": f"Bearer {key}"}
        return httpx.post(f"{self.url}/v1/videos", json=CREATE, headers=headers, timeout=10)


@contextlib.contextmanager
def replicas(home: Path, redis_url: str) -> Iterator[tuple[Replica, Replica]]:
    """Two gateways on one database, one storage directory and one Redis."""
    config = standard_config(home, redis_url=redis_url, local_dir=str(home / "local"))
    (home / "config.yaml").write_text(yaml.safe_dump(config))
    with contextlib.ExitStack() as stack:
        served = []
        for _ in range(2):  # one after the other: the first migrates the database
            app = create_app(load_settings(home / "config.yaml"))
            url, _server = stack.enter_context(serve_on_loopback(app))
            served.append(Replica(url, app))
        yield served[0], served[1]


def new_key(replica: Replica, **body: Any) -> str:
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    reply = httpx.post(f"{replica.url}/key/generate", json=body, headers=headers, timeout=10)
    assert reply.status_code == 200, reply.text
    key: str = reply.json()["key"]
    return key


def test_rpm_limit_holds_across_replicas(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as (_proc, url), replicas(tmp_path, url) as (a, b):
        key = new_key(a, rpm_limit=5)
        targets = [a, b] * 5
        with ThreadPoolExecutor(max_workers=10) as pool:
            replies = list(pool.map(lambda replica: replica.create(key), targets))
        codes = sorted(reply.status_code for reply in replies)
        assert codes == [200] * 5 + [429] * 5, [reply.text for reply in replies]
        for reply in replies:
            if reply.status_code == 429:
                assert 1 <= int(reply.headers["retry-after"]) <= 60
                assert reply.json()["error"]["code"] == "rate_limit_exceeded"
        # Both replicas answered some of them, and neither used its own limiter.
        assert a.shared.fallback._hits == {} and b.shared.fallback._hits == {}


def test_create_on_one_replica_wakes_the_others_poller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with redis_server(tmp_path / "redis") as (_proc, url), replicas(tmp_path, url) as (a, b):
        woken: list[float] = []
        poller_b = b.app.state.gateway.poller
        wake = poller_b.wake
        monkeypatch.setattr(poller_b, "wake", lambda: (woken.append(time.monotonic()), wake()))
        key = new_key(a)
        deadline = time.monotonic() + 5
        while b.shared.received == 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # the subscriber may still be subscribing: create until heard
            assert a.create(key).status_code == 200
        assert b.shared.received >= 1, "replica B heard no wake-up from replica A's create"
        assert woken, "replica B's poller was not woken"
        assert a.shared.received == 0  # a replica ignores its own wake-ups


def test_redis_down_keeps_creates_working_per_replica(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="vidgate.gateway.redis")
    with redis_server(tmp_path / "redis") as (proc, url), replicas(tmp_path, url) as (a, b):
        key = new_key(a, rpm_limit=3)
        assert a.create(key).status_code == 200  # counted in Redis
        proc.kill()
        proc.wait()
        started = time.monotonic()
        on_a = [a.create(key) for _ in range(4)]
        on_b = [b.create(key) for _ in range(3)]
        elapsed = time.monotonic() - started
        replies = on_a + on_b
        assert all(reply.status_code < 500 for reply in replies), [r.text for r in replies]
        # Each replica now limits on its own: 3 a minute each.
        assert [r.status_code for r in on_a] == [200, 200, 200, 429]
        assert [r.status_code for r in on_b] == [200, 200, 200]
        assert "retry-after" in on_a[-1].headers
        assert elapsed < 7 * 1.0, "creates waited on the dead Redis"
        warnings = [r for r in caplog.records if r.name == "vidgate.gateway.redis"]
        assert warnings and all(r.levelno == logging.WARNING for r in warnings)
        assert any("per replica" in r.getMessage() for r in warnings)
