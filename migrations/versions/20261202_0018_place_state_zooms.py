"""Each place_state row carries its place's least zoom, under a partial GiST index per zoom below 8.

0016 made a low-zoom places tile read its ~1,000 shown places from place_zoom, then each one's state through the
exclusion constraint's GiST on (place_id, valid): 15-40 µs a probe, 19-45 ms for a dense z7 tile. With the
least zoom copied into place_state (derive_place_states joins place_zoom; refresh_place_zooms updates the rows of
the places whose zoom it changed) a tile below z8 is one scan of the partial index of the rows shown at its
zoom, as a z8 tile is one scan of (geom, valid): 7-12 ms for the same z7 tile, interleaved on the same data.

Revision ID: 0018_place_state_zooms
Revises: 0017_place_territories
Create Date: 2026-12-02 06:20:00+00:00
"""

from collections.abc import Sequence

from alembic import op

from app.db.sql import install_snapshot

revision: str = "0018_place_state_zooms"
down_revision: str | None = "0017_place_territories"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

THINNED_ZOOMS = range(8)  # app/db/queries/tiles.py THINNED_BELOW


def upgrade() -> None:
    op.execute("ALTER TABLE place_state ADD COLUMN min_zoom smallint")
    op.execute("DROP FUNCTION derive_place_states(timestamptz, integer[], text)")
    install_snapshot("0018_place_state_zooms")
    op.execute(
        "UPDATE place_state AS s SET min_zoom = z.min_zoom FROM place_zoom AS z WHERE z.place_id = s.place_id"
    )
    for zoom in THINNED_ZOOMS:
        op.execute(
            f"CREATE INDEX ix_place_state_shown_z{zoom} ON place_state USING gist (geom, valid) "
            f"WHERE min_zoom <= {zoom}"
        )
    op.execute("ANALYZE place_state")


def downgrade() -> None:
    for zoom in THINNED_ZOOMS:
        op.execute(f"DROP INDEX ix_place_state_shown_z{zoom}")
    op.execute("DROP FUNCTION derive_place_states(timestamptz, integer[], text)")
    install_snapshot("0017_place_territories")
    op.execute("ALTER TABLE place_state DROP COLUMN min_zoom")
