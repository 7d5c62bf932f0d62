"""Without Redis, replicas on one PostgreSQL wake each other's pollers with LISTEN/NOTIFY
(issue 10): a create on one replica is announced, the others wake, and a replica ignores its
own announcements."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vidgate.gateway.pg_wake import PgWake, is_postgres, libpq_url

from ._postgres import PostgresServer, running_postgres


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


def test_urls() -> None:
    assert is_postgres("postgresql+psycopg://u:p@127.0.0.1:5/db")
    assert not is_postgres("sqlite:///x.db")
    assert libpq_url("postgresql+psycopg://u:p@127.0.0.1:5/db") == "postgresql://u:p@127.0.0.1:5/db"


async def test_a_wake_on_one_replica_reaches_the_others(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    url = postgres.database()
    woken = {"a": 0, "b": 0}

    def waker(name: str) -> Callable[[], None]:
        def wake() -> None:
            woken[name] += 1

        return wake

    a = PgWake(url, instance="replica-a", wake=waker("a"))
    b = PgWake(url, instance="replica-b", wake=waker("b"))
    a.start()
    b.start()
    try:
        await asyncio.sleep(0.5)  # both listening
        a.wake()  # a create on A: A wakes itself and tells B
        for _ in range(100):
            if b.received:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        assert (woken["a"], woken["b"]) == (1, 1)
        assert (a.received, b.received) == (0, 1)  # A ignored its own announcement
    finally:
        await a.aclose()
        await b.aclose()
