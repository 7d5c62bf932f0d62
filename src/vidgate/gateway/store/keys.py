"""API keys: stored as SHA-256 of a high-entropy random key; the plain text is shown once.

A key's ``spend`` is a running total kept in step with its jobs' costs: charged when a job is
accepted (in the same transaction as the job row), adjusted when the job settles, and
refunded when it fails or is deleted before completing.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from .schema import api_keys

KEY_PREFIX = "sk-vg-"


def hash_key(plain: str) -> str:
    """The stored form of a key. The key has 256 random bits, so no salt or stretching is
    needed: nobody can guess it by brute force, and the hash cannot be reversed."""
    return hashlib.sha256(plain.encode()).hexdigest()


@dataclass(frozen=True)
class KeyRecord:
    """One virtual key, as stored (never its plain text)."""

    id: str
    key_hash: str
    key_prefix: str
    alias: str | None
    models: list[str]
    max_budget: float | None
    rpm_limit: int | None
    metadata: dict[str, Any]
    spend: float
    created_at: int
    expires_at: int | None
    revoked_at: int | None
    # How long this key's finished videos are kept (seconds); ``None``: the gateway's period.
    retention_seconds: int | None = None

    def public(self) -> dict[str, Any]:
        """The key's info as ``/key/info`` and ``/key/list`` show it."""
        return {
            "key_id": self.id,
            "key_name": f"{self.key_prefix}...",
            "key_alias": self.alias,
            "models": self.models,
            "max_budget": self.max_budget,
            "rpm_limit": self.rpm_limit,
            "metadata": self.metadata,
            "spend": round(self.spend, 4),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked": self.revoked_at is not None,
            "retention_seconds": self.retention_seconds,
        }


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def _record(row: Any) -> KeyRecord:
    return KeyRecord(
        id=row.id,
        key_hash=row.key_hash,
        key_prefix=row.key_prefix,
        alias=row.alias,
        models=json.loads(row.models_json),
        # A budget stored before budgets were bounded may be infinite: that means none.
        max_budget=row.max_budget
        if row.max_budget is None or math.isfinite(row.max_budget)
        else None,
        rpm_limit=row.rpm_limit,
        metadata=json.loads(row.metadata_json),
        spend=float(row.spend),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        retention_seconds=row.retention_seconds,
    )


class KeyStore:
    """Create, find, list and revoke keys; charge and refund their spend."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(
        self,
        *,
        alias: str | None,
        models: list[str],
        max_budget: float | None,
        rpm_limit: int | None,
        metadata: dict[str, Any],
        expires_at: int | None,
        retention_seconds: int | None = None,
    ) -> tuple[str, KeyRecord]:
        """A new key: returns its plain text (shown once) and its record."""
        plain = KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = "key_" + secrets.token_hex(12)
        values = {
            "id": key_id,
            "key_hash": hash_key(plain),
            "key_prefix": plain[: len(KEY_PREFIX) + 4],
            "alias": alias,
            "models_json": json.dumps(models),
            "max_budget": max_budget,
            "rpm_limit": rpm_limit,
            "metadata_json": json.dumps(metadata),
            "spend": 0.0,
            "created_at": int(time.time()),
            "expires_at": expires_at,
            "revoked_at": None,
            "retention_seconds": retention_seconds,
        }
        with self._engine.begin() as conn:
            conn.execute(api_keys.insert().values(**values))
        record = self.get(key_id)
        assert record is not None
        return plain, record

    def by_hash(self, key_hash: str) -> KeyRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_hash == key_hash)).first()
        return _record(row) if row else None

    def get(self, key_id: str) -> KeyRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        return _record(row) if row else None

    def list(self) -> list[KeyRecord]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at)).all()
        return [_record(r) for r in rows]

    def revoke(self, key_id: str) -> bool:
        """Mark a key revoked (its jobs and spend history stay); ``False`` if unknown."""
        with self._engine.begin() as conn:
            result = conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=int(time.time()))
            )
        return result.rowcount > 0


def charge(conn: Connection, key_id: str, amount: float) -> bool:
    """Add ``amount`` to the key's spend unless that passes its budget; ``False`` if it would.

    One conditional ``UPDATE``, so two concurrent creates cannot both slip under the budget.
    Keys not in the table (the master key, open local mode) have no budget.
    """
    result = conn.execute(
        update(api_keys)
        .where(
            api_keys.c.id == key_id,
            (api_keys.c.max_budget.is_(None))
            | (api_keys.c.spend + amount <= api_keys.c.max_budget + 1e-9),
        )
        .values(spend=api_keys.c.spend + amount)
    )
    if result.rowcount > 0:
        return True
    exists = conn.execute(select(api_keys.c.id).where(api_keys.c.id == key_id)).first()
    return exists is None


def adjust(conn: Connection, key_id: str, delta: float) -> None:
    """Move a key's spend by ``delta`` (a settlement or a refund)."""
    if delta:
        conn.execute(
            update(api_keys).where(api_keys.c.id == key_id).values(spend=api_keys.c.spend + delta)
        )
