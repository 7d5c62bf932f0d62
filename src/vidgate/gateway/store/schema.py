"""The tables as the current code queries them (the shape ``migrations.py`` builds).

A test checks that a freshly migrated database has exactly these columns.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    true,
)

metadata = MetaData()

api_keys = Table(
    "api_keys",
    metadata,
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
    # Overrides the gateway's retention for this key's videos (seconds; null: the gateway's).
    Column("retention_seconds", BigInteger),
)

jobs = Table(
    "jobs",
    metadata,
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
    Column("priced", Boolean, nullable=False, server_default=true()),
    # The poll lease: which gateway instance is polling the job, and until when (unix s).
    Column("claimed_by", String(64)),
    Column("claimed_until", Float),
)

# Gateway-wide leases (one gateway at a time does the named work): who holds each, until when.
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(64)),
    Column("until", Float, nullable=False),
)
