"""What the read routing asks PostgreSQL: WAL positions of the primary, and a standby's state and replay."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# After a commit, in the committing session: where the WAL insertion stands, at or past the end of the commit
# record whatever synchronous_commit says (the write and flush positions may still be short of it when commits
# are asynchronous: the test clusters run so). A database that has replayed this far sees the write.
COMMIT_POSITION = text("SELECT pg_current_wal_insert_lsn()::text")
# What a standby can have received by now: the primary's WAL flushed to disk, the ends of whole records (the
# insert position can stand past a page header no replay ever reaches while the primary is idle).
PRIMARY_POSITION = text("SELECT pg_current_wal_flush_lsn()::text")
STANDBY_STATE = text(
    """SELECT pg_is_in_recovery() AS in_recovery,
              pg_last_wal_replay_lsn()::text AS replayed,
              extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS replay_age"""
)
LSN = re.compile(r"[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}")


def lsn(value: str) -> int:
    """PostgreSQL's text form of a WAL position (`16/B374D848`: two hexadecimal halves) as a number."""
    if not LSN.fullmatch(value):
        raise ValueError(value)
    high, _, low = value.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def lsn_text(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


@dataclass(frozen=True)
class StandbyState:
    in_recovery: bool
    # The end of the last WAL record replayed (None when not a standby).
    replayed: int | None
    # Seconds since the last transaction replayed was committed on the primary (None before the first).
    replay_age: float | None


async def commit_position(conn: AsyncConnection) -> int:
    return lsn(str(await conn.scalar(COMMIT_POSITION)))


async def primary_position(conn: AsyncConnection) -> int:
    return lsn(str(await conn.scalar(PRIMARY_POSITION)))


async def standby_state(conn: AsyncConnection) -> StandbyState:
    row = (await conn.execute(STANDBY_STATE)).one()
    return StandbyState(bool(row.in_recovery), lsn(row.replayed) if row.replayed else None, row.replay_age)
