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
# The optional territories dataset: detailed polygons over the same box, generated when a scenario needs them.
TERRITORIES = {"small": 1_000, "large": 10_000}
TERRITORIES_PER_STATEMENT = 1_000
# The share of places given a rival claim (README, "Competing claims"): on by default, so the figures are those
# of a record where sources disagree; `python -m bench.run --disputes 0` generates the record without them.
DISPUTES = 0.05


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


def prepare(
    server_url: str, scale: str, *, keep: bool, territories: bool = False, disputes: float = DISPUTES
) -> Dataset:
    """The scale's database: reused with --keep when its marker says it is complete (with the same share of
    disputed places), otherwise rebuilt.

    A complete database of an older schema revision is migrated in place rather than rebuilt; the territories
    dataset is added to a reused database when a scenario needs it and it is missing."""
    database = f"territory_bench_{scale}"
    url, seconds = database_url(server_url, database), None
    revision = marker_revision(url, scale, disputes) if keep else None
    started = time.monotonic()
    if revision is None:
        admin = database_url(server_url, "postgres")
        query(admin, f"DROP DATABASE IF EXISTS {database}")
        query(admin, f"CREATE DATABASE {database}")
        migrate.upgrade(url)  # runs its own event loop, so not from inside one
        asyncio.run(load(url, scale, disputes))
        seconds = time.monotonic() - started
    elif revision != migrate.head_revision():
        print(f"[bench] {scale}: migrating the kept dataset from {revision}", flush=True)
        migrate.upgrade(url)
        query(url, "UPDATE bench_dataset SET revision = $1", migrate.head_revision())
    if territories and query(url, "SELECT count(*) FROM territory")[0][0] < TERRITORIES[scale]:
        asyncio.run(load_territories(url, scale))
        seconds = time.monotonic() - started
    query(url, "ALTER TABLE bench_dataset ADD COLUMN IF NOT EXISTS as_of timestamptz")  # generator 3 had none
    if query(url, CORRECTED_SINCE_WRITTEN)[0][0] is not True:
        asyncio.run(correct(url))
    tables = {
        "places": "place",
        "place names": "place_name",
        "events": "control_event",
        "periods": "control_period",
        "disputed periods": "control_period WHERE disputed",
        "territories": "territory",
        "territory vertices": "(SELECT ST_NPoints(geom) AS n FROM territory) AS t",
    }
    counts = query(
        url,
        " UNION ALL ".join(
            f"SELECT '{k}', {'coalesce(sum(n), 0)::bigint' if k == 'territory vertices' else 'count(*)'} FROM {t}"
            for k, t in tables.items()
        ),
    )
    return Dataset(scale, url, dict(counts), seconds)


def marker_revision(url: str, scale: str, disputes: float = DISPUTES) -> str | None:
    """The schema revision of a complete dataset (its marker row is written last), or None."""
    marker = "SELECT revision FROM bench_dataset WHERE scale = $1 AND places = $2 AND disputes = $3 AND generator = $4"
    try:
        rows = query(url, marker, scale, SCALES[scale], disputes, GENERATOR)
    except (asyncpg.InvalidCatalogNameError, asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError):
        return None
    return str(rows[0][0]) if rows else None


def is_complete(url: str, scale: str, disputes: float = DISPUTES) -> bool:
    return marker_revision(url, scale, disputes) == migrate.head_revision()


# 20 actors and 4 coalitions: actors 1..16 belong to one, then switch to the next in mid-2014; 17..20 stay out.
SETUP = """
    SELECT setseed(0.42);  -- the same dataset on every run
    INSERT INTO source (slug, title, publisher) VALUES ('bench', 'Synthetic benchmark data', 'bench'),
        ('bench-rival', 'Synthetic rival claims', 'bench');
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

# Names built from syllables (onset, vowel, optional coda: 1,680 of them), two or three a name, a third with a
# prefix word ("Kafr", "Tell"). As alike as a real gazetteer's: of random pairs of spellings 0.06% reach pg_trgm's
# similarity threshold (0.3), against 0.04% for 100,000 GeoNames places (README, "Speed"); the 40 syllables
# used before made it 0.43%, so a search at 100,000 places matched ~30x the spellings a real one does.
# GENERATOR is stored in the dataset's marker: a dataset made by another version is rebuilt, not reused.
# 3: the events have their versions (EVENT_VERSIONS), so as_of reads derive from as many as in a real store.
GENERATOR = 3
PLACES = """
    WITH syllables AS (
        SELECT array_agg(o || v || c ORDER BY o, v, c) AS syl
        FROM unnest(string_to_array('b d f gh h j k kh l m n q r s sh t th w y z', ' ')) AS o,
             unnest(string_to_array('a i u aa ee oo ay', ' ')) AS v,
             unnest(string_to_array(',b,d,f,h,k,l,m,n,r,s,t', ',')) AS c
    ), raw AS MATERIALIZED (
        SELECT i, random() AS r_kind, $2::float8 + ($4::float8 - $2::float8) * random() AS lon,
               $3::float8 + ($5::float8 - $3::float8) * random() AS lat,
               CASE WHEN random() < 0.3 THEN pre[1 + floor(random() * cardinality(pre))::int] || ' ' ELSE '' END
               || initcap(syl[1 + floor(random() * cardinality(syl))::int]
                          || syl[1 + floor(random() * cardinality(syl))::int]
                          || CASE WHEN random() < 0.6 THEN syl[1 + floor(random() * cardinality(syl))::int] ELSE '' END)
                   AS name
        FROM generate_series(1, $1::int) AS i, syllables,
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

# Disputed places (a share $3 of them, spread by a multiplicative hash of the id): a rival claim on the day of
# the place's first-drawn event, from another source and less sure ('claimed'), giving another holder. It draws
# no random numbers, so the rest of the dataset is the same with or without disputes.
RIVALS = """
    WITH rivals AS (
        INSERT INTO control_event (external_id, place_id, occurred_on, precision, kind, actor_id, status, confidence)
        SELECT 'bench-rival-' || e.place_id, e.place_id, e.occurred_on, e.precision, 'captured',
               ids[1 + (array_position(ids, coalesce(e.actor_id, e.party_ids[1])) + e.place_id % 19) % 20],
               'controlled', 'claimed'
        FROM control_event AS e, (SELECT array_agg(id ORDER BY id) AS ids FROM actor) AS actors
        WHERE e.place_id BETWEEN $1 AND $2 AND (e.place_id::bigint * 2654435761) % 1000 < $3::float8 * 1000
          AND e.external_id = 'bench-' || e.place_id || '-1'
        RETURNING id
    )
    INSERT INTO control_event_source (control_event_id, source_id)
    SELECT rivals.id, source.id FROM rivals, source WHERE source.slug = 'bench-rival'
"""

# The first version of each event of the batch, as ingestion records it (app/db/queries/events.py): what an as_of
# read derives from. The places' versions are written by their trigger.
EVENT_VERSIONS = """
    SELECT record_event_versions(ARRAY(SELECT id FROM control_event WHERE place_id BETWEEN $1 AND $2), NULL)
"""


async def load(url: str, scale: str, disputes: float = DISPUTES) -> None:
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
            if disputes > 0:
                await connection.execute(RIVALS, low, high, disputes)
            await connection.execute(EVENT_VERSIONS, low, high)
            print(f"[bench] {scale}: events of places {low}..{high} loaded", flush=True)
        await connection.execute("VACUUM ANALYZE")
        await connection.execute(
            "CREATE TABLE bench_dataset (scale text, places integer, revision text, disputes float8, generator integer,"
            " as_of timestamptz)"
        )
        # The revision the database was migrated to, not the checkout's head now: a revision added while a
        # large dataset loads would otherwise be marked as applied.
        await connection.execute(
            "INSERT INTO bench_dataset SELECT $1, $2, version_num, $3, $4, NULL FROM alembic_version",
            scale,
            SCALES[scale],
            disputes,
            GENERATOR,
        )
    finally:
        await connection.close()


# Detailed areas: star-shaped rings (so always simple and valid) of 1,000-4,000 vertices, radius 0.05-0.4°, the
# radius modulated by two sines and a little noise like a traced front; valid for 3 months to 2 years within
# 2011-2017, held by one of the 20 actors.
TERRITORY_BATCH = """
    WITH drawn AS MATERIALIZED (
        SELECT i, $2::float8 + ($4::float8 - $2::float8) * random() AS lon,
               $3::float8 + ($5::float8 - $3::float8) * random() AS lat,
               0.05 + 0.35 * random() AS radius, 1000 + floor(random() * 3000)::int AS n,
               2 * pi() * random() AS phase1, 2 * pi() * random() AS phase2,
               DATE '2011-01-01' + floor(random() * 2190)::int AS valid_from, 90 + floor(random() * 640)::int AS days,
               1 + floor(random() * 20)::int AS actor_no
        FROM generate_series($1::int, $1::int + $6::int - 1) AS i
    ), rings AS (
        SELECT d.i, ST_MakePolygon(ST_AddPoint(line, ST_StartPoint(line))) AS geom
        FROM drawn AS d
        CROSS JOIN LATERAL (
            SELECT ST_MakeLine(ST_MakePoint(
                       d.lon + r * cos(theta) / cos(radians(d.lat)), d.lat + r * sin(theta)) ORDER BY j) AS line
            FROM generate_series(0, d.n - 1) AS j,
                 LATERAL (SELECT 2 * pi() * j / d.n AS theta) AS a,
                 LATERAL (SELECT d.radius * (1 + 0.25 * sin(3 * theta + d.phase1) + 0.12 * sin(11 * theta + d.phase2)
                                             + 0.03 * random()) AS r) AS b
        ) AS l
    )
    INSERT INTO territory (external_id, actor_id, geom, valid, source_id, approximate)
    SELECT 'bench-territory-' || d.i, a.ids[d.actor_no], ST_Multi(ST_SetSRID(r.geom, 4326)),
           daterange(d.valid_from, d.valid_from + d.days), (SELECT id FROM source WHERE slug = 'bench'), true
    FROM drawn AS d JOIN rings AS r USING (i), (SELECT array_agg(id ORDER BY id) AS ids FROM actor) AS a
"""


# The as_of scenarios ask about a moment (`as_of` in the marker) before one event of every 50th place was
# corrected (its date moved 10 days): as an analyst citing a map of last month would, on a store where 2% of the
# places have been corrected since. The places whose record did not change since are read as stored, the others
# derived again (places_recorded_since). Taken after everything else is written (a territory written later
# would make every place derived again), and again if territories are loaded afterwards.
CORRECTED_SINCE_WRITTEN = """
    SELECT b.as_of > coalesce((SELECT max(lower(recorded)) FROM territory_version), '-infinity')
    FROM bench_dataset AS b
"""
CORRECTIONS = """
    WITH corrected AS (
        SELECT DISTINCT ON (e.place_id) e.id FROM control_event AS e
        WHERE e.place_id % 50 = 0 AND e.retracted_at IS NULL AND e.precision = 'day'
        ORDER BY e.place_id, e.id
    )
    UPDATE control_event AS e SET occurred_on = e.occurred_on + 10 FROM corrected AS c WHERE e.id = c.id
    RETURNING e.id
"""


async def correct(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("UPDATE bench_dataset SET as_of = clock_timestamp()")
        async with connection.transaction():
            ids = [r[0] for r in await connection.fetch(CORRECTIONS)]
            await connection.execute("SELECT record_event_versions($1, NULL)", ids)
        print(f"[bench] corrected {len(ids)} events after the as_of moment", flush=True)
    finally:
        await connection.close()


async def load_territories(url: str, scale: str) -> None:
    """Replace the territories of a bench database with the scale's generated set."""
    connection = await asyncpg.connect(url, server_settings={"synchronous_commit": "off"})
    try:
        await connection.execute("DELETE FROM territory")
        await connection.execute("SELECT setseed(0.17)")
        total = TERRITORIES[scale]
        for first in range(1, total + 1, TERRITORIES_PER_STATEMENT):
            size = min(TERRITORIES_PER_STATEMENT, total - first + 1)
            await connection.execute(TERRITORY_BATCH, first, WEST, SOUTH, EAST, NORTH, size)
            print(f"[bench] {scale}: territories {first}..{first + size - 1} loaded", flush=True)
        await connection.execute("VACUUM ANALYZE territory")
    finally:
        await connection.close()
