"""Place states: each place's timeline as rows indexed by (point, validity), so a tile or a map of a date is
one index scan.

Until now a places tile or a bbox map looked up the period in force for every place it showed (one probe of
control_period per place: 1,400 for a dense z8 tile at 100,000 places), and joined the period's event for its
precision (the map's certainty). `place_state` holds, for every place, rows that together cover every date
once: its control periods and the stretches no period covers (unknown), each with the end of its event's
uncertainty window and the place's point (EPSG:4326 and 3857), slug, name and kind. GiST over (geom, valid)
answers "the places in this box on D" in one scan, one row per place.

The table is derived (app/db/sql/derive_place_states.sql) and kept by triggers on control_period, control_event
(precision) and place, whatever writes those; reads as of a past moment derive the same rows from the versions.

Revision ID: 0009_place_states
Revises: 0008_data_version
Create Date: 2026-12-02 00:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

from app.db.sql import install_snapshot

revision: str = "0009_place_states"
down_revision: str | None = "0008_data_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE place_state (
            place_id integer NOT NULL,
            valid daterange NOT NULL,
            actor_id integer,
            status varchar(12),
            party_ids integer[],
            control_event_id integer,
            uncertain_until date,
            geom geometry(Point, 4326) NOT NULL,
            geom_3857 geometry(Point, 3857) NOT NULL,
            slug varchar(120) NOT NULL,
            name text NOT NULL,
            kind varchar(40) NOT NULL,
            CONSTRAINT fk_place_state_place_id_place FOREIGN KEY (place_id) REFERENCES place (id) ON DELETE CASCADE,
            CONSTRAINT ck_place_state_valid_not_empty CHECK (NOT isempty(valid)),
            CONSTRAINT ck_place_state_known_with_event CHECK ((status IS NULL) = (control_event_id IS NULL))
        )
    """)
    install_snapshot("0009_place_states")
    # Filled in the order of the points (a tile's rows share pages), then indexed.
    op.execute("""
        INSERT INTO place_state (place_id, valid, actor_id, status, party_ids, control_event_id, uncertain_until,
                                 geom, geom_3857, slug, name, kind)
        SELECT * FROM derive_place_states(NULL, NULL) ORDER BY ST_GeoHash(geom, 7), place_id, lower(valid)
    """)
    # One state per place on any date; also the probe of one place's state on a date.
    op.execute(
        "ALTER TABLE place_state ADD CONSTRAINT excl_place_state_overlap "
        "EXCLUDE USING gist (place_id WITH =, valid WITH &&)"
    )
    op.execute("CREATE INDEX ix_place_state_geom_valid ON place_state USING gist (geom, valid)")
    op.execute("ANALYZE place_state")


def downgrade() -> None:
    install_snapshot("0008_data_version")
    op.execute("DROP TRIGGER place_states_insert ON place")
    op.execute("DROP TRIGGER place_states_update ON place")
    op.execute("DROP TRIGGER control_event_precision_update ON control_event")
    op.execute("DROP TRIGGER control_period_states_insert ON control_period")
    op.execute("DROP TRIGGER control_period_states_update ON control_period")
    op.execute("DROP TRIGGER control_period_states_delete ON control_period")
    op.execute("DROP FUNCTION place_changed()")
    op.execute("DROP FUNCTION control_event_precision_changed()")
    op.execute("DROP FUNCTION control_period_changed()")
    op.execute("DROP FUNCTION refresh_place_states(integer[])")
    op.execute("DROP FUNCTION derive_place_states(timestamptz, integer[])")
    op.execute("DROP TABLE place_state")
