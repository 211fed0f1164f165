"""The data version every commit moves forward (app/db/sql/data_version.sql), as the cache reads it."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# On the listener's own asyncpg connection: the version, and the other processes' listening connections on this
# database (those a write's answer waits for).
READ_VERSION = """
SELECT (SELECT version FROM data_version) AS version,
       array(SELECT pid FROM pg_stat_activity WHERE application_name = $1
             AND datname = current_database() AND pid <> pg_backend_pid()) AS others
"""
# "<listening backend's pid> <version>": this process holds that version.
ANNOUNCE = "SELECT pg_notify($1, pg_backend_pid() || ' ' || $2)"
VERSION = text("SELECT version FROM data_version")


async def version_on(conn: AsyncConnection) -> int:
    """The version the database behind `conn` has (a replica's may be behind the primary's)."""
    return int((await conn.execute(VERSION)).scalar_one())
