"""SQL of the reference-data writes: places and spellings, actors, coalitions and memberships, sources.

Creates are `INSERT ... ON CONFLICT (slug) DO NOTHING`: of two concurrent creates of one slug, the second waits
for the first to commit and then finds its row, so a retry is answered from what is stored. Corrections lock the
row (`FOR NO KEY UPDATE`: an event inserted meanwhile only needs a KEY SHARE lock on it, which this allows).
"""

from __future__ import annotations

from sqlalchemy import text

from app.db.queries.actors import MEMBERSHIP_FIELDS
from app.db.queries.references import actor_named, id_of

# --- Places -------------------------------------------------------------------------------------------------

# ST_MakePoint takes x then y: longitude first, then latitude.
POINT = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"

INSERT_PLACE = text(f"""
    INSERT INTO place (slug, name, kind, country_code, population, parent_id, geom)
    VALUES (:slug, :name, :kind, :country, :population, :parent_id, {POINT})
    ON CONFLICT (slug) DO NOTHING
    RETURNING id
""")

_STORED_PLACE = """
    SELECT p.id, p.slug, p.name, p.kind, p.country_code AS country, ST_Y(p.geom) AS lat, ST_X(p.geom) AS lon,
           p.population, p.parent_id, (SELECT x.slug FROM place AS x WHERE x.id = p.parent_id) AS parent,
           ARRAY(SELECT n.name FROM place_name AS n WHERE n.place_id = p.id ORDER BY n.id) AS names,
           ARRAY(SELECT n.lang FROM place_name AS n WHERE n.place_id = p.id ORDER BY n.id) AS langs
    FROM place AS p WHERE p.slug = :slug
"""
STORED_PLACE = text(_STORED_PLACE)
PLACE_FOR_UPDATE = text(_STORED_PLACE + " FOR NO KEY UPDATE OF p")

UPDATE_PLACE = text(f"""
    UPDATE place SET name = :name, kind = :kind, country_code = :country, population = :population,
                     parent_id = :parent_id, geom = {POINT}
    WHERE id = :id
""")

# The review flag of a place the gazetteer created: cleared (NULL) once someone has checked it.
SET_PLACE_REVIEW = text("UPDATE place SET review = :review WHERE id = :id")

# Spellings in the order given (place detail lists them by id); one already known to the place is left alone.
INSERT_NAMES = text("""
    INSERT INTO place_name (place_id, name, lang)
    SELECT :place_id, n.name, n.lang
    FROM unnest(CAST(:names AS text[]), CAST(:langs AS text[])) WITH ORDINALITY AS n(name, lang, ord)
    ORDER BY n.ord
    ON CONFLICT (place_id, name) DO NOTHING
    RETURNING name
""")

DELETE_NAME = text("DELETE FROM place_name WHERE place_id = :place_id AND name = :name RETURNING id")

_PLACE_REF = "json_build_object('id', p.id, 'slug', p.slug, 'name', p.name)"

# What a writer should know about new spellings (and a new slug), because lookups by them will not find only
# this place: `shared` - another place has a spelling that reads the same, so the lookup answers 409 ambiguous;
# `shadowed` - it is another place's slug or id, which a lookup tries first; `taken` - the new slug reads like
# another place's spelling, whose lookups (by that exact string) now find this place; `duplicate` - it reads
# the same as a spelling this place had before it (by id), so it adds nothing to lookups.
NAME_WARNINGS = text(f"""
    WITH s AS (SELECT DISTINCT name FROM unnest(CAST(:names AS text[])) AS name)
    SELECT 'shared' AS kind, s.name, json_agg({_PLACE_REF} ORDER BY p.id) AS others
    FROM s
    JOIN LATERAL (SELECT DISTINCT n.place_id FROM place_name AS n
                  WHERE n.name_norm = territory_normalize(s.name) AND n.place_id <> :place_id) AS m ON true
    JOIN place AS p ON p.id = m.place_id
    GROUP BY s.name
    UNION ALL
    SELECT 'shadowed', s.name, json_agg({_PLACE_REF} ORDER BY p.id)
    FROM s JOIN place AS p ON p.id <> :place_id
        AND (p.slug = s.name OR p.id = {id_of("s.name")})
    GROUP BY s.name
    UNION ALL
    SELECT 'taken', CAST(:slug AS text), json_agg({_PLACE_REF} ORDER BY p.id)
    FROM place AS p
    WHERE p.id <> :place_id AND p.id IN (SELECT n.place_id FROM place_name AS n
                                         WHERE n.name_norm = territory_normalize(CAST(:slug AS text)))
    HAVING count(*) > 0
    UNION ALL
    SELECT 'duplicate', s.name, json_agg(json_build_object('name', n.name) ORDER BY n.id)
    FROM s
    JOIN place_name AS own ON own.place_id = :place_id AND own.name = s.name
    JOIN place_name AS n ON n.place_id = :place_id AND n.name_norm = own.name_norm AND n.id < own.id
    GROUP BY s.name
    ORDER BY 1, 2
""")

# Distances (km) from a point, and from the point with latitude and longitude swapped, to the nearest other place
# of the same country (KNN on the GiST index, then the true distance), to catch coordinates sent in the wrong
# order. NULL when the country has no other place, or when the swapped pair is out of range.
SWAP_CHECK = text("""
    SELECT
        (SELECT ST_Distance(p.geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography) / 1000
         FROM place AS p WHERE p.country_code = :country AND p.id <> :place_id
         ORDER BY p.geom <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) LIMIT 1) AS given_km,
        (SELECT ST_Distance(p.geom::geography, ST_SetSRID(ST_MakePoint(:lat, :lon), 4326)::geography) / 1000
         FROM place AS p WHERE p.country_code = :country AND p.id <> :place_id AND abs(:lon) <= 90
         ORDER BY p.geom <-> ST_SetSRID(ST_MakePoint(:lat, :lon), 4326) LIMIT 1) AS swapped_km
""")

# The ancestors of a place or an actor, to refuse a parent that would make a cycle. UNION (not UNION ALL) ends
# the walk even on a cycle already stored.
PLACE_ANCESTORS = text("""
    WITH RECURSIVE up(id) AS (
        SELECT CAST(:parent_id AS integer)
        UNION
        SELECT x.parent_id FROM place AS x JOIN up ON x.id = up.id WHERE x.parent_id IS NOT NULL
    )
    SELECT EXISTS (SELECT 1 FROM up WHERE id = :id)
""")

# --- Actors -------------------------------------------------------------------------------------------------

INSERT_ACTOR = text("""
    INSERT INTO actor (slug, name, aliases, kind, parent_id, color, notes)
    VALUES (:slug, :name, CAST(:aliases AS text[]), :kind, :parent_id, :color, :notes)
    ON CONFLICT (slug) DO NOTHING
    RETURNING id
""")

_STORED_ACTOR = """
    SELECT a.id, a.slug, a.name, a.aliases, a.kind, a.parent_id,
           (SELECT x.slug FROM actor AS x WHERE x.id = a.parent_id) AS parent, a.color, a.notes
    FROM actor AS a WHERE a.slug = :slug
"""
STORED_ACTOR = text(_STORED_ACTOR)
ACTOR_FOR_UPDATE = text(_STORED_ACTOR + " FOR NO KEY UPDATE OF a")

UPDATE_ACTOR = text("""
    UPDATE actor SET name = :name, aliases = CAST(:aliases AS text[]), kind = :kind, parent_id = :parent_id,
                     color = :color, notes = :notes
    WHERE id = :id
""")

ACTOR_ANCESTORS = text("""
    WITH RECURSIVE up(id) AS (
        SELECT CAST(:parent_id AS integer)
        UNION
        SELECT x.parent_id FROM actor AS x JOIN up ON x.id = up.id WHERE x.parent_id IS NOT NULL
    )
    SELECT EXISTS (SELECT 1 FROM up WHERE id = :id)
""")

# Events name actors by slug, or by any name or alias when no slug matches (compared normalised): a name shared
# with another actor makes such a reference ambiguous, and a slug that reads like another actor's name takes
# over the references by that exact string.
ACTOR_NAME_WARNINGS = text(f"""
    WITH s AS (SELECT DISTINCT name FROM unnest(CAST(:names AS text[])) AS name)
    SELECT 'shared' AS kind, s.name,
           json_agg(json_build_object('slug', a.slug, 'name', a.name) ORDER BY a.slug) AS others
    FROM s JOIN actor AS a
         ON a.id <> :actor_id
        AND (a.slug = s.name OR {actor_named("a", "s.name")})
    GROUP BY s.name
    UNION ALL
    SELECT 'taken', CAST(:slug AS text), json_agg(json_build_object('slug', a.slug, 'name', a.name) ORDER BY a.slug)
    FROM actor AS a
    WHERE a.id <> :actor_id
      AND {actor_named("a", "CAST(:slug AS text)")}
    HAVING count(*) > 0
    ORDER BY 1, 2
""")

# --- Sources ------------------------------------------------------------------------------------------------

INSERT_SOURCE = text("""
    INSERT INTO source (slug, title, publisher, url, published_on, notes)
    VALUES (:slug, :title, :publisher, :url, :published_on, :notes)
    ON CONFLICT (slug) DO NOTHING
    RETURNING id
""")

_STORED_SOURCE = """
    SELECT s.id, s.slug, s.title, s.publisher, s.url, s.published_on, s.notes FROM source AS s WHERE s.slug = :slug
"""
STORED_SOURCE = text(_STORED_SOURCE)
SOURCE_FOR_UPDATE = text(_STORED_SOURCE + " FOR NO KEY UPDATE OF s")

UPDATE_SOURCE = text("""
    UPDATE source SET title = :title, publisher = :publisher, url = :url, published_on = :published_on,
                      notes = :notes
    WHERE id = :id
""")

# Events may cite a source by its URL: a URL shared by two sources makes such a citation ambiguous.
SOURCES_WITH_URL = text("""
    SELECT coalesce(json_agg(json_build_object('slug', s.slug, 'title', s.title) ORDER BY s.slug), '[]'::json)
    FROM source AS s WHERE s.url = :url AND s.id <> :source_id
""")

SOURCE_FIELDS = """'slug', s.slug, 'title', s.title, 'publisher', s.publisher, 'url', s.url,
    'published_on', s.published_on"""

SOURCES = text(f"""
    SELECT coalesce(json_agg(json_build_object({SOURCE_FIELDS}) ORDER BY s.slug), '[]'::json)::text
    FROM source AS s
""")

SOURCE = text(f"""
    SELECT json_build_object({SOURCE_FIELDS}, 'notes', s.notes,
        'events', (SELECT count(*) FROM control_event_source AS es WHERE es.source_id = s.id),
        'memberships', (SELECT count(*) FROM coalition_membership AS m WHERE m.source_id = s.id))::text
    FROM source AS s WHERE s.slug = :slug
""")

# --- Coalitions and memberships -----------------------------------------------------------------------------

INSERT_COALITION = text("""
    INSERT INTO coalition (slug, name, description, color)
    VALUES (:slug, :name, :description, :color)
    ON CONFLICT (slug) DO NOTHING
    RETURNING id
""")

_STORED_COALITION = """
    SELECT c.id, c.slug, c.name, c.description, c.color FROM coalition AS c WHERE c.slug = :slug
"""
STORED_COALITION = text(_STORED_COALITION)
COALITION_FOR_UPDATE = text(_STORED_COALITION + " FOR NO KEY UPDATE OF c")

UPDATE_COALITION = text("""
    UPDATE coalition SET name = :name, description = :description, color = :color WHERE id = :id
""")

# Validity is half-open [from, to): `to` is the first day the actor is no longer a member; NULL = open.
VALID = "daterange(CAST(:from_ AS date), CAST(:to AS date), '[)')"

# Memberships as rows of a JSON document: [{ord, actor_id, valid_from, valid_to, role, note, source_id}].
MEMBERSHIP_ROWS = """jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
    ord integer, actor_id integer, valid_from date, valid_to date, role text, note text, source_id integer)"""

INSERT_MEMBERSHIPS = text(f"""
    INSERT INTO coalition_membership (coalition_id, actor_id, valid, role, note, source_id)
    SELECT :coalition_id, r.actor_id, daterange(r.valid_from, r.valid_to, '[)'), r.role, r.note, r.source_id
    FROM {MEMBERSHIP_ROWS}
    ORDER BY r.ord
    RETURNING id
""")

SAME_MEMBERSHIP = """
    m.coalition_id = :coalition_id AND m.actor_id = r.actor_id AND m.valid = daterange(r.valid_from, r.valid_to, '[)')
    AND m.role = r.role AND m.note IS NOT DISTINCT FROM r.note AND m.source_id IS NOT DISTINCT FROM r.source_id
"""

# The stored membership equal to each row (NULL when there is none), in row order.
EQUAL_MEMBERSHIPS = text(f"""
    SELECT r.ord, (SELECT min(m.id) FROM coalition_membership AS m WHERE {SAME_MEMBERSHIP}) AS id
    FROM {MEMBERSHIP_ROWS}
    ORDER BY r.ord
""")

MEMBERSHIP_JSON = f"""json_build_object(
    'coalition', json_build_object('slug', c.slug, 'name', c.name),
    'actor', json_build_object('slug', a.slug, 'name', a.name),
    {MEMBERSHIP_FIELDS})"""

# The memberships of the actor in the coalition whose validity overlaps [from, to): what the exclusion
# constraint excl_coalition_membership_overlap refuses a new (or corrected) one for.
OVERLAPPING_MEMBERSHIPS = text(f"""
    SELECT coalesce(json_agg({MEMBERSHIP_JSON} ORDER BY lower(m.valid) NULLS FIRST), '[]'::json)
    FROM coalition_membership AS m
    JOIN coalition AS c ON c.id = m.coalition_id JOIN actor AS a ON a.id = m.actor_id
    WHERE m.coalition_id = :coalition_id AND m.actor_id = :actor_id AND m.valid && {VALID}
      AND m.id IS DISTINCT FROM CAST(:except_id AS integer)
""")

MEMBERSHIP = text(f"""
    SELECT {MEMBERSHIP_JSON}::text
    FROM coalition_membership AS m
    JOIN coalition AS c ON c.id = m.coalition_id JOIN actor AS a ON a.id = m.actor_id
    WHERE m.id = :id AND c.slug = :coalition
""")

# The editable fields of a membership, as references, for merging a correction into.
MEMBERSHIP_FOR_UPDATE = text("""
    SELECT m.id, m.coalition_id, m.actor_id, json_build_object(
        'actor', a.slug, 'from', lower(m.valid), 'to', upper(m.valid), 'role', m.role, 'note', m.note,
        'source', (SELECT s.slug FROM source AS s WHERE s.id = m.source_id)) AS fields
    FROM coalition_membership AS m
    JOIN coalition AS c ON c.id = m.coalition_id JOIN actor AS a ON a.id = m.actor_id
    WHERE m.id = :id AND c.slug = :coalition
    FOR NO KEY UPDATE OF m
""")

UPDATE_MEMBERSHIP = text(f"""
    UPDATE coalition_membership SET valid = {VALID}, role = :role, note = :note, source_id = :source_id
    WHERE id = :id
    RETURNING id
""")

DELETE_MEMBERSHIP = text("""
    DELETE FROM coalition_membership AS m USING coalition AS c
    WHERE m.id = :id AND c.id = m.coalition_id AND c.slug = :coalition
    RETURNING m.id
""")
