"""Synthetic datasets, generated inside PostgreSQL: one database per scale on the bench server."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from app.db import migrate

# The Syria/Iraq box the places are spread over, in degrees (EPSG:4326).
WEST, SOUTH, EAST, NORTH = 35.0, 29.0, 48.0, 38.0
# The trigger recomputes the periods of every place a statement touched: chunks keep each recompute bounded.
PLACES_PER_STATEMENT = 5_000
SCALES = {"small": 1_000, "large": 100_000}


@dataclass(frozen=True)
class Dataset:
    scale: str
    url: str
    sizes: dict[str, int]
    build_seconds: float | None  # None when an existing database was reused


def database_url(server_url: str, database: str) -> str:
    url = make_url(server_url).set(drivername="postgresql", database=database)
    return url.render_as_string(hide_password=False)


def query(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(url)
        try:
            return list(await connection.fetch(sql, *args))
        finally:
            await connection.close()

    return asyncio.run(run())


def prepare(server_url: str, scale: str, *, keep: bool) -> Dataset:
    """The scale's database: reused with --keep when its marker says it is complete, otherwise rebuilt."""
    database = f"territory_bench_{scale}"
    url, seconds = database_url(server_url, database), None
    if not (keep and is_complete(url, scale)):
        started = time.monotonic()
        admin = database_url(server_url, "postgres")
        query(admin, f"DROP DATABASE IF EXISTS {database}")
        query(admin, f"CREATE DATABASE {database}")
        migrate.upgrade(url)  # runs its own event loop, so not from inside one
        asyncio.run(load(url, scale))
        seconds = time.monotonic() - started
    tables = {
        "places": "place",
        "place names": "place_name",
        "events": "control_event",
        "periods": "control_period",
    }
    counts = query(url, " UNION ALL ".join(f"SELECT '{k}', count(*) FROM {t}" for k, t in tables.items()))
    return Dataset(scale, url, dict(counts), seconds)


def is_complete(url: str, scale: str) -> bool:
    """The marker row is written last: it means the load finished, at this schema revision."""
    marker = "SELECT count(*) FROM bench_dataset WHERE scale = $1 AND places = $2 AND revision = $3"
    try:
        return bool(query(url, marker, scale, SCALES[scale], migrate.head_revision())[0][0])
    except (asyncpg.InvalidCatalogNameError, asyncpg.UndefinedTableError):
        return False


# 20 actors and 4 coalitions: actors 1..16 belong to one, then switch to the next in mid-2014; 17..20 stay out.
SETUP = """
    SELECT setseed(0.42);  -- the same dataset on every run
    INSERT INTO source (slug, title, publisher) VALUES ('bench', 'Synthetic benchmark data', 'bench');
    INSERT INTO actor (slug, name, kind, color)
    SELECT 'bench-actor-' || i, 'Actor ' || i,
           (ARRAY['state_army', 'armed_group', 'militia', 'rebel_alliance', 'foreign_army'])[1 + i % 5],
           '#' || lpad(to_hex((i * 2654435761) % 16777216), 6, '0')
    FROM generate_series(1, 20::bigint) AS i;
    INSERT INTO coalition (slug, name) SELECT 'bench-coalition-' || i, 'Coalition ' || i FROM generate_series(1, 4) AS i;
    WITH a AS (SELECT id, (row_number() OVER (ORDER BY id))::int AS n FROM actor),
         c AS (SELECT id, (row_number() OVER (ORDER BY id))::int - 1 AS k FROM coalition)
    INSERT INTO coalition_membership (coalition_id, actor_id, valid, role)
    SELECT c.id, a.id, m.valid, m.role
    FROM a CROSS JOIN LATERAL (VALUES
        (a.n % 4, daterange(DATE '2011-01-01' + a.n * 37, '2014-06-29'), 'member'),
        ((a.n + 1) % 4, daterange('2014-06-29', NULL), CASE WHEN a.n % 3 = 0 THEN 'supporter' ELSE 'member' END)
    ) AS m(k, valid, role)
    JOIN c ON c.k = m.k
    WHERE a.n <= 16;
"""

# Names built from syllables, a third with a prefix word ("Kafr", "Tell"), so spellings share trigrams.
PLACES = """
    WITH raw AS MATERIALIZED (
        SELECT i, random() AS r_kind, $2::float8 + ($4::float8 - $2::float8) * random() AS lon,
               $3::float8 + ($5::float8 - $3::float8) * random() AS lat,
               CASE WHEN random() < 0.3 THEN pre[1 + floor(random() * cardinality(pre))::int] || ' ' ELSE '' END
               || initcap(syl[1 + floor(random() * cardinality(syl))::int]
                          || syl[1 + floor(random() * cardinality(syl))::int]
                          || CASE WHEN random() < 0.6 THEN syl[1 + floor(random() * cardinality(syl))::int] ELSE '' END)
                   AS name
        FROM generate_series(1, $1::int) AS i,
             string_to_array('al bab dar zor ram qa sha ma raq tad mur kha nab ham sal tal kam jar ba sur haj ra '
                             'mal sab far dul man bij hit na zan kar dab aq ish wan', ' ') AS syl,
             string_to_array('Kafr Tell Ain Deir Umm Abu Jisr Beit Khirbet', ' ') AS pre
    )
    INSERT INTO place (slug, name, kind, geom, country_code, population)
    SELECT lower(replace(name, ' ', '-')) || '-' || i, name,
           CASE WHEN r_kind < 0.70 THEN 'village' WHEN r_kind < 0.90 THEN 'town' WHEN r_kind < 0.97 THEN 'city'
                WHEN r_kind < 0.98 THEN 'airbase' WHEN r_kind < 0.99 THEN 'oilfield' ELSE 'military_base' END,
           ST_SetSRID(ST_MakePoint(lon, lat), 4326), CASE WHEN lon < 42 THEN 'SY' ELSE 'IQ' END,
           floor(power(10, 2 + 4 * r_kind))::int
    FROM raw ORDER BY i
"""

# Every place: its name, a transliteration variant, and for half of them an "al-" form.
PLACE_NAMES = """
    INSERT INTO place_name (place_id, name, lang)
    SELECT id, name, 'en' FROM place
    UNION ALL SELECT id, translate(name, 'aeoqk', 'eaukq'), 'translit' FROM place
    UNION ALL SELECT id, 'al-' || lower(name), 'ar-Latn' FROM place WHERE id % 2 = 0
    ON CONFLICT (place_id, name) DO NOTHING
"""

# 7..13 events per place (10 on average) over 2011-2017: mostly controlled, some contested or besieged, a tenth
# known only to the month (dated the 1st, as the CHECK constraint requires), each linked to the one source.
EVENTS = """
    WITH drawn AS MATERIALIZED (
        SELECT p.id AS place_id, n, DATE '2011-01-01' + floor(random() * 2557)::int AS day,
               random() AS r_status, random() AS r_prec, random() AS r_kind,
               floor(random() * 20)::int AS a1, 1 + floor(random() * 19)::int AS shift
        FROM place AS p CROSS JOIN LATERAL generate_series(1, 7 + (p.id * 7919) % 7) AS n
        WHERE p.id BETWEEN $1 AND $2
    ), event AS (
        SELECT d.*, ids[1 + a1] AS holder, ids[1 + (a1 + shift) % 20] AS other,
               CASE WHEN r_status < 0.8 THEN 'controlled' WHEN r_status < 0.9 THEN 'contested' ELSE 'besieged' END
                   AS status
        FROM drawn AS d, (SELECT array_agg(id ORDER BY id) AS ids FROM actor) AS actors
    ), inserted AS (
        INSERT INTO control_event (external_id, place_id, occurred_on, precision, kind, actor_id, status,
                                   party_ids, confidence)
        SELECT 'bench-' || place_id || '-' || n, place_id,
               CASE WHEN r_prec < 0.1 THEN date_trunc('month', day)::date ELSE day END,
               CASE WHEN r_prec < 0.1 THEN 'month' ELSE 'day' END,
               CASE status WHEN 'controlled' THEN (ARRAY['captured', 'recaptured', 'liberated', 'held'])[1 + floor(r_kind * 4)::int]
                           ELSE status END,
               CASE WHEN status <> 'contested' THEN holder END,
               status,
               CASE status WHEN 'contested' THEN ARRAY[holder, other] WHEN 'besieged' THEN ARRAY[other]
                           ELSE '{}'::int[] END,
               CASE WHEN r_prec > 0.9 THEN 'reported' ELSE 'confirmed' END
        FROM event
        RETURNING id
    )
    INSERT INTO control_event_source (control_event_id, source_id)
    SELECT inserted.id, source.id FROM inserted, source WHERE source.slug = 'bench'
"""


async def load(url: str, scale: str) -> None:
    """Fill a freshly migrated database with the scale's dataset, then write the completion marker."""
    connection = await asyncpg.connect(url, server_settings={"synchronous_commit": "off"})
    try:
        await connection.execute(SETUP)
        await connection.execute(PLACES, SCALES[scale], WEST, SOUTH, EAST, NORTH)
        await connection.execute(PLACE_NAMES)
        first, last = await connection.fetchrow("SELECT min(id), max(id) FROM place")
        for low in range(first, last + 1, PLACES_PER_STATEMENT):
            high = min(low + PLACES_PER_STATEMENT - 1, last)
            await connection.execute(EVENTS, low, high)
            print(f"[bench] {scale}: events of places {low}..{high} loaded", flush=True)
        await connection.execute("VACUUM ANALYZE")
        await connection.execute("CREATE TABLE bench_dataset (scale text, places integer, revision text)")
        await connection.execute(
            "INSERT INTO bench_dataset VALUES ($1, $2, $3)", scale, SCALES[scale], migrate.head_revision()
        )
    finally:
        await connection.close()
