"""Ingestion: API keys, event versions (corrections and retractions keep history), periods as of a time.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 12:40:00+00:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns of an event that make up its content: a version is recorded when any of them changes.
CONTENT = (
    "external_id, place_id, occurred_on, precision, seq, kind, actor_id, losing_actor_id, status, party_ids, "
    "confidence, notes"
)
SOURCE_IDS = "ARRAY(SELECT s.source_id FROM control_event_source AS s WHERE s.control_event_id = e.id ORDER BY s.source_id)"


def columns(alias: str) -> str:
    return ", ".join(f"{alias}.{column.strip()}" for column in CONTENT.split(","))


# Periods derived from events, as they stand now (as_of NULL) or as they were recorded at `as_of` (from the
# versions). One derivation for both, so a reconstructed answer follows exactly the rules of the live one:
# each event's state holds from its date until the next event's date; of two events on one day the last
# (by seq, then id) gives the day's state; consecutive events with the same holder, status and parties merge
# into one period that began with the first of them. place_ids NULL = every place.
DERIVE_FUNCTION = """
CREATE FUNCTION derive_control_periods(as_of timestamptz, place_ids integer[])
RETURNS TABLE (place_id integer, actor_id integer, status text, party_ids integer[], valid daterange,
               control_event_id integer)
-- The branch over every event makes the plan look expensive: no JIT compilation (half a second) and no
-- parallel workers (their start-up) for what is, for a few places, a millisecond of work.
LANGUAGE sql STABLE SET jit = off SET max_parallel_workers_per_gather = 0 AS $$
    -- One branch per case, each a plain condition an index serves: a single "place_ids IS NULL OR place_id =
    -- ANY(place_ids)" is planned once for both cases, as a scan of every event (1.5 s for 1,000 places at 1M
    -- events, instead of milliseconds). The branches whose case does not hold are skipped at run time.
    WITH events AS (
        SELECT e.id, e.place_id, e.actor_id, e.status, e.occurred_on, e.seq, e.party_ids
        FROM control_event AS e
        WHERE as_of IS NULL AND e.place_id = ANY(place_ids) AND e.retracted_at IS NULL
        UNION ALL
        SELECT e.id, e.place_id, e.actor_id, e.status, e.occurred_on, e.seq, e.party_ids
        FROM control_event AS e
        WHERE as_of IS NULL AND place_ids IS NULL AND e.retracted_at IS NULL
        UNION ALL
        SELECT v.control_event_id, v.place_id, v.actor_id, v.status, v.occurred_on, v.seq, v.party_ids
        FROM control_event_version AS v
        WHERE as_of IS NOT NULL AND v.place_id = ANY(place_ids)
          AND v.recorded @> as_of AND v.change <> 'retracted'
        UNION ALL
        SELECT v.control_event_id, v.place_id, v.actor_id, v.status, v.occurred_on, v.seq, v.party_ids
        FROM control_event_version AS v
        WHERE as_of IS NOT NULL AND place_ids IS NULL AND v.recorded @> as_of AND v.change <> 'retracted'
    ), ordered AS (
        SELECT e.id, e.place_id, e.actor_id, e.status, e.occurred_on,
               ARRAY(SELECT DISTINCT p FROM unnest(e.party_ids) AS p ORDER BY p) AS party_ids,
               lead(e.occurred_on) OVER w AS next_on,
               row_number() OVER w AS position
        FROM events AS e
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
    ORDER BY place_id, period_no, position
$$
"""

# Locking the places first serialises concurrent writers of one place, so each recomputation sees the others'
# committed events (every statement of a volatile function takes a new snapshot). NO KEY UPDATE, not UPDATE:
# inserting an event takes a KEY SHARE lock on its place (the foreign key), which UPDATE would conflict with,
# deadlocking two writers of the same place.
# Only the periods that changed are rewritten: a new event usually ends the last period and opens one, so
# deleting and re-inserting a place's whole history (and its GiST entries) would be most of a write's cost.
# The derivation runs once per statement (MATERIALIZED) and is compared through one hashable key, so each
# statement is a hash anti-join: as a correlated subquery it ran once per period.
PERIOD_KEY = "{p}.place_id, {p}.valid, {p}.status, coalesce({p}.actor_id, 0), {p}.party_ids, {p}.control_event_id"
RECOMPUTE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION recompute_control_periods(place_ids integer[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM place WHERE id = ANY(place_ids) ORDER BY id FOR NO KEY UPDATE;
    WITH derived AS MATERIALIZED (SELECT * FROM derive_control_periods(NULL, place_ids))
    DELETE FROM control_period AS cp
    WHERE cp.place_id = ANY(place_ids)
      AND ({PERIOD_KEY.format(p="cp")}) NOT IN (SELECT {PERIOD_KEY.format(p="d")} FROM derived AS d);
    WITH derived AS MATERIALIZED (SELECT * FROM derive_control_periods(NULL, place_ids))
    INSERT INTO control_period (place_id, actor_id, status, party_ids, valid, control_event_id)
    SELECT d.* FROM derived AS d
    WHERE ({PERIOD_KEY.format(p="d")}) NOT IN (
        SELECT {PERIOD_KEY.format(p="cp")} FROM control_period AS cp WHERE cp.place_id = ANY(place_ids));
END
$$
"""

# Record a version of each given event whose content (with its sources and retraction) differs from its open
# version: the open one is closed at now() and the new one opened. A version opened earlier in the same
# transaction is replaced instead, so `recorded` ranges are never empty. Returns how many were recorded.
RECORD_VERSIONS_FUNCTION = f"""
CREATE FUNCTION record_event_versions(event_ids integer[], by_key integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    changed integer[];
BEGIN
    SELECT array_agg(e.id) INTO changed
    FROM control_event AS e
    LEFT JOIN control_event_version AS o ON o.control_event_id = e.id AND upper_inf(o.recorded)
    WHERE e.id = ANY(event_ids)
      AND (o.id IS NULL
           OR ({columns("e")}, {SOURCE_IDS}, e.retracted_at IS NOT NULL)
              IS DISTINCT FROM ({columns("o")}, o.source_ids, o.change = 'retracted'));
    IF changed IS NULL THEN
        RETURN 0;
    END IF;
    DELETE FROM control_event_version
    WHERE control_event_id = ANY(changed) AND upper_inf(recorded) AND lower(recorded) = now();
    UPDATE control_event_version SET recorded = tstzrange(lower(recorded), now())
    WHERE control_event_id = ANY(changed) AND upper_inf(recorded);
    INSERT INTO control_event_version (control_event_id, version, change, {CONTENT}, source_ids, recorded,
                                       recorded_by)
    SELECT e.id, coalesce(last.version, 0) + 1,
           CASE WHEN e.retracted_at IS NOT NULL THEN 'retracted'
                WHEN last.version IS NULL THEN 'created' ELSE 'corrected' END,
           {columns("e")}, {SOURCE_IDS}, tstzrange(now(), NULL), by_key
    FROM control_event AS e
    LEFT JOIN LATERAL (SELECT max(v.version) AS version FROM control_event_version AS v
                       WHERE v.control_event_id = e.id) AS last ON true
    WHERE e.id = ANY(changed)
    ORDER BY e.id;
    RETURN cardinality(changed);
END
$$
"""

# Live feed: one notification per committed version (delivered at commit, in commit order).
NOTIFY_FUNCTION = """
CREATE FUNCTION control_event_version_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('control_event_version', NEW.id::text);
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        # The public part of the key (shown in listings); the secret is stored only as a SHA-256 digest.
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("scope IN ('read', 'ingest', 'admin')", name=op.f("ck_api_key_scope")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_key_prefix")),
    )
    op.add_column("control_event", sa.Column("retracted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("control_event", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "control_event",
        sa.Column(
            "recorded_by",
            sa.Integer(),
            sa.ForeignKey("api_key.id", name="fk_control_event_recorded_by_api_key"),
            nullable=True,
        ),
    )
    op.create_table(
        "control_event_version",
        # Its id orders the versions as they were recorded: the position of the feed and of the events cursor.
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("control_event_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(length=10), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("place_id", sa.Integer(), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("precision", sa.String(length=5), nullable=False),
        sa.Column("seq", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("losing_actor_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("party_ids", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("confidence", sa.String(length=10), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("source_ids", postgresql.ARRAY(sa.Integer()), nullable=False),
        # When this version was the record: [recorded, superseded or retracted).
        sa.Column("recorded", postgresql.TSTZRANGE(), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "change IN ('created', 'corrected', 'retracted')", name=op.f("ck_control_event_version_change")
        ),
        sa.CheckConstraint("NOT isempty(recorded)", name=op.f("ck_control_event_version_recorded_not_empty")),
        postgresql.ExcludeConstraint(
            (sa.column("control_event_id"), "="),
            (sa.column("recorded"), "&&"),
            using="gist",
            name="excl_control_event_version_overlap",
        ),
        sa.ForeignKeyConstraint(
            ["control_event_id"],
            ["control_event.id"],
            name=op.f("fk_control_event_version_control_event_id_control_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["api_key.id"], name=op.f("fk_control_event_version_recorded_by_api_key")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_event_version")),
        sa.UniqueConstraint("control_event_id", "version", name="uq_control_event_version_event_version"),
    )
    # The transaction that wrote a version: a feed reader hands out only positions that no running transaction
    # can still precede (ids are drawn at insert, but become visible at commit, not necessarily in id order).
    op.execute(
        "ALTER TABLE control_event_version ADD COLUMN recorded_xact xid8 NOT NULL DEFAULT pg_current_xact_id()"
    )
    # The versions of given places (as_of answers about a place or a bbox), and what was the record at T.
    op.create_index("ix_control_event_version_place_id", "control_event_version", ["place_id"])
    # "As the record stood at T": the versions whose recorded range holds T, by place.
    op.create_index(
        "ix_control_event_version_place_recorded",
        "control_event_version",
        ["place_id", "recorded"],
        postgresql_using="gist",
    )
    # Deleting an event cascades to its periods: without this index, a scan of every period per event.
    op.create_index("ix_control_period_control_event_id", "control_period", ["control_event_id"])
    op.execute(DERIVE_FUNCTION)
    op.execute(RECOMPUTE_FUNCTION)
    op.execute(RECORD_VERSIONS_FUNCTION)
    op.execute(NOTIFY_FUNCTION)
    op.execute(
        "CREATE TRIGGER control_event_version_notify AFTER INSERT ON control_event_version "
        "FOR EACH ROW EXECUTE FUNCTION control_event_version_notify()"
    )
    # Events already in the store become their first version, recorded when they were.
    op.execute(f"""
        INSERT INTO control_event_version (control_event_id, version, change, {CONTENT}, source_ids, recorded)
        SELECT e.id, 1, 'created', {columns("e")}, {SOURCE_IDS}, tstzrange(e.recorded_at, NULL)
        FROM control_event AS e ORDER BY e.id
    """)


def downgrade() -> None:
    # Retracted events never existed for the store of revision 0001 (deleted while the triggers still work).
    op.execute("DELETE FROM control_event WHERE retracted_at IS NOT NULL")
    op.execute("DROP TRIGGER control_event_version_notify ON control_event_version")
    op.execute("DROP FUNCTION control_event_version_notify()")
    op.execute("DROP FUNCTION record_event_versions(integer[], integer)")
    op.drop_index("ix_control_event_version_place_recorded", table_name="control_event_version")
    op.drop_index("ix_control_event_version_place_id", table_name="control_event_version")
    op.drop_table("control_event_version")
    op.drop_index("ix_control_period_control_event_id", table_name="control_period")
    op.drop_column("control_event", "recorded_by")
    op.drop_column("control_event", "updated_at")
    op.drop_column("control_event", "retracted_at")
    op.drop_table("api_key")
    # Back to 0001's recomputation, which derives the periods itself.
    op.execute("DROP FUNCTION recompute_control_periods(integer[])")
    op.execute("DROP FUNCTION derive_control_periods(timestamptz, integer[])")
    op.execute(_revision_0001().RECOMPUTE_FUNCTION)


def _revision_0001() -> ModuleType:
    """The first migration's module (its file name is no importable module name)."""
    path = Path(__file__).with_name("20261125_0001_store.py")
    spec = importlib.util.spec_from_file_location("territory_migration_0001", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
