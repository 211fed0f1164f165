"""Places tiles below z8 thinned: one place per cell of a 32 x 32 grid over the tile, the most prominent.

At 100,000 places a z6 tile over the data held ~24,000 points (213 ms to build, half of it ST_AsMVT) and a z7
one ~6,000 (54 ms): more than a 512-pixel tile can show apart. place_zoom keeps, for the places shown below z8,
the least zoom each is shown at (app/db/sql/refresh_place_zooms.sql), kept by statement triggers on place, so
a low-zoom tile reads its few hundred places from a small table and joins their states by key.

Revision ID: 0016_place_zooms
Revises: 0015_territory_states
Create Date: 2026-12-02 06:10:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

from app.db.sql import install_snapshot

revision: str = "0016_place_zooms"
down_revision: str | None = "0015_territory_states"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "place_zoom",
        sa.Column("place_id", sa.Integer(), nullable=False),
        sa.Column("min_zoom", sa.SmallInteger(), nullable=False),
        sa.Column(
            "geom_3857",
            Geometry(geometry_type="POINT", srid=3857, nullable=False, spatial_index=False),
            nullable=False,
        ),
        sa.CheckConstraint("min_zoom BETWEEN 0 AND 7", name=op.f("ck_place_zoom_min_zoom")),
        sa.ForeignKeyConstraint(
            ["place_id"], ["place.id"], name=op.f("fk_place_zoom_place_id_place"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("place_id", name=op.f("pk_place_zoom")),
    )
    op.create_index("idx_place_zoom_geom_3857", "place_zoom", ["geom_3857"], postgresql_using="gist")
    install_snapshot("0016_place_zooms")
    op.execute("SELECT refresh_place_zooms(ARRAY(SELECT geom FROM place))")
    op.execute("ANALYZE place_zoom")


def downgrade() -> None:
    install_snapshot("0015_territory_states")
    op.execute("DROP TRIGGER place_zooms_insert ON place")
    op.execute("DROP TRIGGER place_zooms_update ON place")
    op.execute("DROP TRIGGER place_zooms_delete ON place")
    op.execute("DROP FUNCTION place_zooms_changed()")
    op.execute("DROP FUNCTION refresh_place_zooms(geometry[])")
    op.execute("DROP FUNCTION place_zoom_cell(geometry, integer)")
    op.execute("DROP FUNCTION place_prominence(text, integer, integer)")
    op.drop_table("place_zoom")
