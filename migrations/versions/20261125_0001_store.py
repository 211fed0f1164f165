"""The store: places, names, actors, coalitions, sources, control events and periods, territories, front lines.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 06:06:08.498151+00:00
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXTENSIONS = ("postgis", "btree_gist", "pg_trgm", "unaccent")

# What place-name lookups compare: unaccented, lower-case, apostrophes, ayn/hamza marks and Arabic diacritics
# dropped, other punctuation folded to one space. "Mare'" = "Mare", "al-Bab" = "Al Bab", "Dabık" = "Dabik".
# unaccent() is only STABLE (its dictionary could change); naming the dictionary makes this wrapper safe to
# declare IMMUTABLE, which a generated column and its indexes need.
NORMALIZE_FUNCTION = r"""
CREATE FUNCTION territory_normalize(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT btrim(regexp_replace(
        regexp_replace(lower(public.unaccent('public.unaccent'::regdictionary, value)),
                       '[''`\u2018\u2019\u02BF\u02BE\u0640\u064B-\u065F]', '', 'g'),
        '[\s\-_.,;:/()"]+', ' ', 'g'))
$$
"""

# Control periods are derived from a place's events: each event's state holds from its date until the next
# event's date; of two events on one day the last (by seq, then id) gives the day's state; consecutive events
# with the same holder, status and parties merge into one period that began with the first of them.
# Locking the places first serialises concurrent writers of one place, so each recomputation sees the others'
# committed events (every statement of a volatile function takes a new snapshot).
RECOMPUTE_FUNCTION = """
CREATE FUNCTION recompute_control_periods(place_ids integer[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM place WHERE id = ANY(place_ids) ORDER BY id FOR UPDATE;
    DELETE FROM control_period WHERE place_id = ANY(place_ids);
    INSERT INTO control_period (place_id, actor_id, status, party_ids, valid, control_event_id)
    WITH ordered AS (
        SELECT e.id, e.place_id, e.actor_id, e.status, e.occurred_on,
               ARRAY(SELECT DISTINCT p FROM unnest(e.party_ids) AS p ORDER BY p) AS party_ids,
               lead(e.occurred_on) OVER w AS next_on,
               row_number() OVER w AS position
        FROM control_event AS e
        WHERE e.place_id = ANY(place_ids)
        WINDOW w AS (PARTITION BY e.place_id ORDER BY e.occurred_on, e.seq, e.id)
    ), last_of_day AS (
        SELECT * FROM ordered WHERE next_on IS NULL OR next_on > occurred_on
    ), changes AS (
        SELECT *, CASE WHEN lag((actor_id, status, party_ids)) OVER w
                            IS NOT DISTINCT FROM (actor_id, status, party_ids)
                       THEN 0 ELSE 1 END AS starts_period
        FROM last_of_day
        WINDOW w AS (PARTITION BY place_id ORDER BY position)
    ), numbered AS (
        SELECT *, sum(starts_period) OVER (PARTITION BY place_id ORDER BY position) AS period_no
        FROM changes
    ), bounded AS (
        SELECT *, last_value(next_on) OVER (
                      PARTITION BY place_id, period_no ORDER BY position
                      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS period_end
        FROM numbered
    )
    -- A period takes its state and its beginning event from its first event; NULL end = still in force.
    SELECT DISTINCT ON (place_id, period_no)
           place_id, actor_id, status, party_ids, daterange(occurred_on, period_end, '[)'), id
    FROM bounded
    ORDER BY place_id, period_no, position;
END
$$
"""

TRIGGER_FUNCTION = """
CREATE FUNCTION control_event_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    touched integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        touched := ARRAY(SELECT DISTINCT place_id FROM new_rows);
    ELSIF TG_OP = 'DELETE' THEN
        touched := ARRAY(SELECT DISTINCT place_id FROM old_rows);
    ELSE
        touched := ARRAY(SELECT place_id FROM new_rows UNION SELECT place_id FROM old_rows);
    END IF;
    PERFORM recompute_control_periods(touched);
    RETURN NULL;
END
$$
"""

TRIGGERS = {
    "INSERT": "NEW TABLE AS new_rows",
    "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "OLD TABLE AS old_rows",
}


def upgrade() -> None:
    for extension in EXTENSIONS:
        op.execute(f"CREATE EXTENSION IF NOT EXISTS {extension}")
    op.execute(NORMALIZE_FUNCTION)
    op.create_table(
        "actor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=120), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("aliases", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("color", sa.String(length=7), server_default=sa.text("'#808080'"), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.CheckConstraint("color ~ '^#[0-9a-fA-F]{6}$'", name=op.f("ck_actor_color")),
        sa.CheckConstraint(
            "kind IN ('state_army', 'armed_group', 'militia', 'private_military_company', 'air_coalition', 'special_forces', 'rebel_alliance', 'foreign_army')",
            name=op.f("ck_actor_kind"),
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["actor.id"], name=op.f("fk_actor_parent_id_actor")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actor")),
        sa.UniqueConstraint("slug", name=op.f("uq_actor_slug")),
    )
    op.create_table(
        "coalition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=120), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("color", sa.String(length=7), server_default=sa.text("'#808080'"), nullable=False),
        sa.CheckConstraint("color ~ '^#[0-9a-fA-F]{6}$'", name=op.f("ck_coalition_color")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coalition")),
        sa.UniqueConstraint("slug", name=op.f("uq_coalition_slug")),
    )
    op.create_table(
        "place",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=120), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
                spatial_index=False,
            ),
            nullable=False,
        ),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("country_code ~ '^[A-Z]{2}$'", name=op.f("ck_place_country_code")),
        sa.CheckConstraint(
            "kind IN ('city', 'town', 'village', 'airbase', 'oilfield', 'district', 'border_crossing', 'military_base')",
            name=op.f("ck_place_kind"),
        ),
        sa.CheckConstraint(
            "ST_X(geom) BETWEEN -180 AND 180 AND ST_Y(geom) BETWEEN -90 AND 90",
            name=op.f("ck_place_geom_in_range"),
        ),
        sa.CheckConstraint("population IS NULL OR population >= 0", name=op.f("ck_place_population")),
        sa.ForeignKeyConstraint(["parent_id"], ["place.id"], name=op.f("fk_place_parent_id_place")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_place")),
        sa.UniqueConstraint("slug", name=op.f("uq_place_slug")),
    )
    op.create_index("idx_place_geom", "place", ["geom"], unique=False, postgresql_using="gist")
    op.create_table(
        "source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=120), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("publisher", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("published_on", sa.Date(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source")),
        sa.UniqueConstraint("slug", name=op.f("uq_source_slug")),
    )
    op.create_table(
        "coalition_membership",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coalition_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=False),
        sa.Column("valid", postgresql.DATERANGE(), nullable=False),
        sa.Column("role", sa.String(length=20), server_default=sa.text("'member'"), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("source_id", sa.Integer(), nullable=True),
        postgresql.ExcludeConstraint(
            (sa.column("coalition_id"), "="),
            (sa.column("actor_id"), "="),
            (sa.column("valid"), "&&"),
            using="gist",
            name="excl_coalition_membership_overlap",
        ),
        sa.CheckConstraint("role IN ('member', 'supporter')", name=op.f("ck_coalition_membership_role")),
        sa.CheckConstraint("NOT isempty(valid)", name=op.f("ck_coalition_membership_valid_not_empty")),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["actor.id"],
            name=op.f("fk_coalition_membership_actor_id_actor"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["coalition_id"],
            ["coalition.id"],
            name=op.f("fk_coalition_membership_coalition_id_coalition"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_coalition_membership_source_id_source")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coalition_membership")),
    )
    op.create_index(
        "ix_coalition_membership_actor_valid",
        "coalition_membership",
        ["actor_id", "valid"],
        unique=False,
        postgresql_using="gist",
    )
    op.create_table(
        "control_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("place_id", sa.Integer(), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("precision", sa.String(length=5), server_default=sa.text("'day'"), nullable=False),
        sa.Column("seq", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("losing_actor_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column(
            "party_ids", postgresql.ARRAY(sa.Integer()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column("confidence", sa.String(length=10), server_default=sa.text("'confirmed'"), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "confidence IN ('confirmed', 'reported', 'claimed')", name=op.f("ck_control_event_confidence")
        ),
        sa.CheckConstraint(
            "kind IN ('captured', 'recaptured', 'liberated', 'withdrawn', 'besieged', 'siege_broken', 'contested', 'held')",
            name=op.f("ck_control_event_kind"),
        ),
        sa.CheckConstraint(
            "precision = 'day' OR (precision = 'month' AND extract(day FROM occurred_on) = 1) OR (precision = 'year' AND extract(doy FROM occurred_on) = 1)",
            name=op.f("ck_control_event_precision_aligned"),
        ),
        sa.CheckConstraint("precision IN ('day', 'month', 'year')", name=op.f("ck_control_event_precision")),
        sa.CheckConstraint(
            "status <> 'besieged' OR cardinality(party_ids) >= 1",
            name=op.f("ck_control_event_besieger_named"),
        ),
        sa.CheckConstraint(
            "status <> 'contested' OR cardinality(party_ids) >= 2",
            name=op.f("ck_control_event_contested_parties"),
        ),
        sa.CheckConstraint(
            "status = 'contested' OR actor_id IS NOT NULL", name=op.f("ck_control_event_holder_named")
        ),
        sa.CheckConstraint(
            "status IN ('controlled', 'contested', 'besieged')", name=op.f("ck_control_event_status")
        ),
        sa.ForeignKeyConstraint(["actor_id"], ["actor.id"], name=op.f("fk_control_event_actor_id_actor")),
        sa.ForeignKeyConstraint(
            ["losing_actor_id"], ["actor.id"], name=op.f("fk_control_event_losing_actor_id_actor")
        ),
        sa.ForeignKeyConstraint(
            ["place_id"], ["place.id"], name=op.f("fk_control_event_place_id_place"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_event")),
        sa.UniqueConstraint("external_id", name=op.f("uq_control_event_external_id")),
    )
    op.create_index(
        "ix_control_event_place_id_occurred_on", "control_event", ["place_id", "occurred_on"], unique=False
    )
    op.create_table(
        "front_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTILINESTRING",
                srid=4326,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
                spatial_index=False,
            ),
            nullable=False,
        ),
        sa.Column("side_a_actor_id", sa.Integer(), nullable=False),
        sa.Column("side_b_actor_id", sa.Integer(), nullable=False),
        sa.Column("valid", postgresql.DATERANGE(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("approximate", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.CheckConstraint("NOT isempty(valid)", name=op.f("ck_front_line_valid_not_empty")),
        sa.ForeignKeyConstraint(
            ["side_a_actor_id"], ["actor.id"], name=op.f("fk_front_line_side_a_actor_id_actor")
        ),
        sa.ForeignKeyConstraint(
            ["side_b_actor_id"], ["actor.id"], name=op.f("fk_front_line_side_b_actor_id_actor")
        ),
        sa.ForeignKeyConstraint(["source_id"], ["source.id"], name=op.f("fk_front_line_source_id_source")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_front_line")),
    )
    op.create_index("idx_front_line_geom", "front_line", ["geom"], unique=False, postgresql_using="gist")
    op.create_index("ix_front_line_valid", "front_line", ["valid"], unique=False, postgresql_using="gist")
    op.create_table(
        "place_name",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("place_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("lang", sa.String(length=20), nullable=True),
        sa.Column(
            "name_norm", sa.Text(), sa.Computed("territory_normalize(name)", persisted=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["place_id"], ["place.id"], name=op.f("fk_place_name_place_id_place"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_place_name")),
        sa.UniqueConstraint("place_id", "name", name="uq_place_name_place_id_name"),
    )
    op.create_index("ix_place_name_name_norm", "place_name", ["name_norm"], unique=False)
    op.create_index(
        "ix_place_name_name_norm_trgm",
        "place_name",
        ["name_norm"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name_norm": "gin_trgm_ops"},
    )
    op.create_table(
        "territory",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
                spatial_index=False,
            ),
            nullable=False,
        ),
        sa.Column("valid", postgresql.DATERANGE(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("approximate", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.CheckConstraint("NOT isempty(valid)", name=op.f("ck_territory_valid_not_empty")),
        sa.ForeignKeyConstraint(["actor_id"], ["actor.id"], name=op.f("fk_territory_actor_id_actor")),
        sa.ForeignKeyConstraint(["source_id"], ["source.id"], name=op.f("fk_territory_source_id_source")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_territory")),
    )
    op.create_index("idx_territory_geom", "territory", ["geom"], unique=False, postgresql_using="gist")
    op.create_index("ix_territory_valid", "territory", ["valid"], unique=False, postgresql_using="gist")
    op.create_table(
        "control_event_source",
        sa.Column("control_event_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["control_event_id"],
            ["control_event.id"],
            name=op.f("fk_control_event_source_control_event_id_control_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_control_event_source_source_id_source")
        ),
        sa.PrimaryKeyConstraint("control_event_id", "source_id", name=op.f("pk_control_event_source")),
    )
    op.create_index(
        op.f("ix_control_event_source_source_id"), "control_event_source", ["source_id"], unique=False
    )
    op.create_table(
        "control_period",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("place_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column(
            "party_ids", postgresql.ARRAY(sa.Integer()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column("valid", postgresql.DATERANGE(), nullable=False),
        sa.Column("control_event_id", sa.Integer(), nullable=False),
        postgresql.ExcludeConstraint(
            (sa.column("place_id"), "="),
            (sa.column("valid"), "&&"),
            using="gist",
            name="excl_control_period_overlap",
        ),
        sa.CheckConstraint(
            "status IN ('controlled', 'contested', 'besieged')", name=op.f("ck_control_period_status")
        ),
        sa.CheckConstraint("NOT isempty(valid)", name=op.f("ck_control_period_valid_not_empty")),
        sa.ForeignKeyConstraint(["actor_id"], ["actor.id"], name=op.f("fk_control_period_actor_id_actor")),
        sa.ForeignKeyConstraint(
            ["control_event_id"],
            ["control_event.id"],
            name=op.f("fk_control_period_control_event_id_control_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["place_id"], ["place.id"], name=op.f("fk_control_period_place_id_place"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_period")),
    )
    op.create_index(
        "ix_control_period_actor_valid",
        "control_period",
        ["actor_id", "valid"],
        unique=False,
        postgresql_using="gist",
    )
    # "Who held place P on date D": an index-only probe of the latest period starting on or before D.
    op.execute(
        "CREATE INDEX ix_control_period_place_id_lower_valid ON control_period "
        "(place_id, lower(valid) DESC) INCLUDE (actor_id, status, valid)"
    )
    # "What changed between two dates": the periods that began in the interval.
    op.execute("CREATE INDEX ix_control_period_lower_valid ON control_period (lower(valid))")
    # "Every place's state on a date" without a place filter (summaries).
    op.create_index(
        "ix_control_period_valid", "control_period", ["valid"], unique=False, postgresql_using="gist"
    )
    # Distances in metres (places near a point) through the geography type.
    op.execute("CREATE INDEX ix_place_geog ON place USING gist ((geom::geography))")
    op.execute(RECOMPUTE_FUNCTION)
    op.execute(TRIGGER_FUNCTION)
    for operation, transitions in TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER control_event_periods_{operation.lower()} AFTER {operation} ON control_event "
            f"REFERENCING {transitions} FOR EACH STATEMENT EXECUTE FUNCTION control_event_changed()"
        )


def downgrade() -> None:
    for operation in TRIGGERS:
        op.execute(f"DROP TRIGGER control_event_periods_{operation.lower()} ON control_event")
    op.execute("DROP FUNCTION control_event_changed()")
    op.execute("DROP FUNCTION recompute_control_periods(integer[])")
    op.execute("DROP INDEX ix_control_period_place_id_lower_valid")
    op.execute("DROP INDEX ix_control_period_lower_valid")
    op.drop_index("ix_control_period_valid", table_name="control_period", postgresql_using="gist")
    op.execute("DROP INDEX ix_place_geog")
    op.drop_index("ix_control_period_actor_valid", table_name="control_period", postgresql_using="gist")
    op.drop_table("control_period")
    op.drop_index(op.f("ix_control_event_source_source_id"), table_name="control_event_source")
    op.drop_table("control_event_source")
    op.drop_index("ix_territory_valid", table_name="territory", postgresql_using="gist")
    op.drop_index("idx_territory_geom", table_name="territory", postgresql_using="gist")
    op.drop_table("territory")
    op.drop_index(
        "ix_place_name_name_norm_trgm",
        table_name="place_name",
        postgresql_using="gin",
        postgresql_ops={"name_norm": "gin_trgm_ops"},
    )
    op.drop_index("ix_place_name_name_norm", table_name="place_name")
    op.drop_table("place_name")
    op.drop_index("ix_front_line_valid", table_name="front_line", postgresql_using="gist")
    op.drop_index("idx_front_line_geom", table_name="front_line", postgresql_using="gist")
    op.drop_table("front_line")
    op.drop_index("ix_control_event_place_id_occurred_on", table_name="control_event")
    op.drop_table("control_event")
    op.drop_index(
        "ix_coalition_membership_actor_valid", table_name="coalition_membership", postgresql_using="gist"
    )
    op.drop_table("coalition_membership")
    op.drop_table("source")
    op.drop_index("idx_place_geom", table_name="place", postgresql_using="gist")
    op.drop_table("place")
    op.drop_table("coalition")
    op.drop_table("actor")
    op.execute("DROP FUNCTION territory_normalize(text)")
    # The extensions stay: other schemas in the database may use them.
