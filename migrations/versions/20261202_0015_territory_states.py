"""Territory pieces in place_state: a read of a date joins the territory by key instead of testing its rings.

A place no control period covers on a date shows the territory covering its point then (an exact one over an
approximate one, then the latest, then the lowest id). The reads found it by a probe of territory per such
place (GiST on (geom, valid), then ST_Covers on rings re-read from TOAST: ~80 µs a place, 283 places and two
thirds of a dense z8 tile's time on an early date). place_state's uncovered stretches are now split by the
territories covering the place, each piece with the winner's `territory_id` (app/db/sql/derive_place_states.sql),
kept by statement triggers on territory (app/db/sql/territory_changed.sql) and by a moved place's refresh.

derive_place_states returns one more column, so it is dropped and re-created; every place's states are then
derived again, written in the order of their points as 0009 wrote them (a tile's rows share pages).

Revision ID: 0015_territory_states
Revises: 0014_close_search
Create Date: 2026-12-02 03:45:00+00:00
"""

from collections.abc import Sequence

from alembic import op

from app.db.sql import install_snapshot

revision: str = "0015_territory_states"
down_revision: str | None = "0014_close_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every place's states derived again, in one statement (the table's rows are derived, nothing references them).
REBUILD = (
    "DELETE FROM place_state",
    "INSERT INTO place_state SELECT * FROM derive_place_states(NULL, NULL) "
    "ORDER BY ST_GeoHash(geom, 7), place_id, lower(valid)",
    "ANALYZE place_state",
)


def upgrade() -> None:
    op.execute("ALTER TABLE place_state ADD COLUMN territory_id integer")
    op.execute("DROP FUNCTION derive_place_states(timestamptz, integer[], text)")
    install_snapshot("0015_territory_states")
    for statement in REBUILD:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER territory_states_insert ON territory")
    op.execute("DROP TRIGGER territory_states_update ON territory")
    op.execute("DROP TRIGGER territory_states_delete ON territory")
    op.execute("DROP FUNCTION territory_changed()")
    op.execute("DROP FUNCTION derive_place_states(timestamptz, integer[], text)")
    install_snapshot("0014_close_search")
    op.execute("ALTER TABLE place_state DROP COLUMN territory_id")
    for statement in REBUILD:
        op.execute(statement)
