"""Territories and front lines through the API: external ids, recording time, light geometries for maps and tiles.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-25 09:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("territory", "front_line")

# Simplified copies of each territory, kept by PostgreSQL itself (stored generated columns), so maps and tiles at
# low zoom never read the full-detail rings. Tolerances in degrees: ~ one pixel of a 512-px tile at z5 and z8
# (360° / 2^z / 512). app/db/queries/territory.py picks the copy by zoom; keep the two in step.
SIMPLIFIED = {"geom_z5": 0.02, "geom_z8": 0.0025}


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("external_id", sa.String(length=200), nullable=True))
        # Rows from before this revision get a stable id of their own; new rows must bring one.
        op.execute(f"UPDATE {table} SET external_id = '{table}-' || id WHERE external_id IS NULL")
        op.alter_column(table, "external_id", nullable=False)
        op.create_unique_constraint(op.f(f"uq_{table}_external_id"), table, ["external_id"])
        op.add_column(
            table,
            sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        )
        op.create_check_constraint(
            op.f(f"ck_{table}_geom_valid"), table, "ST_IsValid(geom) AND ST_SRID(geom) = 4326"
        )
    for column, tolerance in SIMPLIFIED.items():
        op.execute(
            f"ALTER TABLE territory ADD COLUMN {column} geometry(MULTIPOLYGON, 4326) "
            f"GENERATED ALWAYS AS (ST_Multi(ST_SimplifyPreserveTopology(geom, {tolerance}))) STORED"
        )
    # "Territories at D in a box": one GiST over both, instead of ANDing two bitmaps.
    op.execute("CREATE INDEX ix_territory_geom_valid ON territory USING gist (geom, valid)")
    op.execute("CREATE INDEX ix_front_line_geom_valid ON front_line USING gist (geom, valid)")
    op.execute("CREATE INDEX ix_territory_actor_id ON territory (actor_id)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_territory_actor_id")
    op.execute("DROP INDEX ix_front_line_geom_valid")
    op.execute("DROP INDEX ix_territory_geom_valid")
    for column in SIMPLIFIED:
        op.drop_column("territory", column)
    for table in TABLES:
        op.drop_constraint(op.f(f"ck_{table}_geom_valid"), table, type_="check")
        op.drop_column(table, "recorded_at")
        op.drop_constraint(op.f(f"uq_{table}_external_id"), table, type_="unique")
        op.drop_column(table, "external_id")
