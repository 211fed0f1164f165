"""`territory up`'s local cluster: the app connects as a role of its own, no superuser, owning what it migrates."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from app.localdb import APP_ROLE, SUPERUSER, LocalCluster, LocalDatabaseError


async def test_a_database_made_by_the_superuser_is_handed_over_to_the_app_role(
    fault_cluster: LocalCluster,
) -> None:
    admin = await asyncpg.connect(fault_cluster.admin_url)
    try:
        assert fault_cluster.url.startswith(f"postgresql://{APP_ROLE}@")
        # As a cluster made before the app had a role: the superuser owns the database and the tables.
        await admin.execute("ALTER DATABASE territory OWNER TO postgres")
        await admin.execute("ALTER TABLE place OWNER TO postgres")
        await admin.execute("ALTER FUNCTION territory_normalize(text) OWNER TO postgres")
        await asyncio.to_thread(fault_cluster.ensure_running)
        owners = await admin.fetch(
            """SELECT pg_get_userbyid(c.relowner) AS owner FROM pg_class AS c
               WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'S', 'v')
                 AND NOT EXISTS (SELECT 1 FROM pg_depend AS d WHERE d.objid = c.oid AND d.deptype = 'e')"""
        )
        assert {row["owner"] for row in owners} == {APP_ROLE}
        assert (
            await admin.fetchval(
                "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'territory_normalize'"
            )
            == APP_ROLE
        )
        assert (
            await admin.fetchval(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'territory'"
            )
            == APP_ROLE
        )
        # And the app's role may alter what it owns now, as a later migration would.
        app = await asyncpg.connect(fault_cluster.url)
        try:
            assert await app.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False
            await app.execute("COMMENT ON TABLE place IS 'a place'")
        finally:
            await app.close()
    finally:
        await admin.close()


def test_starting_a_cluster_that_was_never_made_says_so(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path / "pg", 5999, {}, SUPERUSER)
    with pytest.raises(LocalDatabaseError, match="No PostgreSQL cluster in .*ensure_running"):
        cluster.start()
