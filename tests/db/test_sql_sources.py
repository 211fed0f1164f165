"""The SQL functions, triggers and views have one source each (app/db/sql), and a database at head holds them."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import migrate, sql
from app.paths import MIGRATIONS_DIR
from tests.db.catalogue import SOURCE_KINDS, catalogue, differences

HOW_TO_CHANGE = (
    "A change to app/db/sql is installed by a new revision: write migrations/versions/<date>_<NNNN>_<slug>.py "
    "and run `python -m app.db.sql snapshot <NNNN>_<slug>` (see app/db/sql/__init__.py)."
)

# Every function, view and routine in public that no extension owns, dropped (triggers go with their function).
DROP_SOURCE_OBJECTS = """
DO $$
DECLARE
    object record;
BEGIN
    FOR object IN
        SELECT CASE c.relkind WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END AS kind, c.oid::regclass::text AS name
        FROM pg_class AS c
        WHERE c.relkind IN ('v', 'm') AND c.relnamespace = 'public'::regnamespace
          AND NOT EXISTS (SELECT 1 FROM pg_depend AS d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
        UNION ALL
        SELECT 'ROUTINE', p.oid::regprocedure::text
        FROM pg_proc AS p
        WHERE p.pronamespace = 'public'::regnamespace
          AND NOT EXISTS (SELECT 1 FROM pg_depend AS d WHERE d.classid = 'pg_proc'::regclass
                          AND d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('DROP %s IF EXISTS %s CASCADE', object.kind, object.name);
    END LOOP;
END
$$
"""


async def install_sources(conn: AsyncConnection) -> None:
    sources = sql.read_sources()
    await conn.run_sync(lambda sync: sql.install(sync, sources))


async def test_running_the_sources_over_a_database_at_head_changes_nothing(conn: AsyncConnection) -> None:
    at_head = await catalogue(conn)
    await install_sources(conn)
    # Catches a source edited without a revision, and an object a revision changed inline instead of by source.
    if diff := differences(at_head, await catalogue(conn)):
        pytest.fail(
            f"app/db/sql is not what a database at head holds (-: head, +: the sources)\n{diff}\n{HOW_TO_CHANGE}"
        )


async def test_every_function_trigger_and_view_at_head_comes_from_the_sources(conn: AsyncConnection) -> None:
    at_head = await catalogue(conn, SOURCE_KINDS)
    await conn.execute(text(DROP_SOURCE_OBJECTS))
    assert not any((await catalogue(conn, SOURCE_KINDS)).values())
    await install_sources(conn)
    # Catches a function, trigger or view a migration created itself: it is missing from the rebuilt database.
    if diff := differences(at_head, await catalogue(conn, SOURCE_KINDS)):
        pytest.fail(
            "A database at head holds functions, triggers or views app/db/sql does not define (-: head, +: built "
            f"from the sources)\n{diff}\nGive each one a source in app/db/sql. {HOW_TO_CHANGE}"
        )


def test_the_newest_snapshot_is_the_sources() -> None:
    newest = sql.newest_snapshot()
    snapshot, sources = sql.read_snapshot(newest), sql.read_sources()
    if differing := [
        name for name in sources.keys() | snapshot.keys() if snapshot.get(name) != sources.get(name)
    ]:
        pytest.fail(
            f"app/db/sql differs from migrations/sql/{newest}/ (the newest revision's snapshot) in "
            f"{sorted(differing)}, or in their order. {HOW_TO_CHANGE}"
        )
    assert list(snapshot) == list(sources), (
        f"app/db/sql's INSTALL_ORDER differs from {newest}'s. {HOW_TO_CHANGE}"
    )


def test_every_snapshot_belongs_to_a_revision_of_the_chain() -> None:
    # A folder with a misspelt or abandoned revision id would be a snapshot nothing installs.
    chain = set(migrate.revisions_newest_first())
    folders = {path.name for path in sql.SNAPSHOTS_DIR.iterdir() if path.is_dir()}
    assert folders <= chain, f"snapshots of no revision: {sorted(folders - chain)}"


@pytest.mark.parametrize(
    "revision", sorted(path.name for path in sql.SNAPSHOTS_DIR.iterdir() if path.is_dir())
)
def test_snapshots_are_never_edited(revision: str) -> None:
    folder = sql.snapshot_dir(revision)
    listed = {line.split(maxsplit=1)[1] for line in (folder / sql.MANIFEST).read_text().splitlines()}
    assert listed == {path.name for path in folder.glob("*.sql")}
    sql.read_snapshot(revision)  # raises SnapshotError on a file that no longer matches its checksum


# The revisions on main, as they landed: a landed migration is never edited (a change is a new revision).
# Add a revision here once it is on main.
LANDED_MIGRATIONS = {
    "20261125_0001_store.py": "3ab9d9a807b43047923ac005cb42fc275ff4c82b8aebf101cf40415827c03f32",
    "20261125_0002_ingestion.py": "6163351f11acddb54dae43377d337fb80e8437bd28d84f8f68c5c4e1b7afef2b",
    "20261126_0003_events_feed.py": "aecdf94807bca734ec03f6064dd5d86c5eded31355145858cb629138a1f11dfd",
    "20261126_0004_territory_ingest.py": "0f2c601f7c0789d055b9f7c9f4822890af24e90425c9246ab3c3ad9e0d544b26",
    "20261201_0005_sql_sources.py": "ab1797bbb2f574cc5520fc736d7b47d82ca7566686c3d64f84ab3874b853542f",
    "20261201_0006_feed_positions.py": "13b8fa527d9845de4a5d71f13e6a7bec65f0cb7fed61bb6f0859c13fde1cdf40",
    "20261202_0007_gazetteer.py": "6db71fa9462f0fff02832add89234e8e0e985df140370179e3a287ffe882c233",
    "20261202_0008_data_version.py": "2c2a6a6b273148a9efb3a548c69da731bb09cdb72cefca74b12b54f01f69bcdc",
    "20261202_0009_place_states.py": "abe65edb549ccdd83c8ac16f7421e0b22efc063ce5a2fb385c13345818d8a39b",
    "20261202_0010_shared_limits.py": "6785a780cda2255c99832dc7ccfe37c4446a8e99a06600ac4ba71e5c730f37f3",
    "20261202_0011_history.py": "39cc40317711c344ea06fd8f2bf37598bf1be2b77a9fe869328266cdeb46b3e5",
    "20261202_0012_claims.py": "00168e12cb36abe30a70c4df3f1bd758d013eb131f928e8e636fa5aba474f532",
    "20261202_0013_drop_places_by_form.py": "33210555ee3f07458c2629a8f8f5eba599b18f0d9562a390e15566cc460445c6",
    "20261202_0014_close_search.py": "2b8b10ab141c8e325ccb904f1b7d6101ddea511f71c6e67ad0102847f2f83206",
    "20261202_0015_territory_states.py": "d2361e12f8ed30e7ef3eaeb9d702eb848a3148df36c31036dcceef973b7ff148",
    "20261202_0016_place_zooms.py": "c1069b8fba28fcdd5a260f72c2d135972fd8e1d01812e62162a51cf75ef4130a",
    "20261202_0017_place_territories.py": "f50fba007ce47124956148b8a13ca9f2e16f3d3ef7a5255153d97a4f35633965",
    "20261202_0018_place_state_zooms.py": "606adf782d093985d369ca34f648f6e26034c3db10b02511904eb2957bcb4d49",
    "20261202_0019_bulk_recompute.py": "e9d6d480c51a1a24dfa1cebc4baee9a455eba5d2b3b41cceaca3ab75c6db0783",
    "20261202_0020_key_last_used.py": "b787ed4051f60ab25245517d85a270684ead5c98d3a9200e62431a19478e129d",
    "20261202_0021_places_as_of.py": "8e05867e0dccbf6a2cd274fdab256f17f8f457d16f760cb63da0127dfcde6d39",
    "20261203_0022_derivations_planned_once.py": "3c5e57bdc52756f46d681c985bf6cc4defc996846018562e6592b25590f0c994",
}


@pytest.mark.parametrize("file_name", sorted(LANDED_MIGRATIONS))
def test_landed_migrations_are_never_edited(file_name: str) -> None:
    path = MIGRATIONS_DIR / "versions" / file_name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == LANDED_MIGRATIONS[file_name], (
        f"{path} changed after it landed on main. Restore it and make a new revision instead. {HOW_TO_CHANGE}"
    )


def test_scripts_split_at_semicolons_outside_bodies_strings_and_comments() -> None:
    script = """
        -- a comment; not a statement end
        CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT 'a;b' $$;
        /* block; comment */ CREATE FUNCTION g() RETURNS text LANGUAGE plpgsql AS $body$
        BEGIN RETURN ';' || $$;$$; END $body$;
        SELECT "odd;name" FROM t;
        -- trailing comment only
    """
    assert [statement.splitlines()[-1].strip() for statement in sql.statements(script)] == [
        "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT 'a;b' $$",
        "BEGIN RETURN ';' || $$;$$; END $body$",
        'SELECT "odd;name" FROM t',
    ]
