"""The gazetteer: a place given by name and coordinates (an event's `location`, an imported row) is a known place
when one lies near enough and is named alike; otherwise a new place, flagged for review.

Near enough depends on the known place's kind (`RADIUS_KM`: a point 10 km from a city's centre is still the city,
10 km from a village is another village). Named alike, under the lookups' normalisation: the same name without
the article (`territory_name_key`), or a trigram similarity of at least `SIMILAR`, or the same consonant skeleton
(`territory_name_skeleton`: Deir Hafer / Dayr Hafir), which is too coarse to name a place alone and is only
trusted this close. Among the fits, one named the same (without the article) wins, then the nearest.

Both statements take every incoming place of a request at once (a JSON array of rows), not one per place.
"""

from __future__ import annotations

from sqlalchemy import text

# Kilometres from a known place's point within which an incoming point may be that place, by the known place's
# kind. The one table of these radii.
RADIUS_KM = {
    "city": 15.0,
    "district": 8.0,
    "oilfield": 8.0,
    "town": 5.0,
    "airbase": 5.0,
    "military_base": 3.0,
    "village": 2.5,
    "border_crossing": 2.0,
}
MAX_RADIUS_KM = max(RADIUS_KM.values())
# The kind a new place gets when the incoming one does not say (its radius, for rows of one request).
DEFAULT_KIND = "town"
SIMILAR = 0.5


def radius_m(kind: str) -> str:
    """The radius, in metres, of the place kind in the SQL expression `kind`."""
    cases = " ".join(f"WHEN '{k}' THEN {km * 1000}" for k, km in RADIUS_KM.items())
    return f"(CASE {kind} {cases} ELSE {RADIUS_KM[DEFAULT_KIND] * 1000} END)"


def alike(norm: str, key: str, skeleton: str, name: str) -> str:
    """Whether the stored name `name` (a place_name row alias or text) reads like the incoming one."""
    return (
        f"(territory_name_key({name}) = {key} OR similarity(territory_normalize({name}), {norm}) >= {SIMILAR}"
        f" OR territory_name_skeleton({name}) = {skeleton})"
    )


INCOMING = """incoming AS MATERIALIZED (
    SELECT r.i, r.name, territory_normalize(r.name) AS norm, territory_name_key(r.name) AS key,
           territory_name_skeleton(r.name) AS skeleton, coalesce(r.kind, :default_kind) AS kind,
           ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326) AS geom
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(i integer, name text, lat float8, lon float8, kind text)
)"""

# For each incoming place (by its index `i`): the known place it is (NULL: none), and, for one that is none,
# the first earlier incoming place of the same request it is (`same_as`), so one request naming a new village
# twice creates it once.
MATCH = text(f"""
    WITH {INCOMING},
    matched AS MATERIALIZED (
        SELECT i.i, m.id, m.slug, m.name, m.distance_km
        FROM incoming AS i
        LEFT JOIN LATERAL (
            SELECT p.id, p.slug, p.name,
                   round((ST_Distance(p.geom::geography, i.geom::geography) / 1000)::numeric, 2)::float8 AS distance_km,
                   EXISTS (SELECT 1 FROM place_name AS n WHERE n.place_id = p.id AND n.name_key = i.key) AS same_name
            FROM place AS p
            -- The GiST index in degrees first (a degree of longitude shrinks towards the poles), then metres.
            WHERE ST_DWithin(p.geom, i.geom, {MAX_RADIUS_KM} / 111.32 / greatest(cos(radians(ST_Y(i.geom))), 0.05))
              AND ST_DWithin(p.geom::geography, i.geom::geography, {radius_m("p.kind")})
              AND EXISTS (SELECT 1 FROM place_name AS n
                          WHERE n.place_id = p.id AND {alike("i.norm", "i.key", "i.skeleton", "n.name")})
            ORDER BY same_name DESC, distance_km, p.id
            LIMIT 1
        ) AS m ON true
    )
    SELECT m.i, m.id, m.slug, m.name, m.distance_km,
           (SELECT min(j.i) FROM incoming AS j JOIN matched AS mj ON mj.i = j.i AND mj.id IS NULL
            WHERE m.id IS NULL AND j.i < i.i
              AND ST_DWithin(j.geom::geography, i.geom::geography, {radius_m("j.kind")})
              AND {alike("i.norm", "i.key", "i.skeleton", "j.name")}) AS same_as
    FROM matched AS m JOIN incoming AS i ON i.i = m.i
    ORDER BY m.i
""")

# New places, each with its name as its first spelling and why it awaits review. A slug is the name's
# normalised letters and digits (`place` for a name in another script), with the new id appended when a place
# has it already or an earlier new place of the request takes it. The country is the one given, else the one
# whose shipped border (Natural Earth, coarse) covers the point, else the nearest place's.
CREATE = text("""
    WITH borders AS MATERIALIZED (
        SELECT f.value -> 'properties' ->> 'code' AS code,
               ST_SetSRID(ST_GeomFromGeoJSON(f.value ->> 'geometry'), 4326) AS geom
        FROM json_array_elements(CAST(:borders AS json) -> 'features') AS f
    ), new AS MATERIALIZED (
        SELECT r.i, nextval(pg_get_serial_sequence('place', 'id')) AS id, r.name, coalesce(r.kind, :default_kind) AS kind,
               r.country, r.review, ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326) AS geom,
               coalesce(nullif(btrim(regexp_replace(territory_normalize(r.name), '[^a-z0-9]+', '-', 'g'), '-'), ''),
                        'place') AS base
        FROM jsonb_to_recordset(CAST(:rows AS jsonb))
             AS r(i integer, name text, lat float8, lon float8, kind text, country text, review text)
    ), slugged AS (
        SELECT new.*,
               CASE WHEN row_number() OVER (PARTITION BY base ORDER BY i) = 1
                         AND NOT EXISTS (SELECT 1 FROM place AS p WHERE p.slug = new.base)
                    THEN left(base, 120) ELSE left(base, 100) || '-' || id END AS slug
        FROM new
    ), inserted AS (
        INSERT INTO place (id, slug, name, kind, geom, country_code, review)
        SELECT s.id, s.slug, s.name, s.kind, s.geom,
               coalesce(s.country,
                        (SELECT b.code FROM borders AS b WHERE ST_Covers(b.geom, s.geom) ORDER BY b.code LIMIT 1),
                        (SELECT p.country_code FROM place AS p ORDER BY p.geom <-> s.geom LIMIT 1),
                        'ZZ'),
               s.review
        FROM slugged AS s
        ORDER BY s.i
        RETURNING id, slug, name
    ), names AS (
        INSERT INTO place_name (place_id, name) SELECT id, name FROM inserted
    )
    SELECT s.i, p.id, p.slug, p.name FROM inserted AS p JOIN slugged AS s ON s.id = p.id ORDER BY s.i
""")
