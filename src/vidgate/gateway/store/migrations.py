"""Numbered, append-only schema migrations with a ``schema_version`` table.

Each migration is a function of a connection, applied once, in order, inside a transaction.
Never edit a released migration: add the next number. Every migration defines the tables it
touches itself (not from ``schema.py``), so it stays what it was when it shipped. Types and
statements are portable: the same migrations build SQLite (the default) and PostgreSQL.

Several gateways may start together on one PostgreSQL database: each migration's transaction
first takes a transaction-scoped advisory lock, so they apply one at a time and the later ones
find the work done.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
    text,
)

Migration = Callable[[Connection], None]


def _0001_initial(conn: Connection) -> None:
    meta = MetaData()
    Table(
        "api_keys",
        meta,
        Column("id", String(64), primary_key=True),
        Column("key_hash", String(64), nullable=False, unique=True),
        Column("key_prefix", String(32), nullable=False),
        Column("alias", String(200)),
        Column("models_json", Text, nullable=False),
        Column("max_budget", Float),
        Column("rpm_limit", Integer),
        Column("metadata_json", Text, nullable=False),
        Column("spend", Float, nullable=False),
        Column("created_at", BigInteger, nullable=False),
        Column("expires_at", BigInteger),
        Column("revoked_at", BigInteger),
    )
    Table(
        "jobs",
        meta,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("id", String(64), nullable=False, unique=True),
        Column("owner_key_id", String(64), nullable=False),
        Column("model", String(200), nullable=False),
        Column("deployment", String(200), nullable=False),
        Column("provider", String(64), nullable=False),
        Column("upstream_model", String(200), nullable=False),
        Column("upstream_id", String(400)),
        Column("request_json", Text, nullable=False),
        Column("prompt", Text),
        Column("size", String(32), nullable=False),
        Column("seconds", String(16), nullable=False),
        Column("remixed_from", String(64)),
        Column("status", String(16), nullable=False),
        Column("progress", Integer, nullable=False),
        Column("created_at", BigInteger, nullable=False),
        Column("updated_at", BigInteger, nullable=False),
        Column("completed_at", BigInteger),
        Column("expires_at", BigInteger),
        Column("error_json", Text),
        Column("estimated_cost", Float, nullable=False),
        Column("settled_cost", Float),
        Column("storage_path", Text),
        Column("idempotency_key", String(255)),
        Column("idempotency_fingerprint", String(64)),
        Column("next_poll_at", Float, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("deleted_at", BigInteger),
        UniqueConstraint("owner_key_id", "idempotency_key", name="uq_jobs_idempotency"),
        Index("ix_jobs_owner_seq", "owner_key_id", "seq"),
        Index("ix_jobs_status_poll", "status", "next_poll_at"),
        Index("ix_jobs_created", "created_at"),
    )
    meta.create_all(conn)


def _0002_jobs_priced(conn: Connection) -> None:
    # Jobs of models with no known price report ``cost_usd: null`` instead of 0.
    conn.execute(text("ALTER TABLE jobs ADD COLUMN priced BOOLEAN NOT NULL DEFAULT TRUE"))


def _0003_jobs_claim(conn: Connection) -> None:
    # Several gateways poll one database: the one polling a job holds a lease on it (its
    # instance id, and until when, in unix seconds) so no other polls or copies it meanwhile.
    conn.execute(text("ALTER TABLE jobs ADD COLUMN claimed_by VARCHAR(64)"))
    conn.execute(text("ALTER TABLE jobs ADD COLUMN claimed_until FLOAT"))


def _0004_retention(conn: Connection) -> None:
    # Retention: a key may keep its videos for a period other than the gateway's, and the
    # sweeper that deletes expired content runs on one gateway at a time, holding the
    # ``sweeper`` row of ``leases`` (its instance id, and until when, in unix seconds).
    conn.execute(text("ALTER TABLE api_keys ADD COLUMN retention_seconds BIGINT"))
    meta = MetaData()
    Table(
        "leases",
        meta,
        Column("name", String(64), primary_key=True),
        Column("holder", String(64)),
        Column("until", Float, nullable=False),
    )
    meta.create_all(conn)
    conn.execute(text("CREATE INDEX ix_jobs_expires ON jobs (expires_at)"))


MIGRATIONS: tuple[tuple[int, str, Migration], ...] = (
    (1, "initial", _0001_initial),
    (2, "jobs.priced", _0002_jobs_priced),
    (3, "jobs.claim", _0003_jobs_claim),
    (4, "retention", _0004_retention),
)

# The key of PostgreSQL's advisory lock that serializes migrations (any fixed 64-bit number;
# this one spells "vidgate" in ASCII).
_MIGRATION_LOCK = 0x76696467617465

_meta = MetaData()
schema_version = Table(
    "schema_version",
    _meta,
    Column("version", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("applied_at", BigInteger, nullable=False),
)


def current_version(conn: Connection) -> int:
    rows = conn.execute(select(schema_version.c.version)).scalars().all()
    return max(rows, default=0)


def _serialize(conn: Connection) -> None:
    """Wait until no other gateway is migrating (PostgreSQL; released at commit)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK)))


def migrate(engine: Engine) -> int:
    """Apply every migration not yet applied; returns the schema version now in force."""
    with engine.begin() as conn:
        _serialize(conn)
        _meta.create_all(conn)
    version = 0
    for number, name, step in MIGRATIONS:
        with engine.begin() as conn:
            _serialize(conn)
            # Re-read inside the transaction (after the lock): two gateways starting together
            # apply each once (and on SQLite, the primary key on ``version`` makes the loser's
            # insert fail and roll back).
            if number <= current_version(conn):
                version = number
                continue
            step(conn)
            conn.execute(
                schema_version.insert().values(
                    version=number, name=name, applied_at=int(time.time())
                )
            )
            version = number
    return version
