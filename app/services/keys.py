"""API keys: created with a scope, shown once, stored as a SHA-256 digest, revocable.

A key reads `terr_<prefix>_<secret>`. The prefix finds the row; the digest of the whole key proves it. Keys are
random 256-bit tokens, so a plain SHA-256 is enough: there is no low-entropy password to stretch.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries import keys as q
from app.vocabulary import Scope

KEY_PREFIX = "terr_"
# What each scope may do: admin ⊃ ingest ⊃ read.
SCOPE_RANK: dict[str, int] = {"read": 0, "ingest": 1, "admin": 2}


class Recorder(Protocol):
    """Who records a write: an API key, or the command line, which writes with no key (recorded_by NULL)."""

    @property
    def id(self) -> int | None: ...

    @property
    def prefix(self) -> str: ...


@dataclass(frozen=True)
class CommandLine:
    """The recorder of `territory ingest` in direct mode: it has the database itself, and no key."""

    id: None = None
    prefix: str = "cli"


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    prefix: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None
    # Stamped when the key is presented, at most once a minute (app/db/sql/admit_api_key.sql): to the minute.
    last_used_at: datetime | None

    def allows(self, scope: Scope) -> bool:
        return SCOPE_RANK[self.scope] >= SCOPE_RANK[scope]


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def split_key(key: str) -> str | None:
    """The prefix of a well-formed key, or None."""
    if not key.startswith(KEY_PREFIX):
        return None
    prefix, _, secret = key[len(KEY_PREFIX) :].partition("_")
    return prefix if prefix and secret else None


async def create_key(conn: AsyncConnection, *, name: str, scope: Scope) -> tuple[ApiKey, str]:
    """A new key: its row, and the key itself (shown once; only its digest is stored)."""
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    key = f"{KEY_PREFIX}{prefix}_{secret}"
    row = (
        await conn.execute(
            q.CREATE_KEY,
            {"name": name, "prefix": prefix, "digest": digest(key), "scope": scope},
        )
    ).one()
    return ApiKey(**row._mapping), key


async def list_keys(conn: AsyncConnection) -> list[ApiKey]:
    rows = await conn.execute(q.LIST_KEYS)
    return [ApiKey(**row._mapping) for row in rows]


async def revoke_key(conn: AsyncConnection, *, prefix: str) -> ApiKey | None:
    """Revoke the key with this prefix (or full key); None when there is none. Revoking twice keeps the first date."""
    prefix = split_key(prefix) or prefix
    row = (
        await conn.execute(
            q.REVOKE_KEY,
            {"prefix": prefix},
        )
    ).one_or_none()
    return ApiKey(**row._mapping) if row else None


@dataclass(frozen=True)
class Admission:
    """What the primary said of a presented key (app/db/sql/admit_api_key.sql): `outcome` is `admitted`,
    `wrong-key`, `wrong-keys` (its address has no wrong key left), `forbidden` or `limited`; `key` is the live key
    (admitted, forbidden, limited); `wait_seconds` until a token is back (wrong-keys, limited)."""

    outcome: str
    key: ApiKey | None
    wait_seconds: float | None


async def admit(
    conn: AsyncConnection,
    key: str,
    *,
    client: str | None,
    scope: Scope,
    per_minute: float,
    wrong_per_minute: float,
) -> Admission:
    """Look the key up and take a token from its rate (or a wrong-key token from `client`), in one statement."""
    prefix = split_key(key)
    row = (
        await conn.execute(
            q.ADMIT_KEY,
            {
                "prefix": prefix,
                "digest": digest(key),
                "client": client,
                "scopes": [name for name, rank in SCOPE_RANK.items() if rank >= SCOPE_RANK[scope]],
                "per_minute": per_minute,
                "wrong_per_minute": wrong_per_minute,
            },
        )
    ).one()
    api_key = (
        ApiKey(row.key_id, row.key_name, row.key_prefix, row.key_scope, row.key_created_at, None, None)
        if row.key_id is not None
        else None
    )
    return Admission(row.outcome, api_key, row.wait_seconds)
