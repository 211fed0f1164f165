"""History everywhere: every version of sources, actors, coalitions, memberships, places, spellings, territories
and front lines, as control_event_version keeps events'.

Each table gets `<table>_version`: the table's own columns (its `id` named `<table>_id`; generated columns kept
as plain values), then `version`, `change` (created | corrected | deleted), `recorded` (a tstzrange, one
version per moment by an exclusion constraint) and `position` in the feed (the events' sequence, given at
commit by assign_feed_positions). Typed tables, not one table of to_jsonb rows: `as_of` reads put them in the
tables' place (app/db/queries/as_of.py), and the same GiST indexes (geometry, validity) then serve them.
The trigger `record_versions` (app/db/sql/record_versions.sql) keeps them.

Backfill: each row now is one version `created`, recorded since the start of time (`recorded` unbounded below)
for the tables that never said when a row was written, and since `recorded_at` for territories and front lines.
So every `as_of` answer given before this revision is still given after it (as of any moment, those answers used
the rows as they stand now, and territories recorded by then): the history begins here, and it does not make up
a past it never kept.

Revision ID: 0011_history
Revises: 0010_shared_limits
Create Date: 2026-12-02 00:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

from app.db.sql import install_snapshot

revision: str = "0011_history"
down_revision: str | None = "0010_shared_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The versioned tables; and those whose rows say when they were recorded.
TABLES = (
    "source",
    "actor",
    "coalition",
    "coalition_membership",
    "place",
    "place_name",
    "territory",
    "front_line",
)
RECORDED_AT = ("territory", "front_line")

# What as_of reads look versions up by, beside the exclusion constraint's (<table>_id, recorded).
INDEXES = {
    "source": ["CREATE INDEX ix_source_version_slug ON source_version (slug)"],
    "actor": ["CREATE INDEX ix_actor_version_slug ON actor_version (slug)"],
    "coalition": ["CREATE INDEX ix_coalition_version_slug ON coalition_version (slug)"],
    "coalition_membership": [
        "CREATE INDEX ix_coalition_membership_version_valid ON coalition_membership_version "
        "USING gist (valid, recorded)",
        "CREATE INDEX ix_coalition_membership_version_coalition_id ON coalition_membership_version "
        "(coalition_id)",
    ],
    "place": [
        "CREATE INDEX ix_place_version_slug ON place_version (slug)",
        "CREATE INDEX ix_place_version_geom ON place_version USING gist (geom, recorded)",
    ],
    "place_name": [
        "CREATE INDEX ix_place_name_version_name_norm ON place_name_version (name_norm)",
        "CREATE INDEX ix_place_name_version_name_norm_trgm ON place_name_version "
        "USING gin (name_norm gin_trgm_ops)",
        "CREATE INDEX ix_place_name_version_place ON place_name_version (place_id)",
    ],
    "territory": [
        "CREATE INDEX ix_territory_version_geom_valid ON territory_version USING gist (geom, valid, recorded)",
    ],
    "front_line": [
        "CREATE INDEX ix_front_line_version_geom_valid ON front_line_version USING gist (geom, valid, recorded)",
    ],
}


def upgrade() -> None:
    # One numbering of every resource's versions: a history mixing a place and its spellings sorts by it.
    op.execute("CREATE SEQUENCE record_version_id_seq AS bigint")
    for table in TABLES:
        history = f"{table}_version"
        op.execute(f"CREATE TABLE {history} (LIKE {table})")
        op.execute(f"ALTER TABLE {history} RENAME COLUMN id TO {table}_id")
        op.execute(f"""
            ALTER TABLE {history}
                ADD COLUMN id bigint NOT NULL DEFAULT nextval('record_version_id_seq'),
                ADD COLUMN version integer NOT NULL,
                ADD COLUMN change varchar(10) NOT NULL,
                ADD COLUMN recorded tstzrange NOT NULL,
                ADD COLUMN position bigint,
                ADD CONSTRAINT pk_{history} PRIMARY KEY (id),
                ADD CONSTRAINT ck_{history}_change CHECK (change IN ('created', 'corrected', 'deleted')),
                ADD CONSTRAINT ck_{history}_recorded_not_empty CHECK (NOT isempty(recorded)),
                ADD CONSTRAINT uq_{history}_version UNIQUE ({table}_id, version),
                ADD CONSTRAINT uq_{history}_position UNIQUE (position),
                ADD CONSTRAINT excl_{history}_overlap EXCLUDE USING gist ({table}_id WITH =, recorded WITH &&)
        """)
        # The feed (each row's open version, by position) and the versions a committing transaction numbers.
        op.execute(f"CREATE INDEX ix_{history}_feed_position ON {history} (position) WHERE upper_inf(recorded)")
        op.execute(f"CREATE INDEX ix_{history}_unpositioned ON {history} (id) WHERE position IS NULL")
        for statement in INDEXES[table]:
            op.execute(statement)
    install_snapshot("0011_history")
    # After the install: the commit numbers these versions for the feed (assign_feed_positions).
    for table in TABLES:
        since = "recorded_at" if table in RECORDED_AT else "NULL"
        op.execute(f"""
            INSERT INTO {table}_version ({table}_id, version, change, recorded, {columns(table)})
            SELECT id, 1, 'created', tstzrange({since}, NULL), {columns(table)} FROM {table} ORDER BY id
        """)


def columns(table: str) -> str:
    """The table's columns but id, as the version table repeats them."""
    names = op.get_bind().exec_driver_sql(
        "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
        f"WHERE attrelid = '{table}'::regclass AND attnum > 0 AND NOT attisdropped AND attname <> 'id'"
    )
    return str(names.scalar())


def downgrade() -> None:
    install_snapshot("0010_shared_limits")
    for table in TABLES:
        for suffix in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER {table}_versions_{suffix} ON {table}")
        op.execute(f"DROP TABLE {table}_version")  # with its notify and feed-position triggers
    op.execute("DROP FUNCTION record_versions()")
    op.execute("DROP SEQUENCE record_version_id_seq")
