"""Which territory a place shows, kept in place_territory: deriving a place's states no longer tests rings.

Since 0015 every derivation of a place's states split its uncovered stretches by the territories covering its
point, testing each territory's rings (ST_Covers, ~70 µs a territory and place): 2.7 of the 3.8 s that
deriving 1,000 random places took at 100,000 places, paid by every batch of events, and an `as_of` tile of a
dense z8 tile went from 0.7 to 3.1 s. Which territory a place shows on each date depends on the territories and
the place's point alone: place_territory keeps it (app/db/sql/derive_place_territories.sql), refreshed by the
place and territory triggers before they refresh the same places' states; derive_place_states joins it, and
derives it from territory_version only when `as_of` is before a territory write. place_state is unchanged.

Revision ID: 0017_place_territories
Revises: 0016_place_zooms
Create Date: 2026-12-02 06:10:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import DATERANGE

from app.db.sql import install_snapshot

revision: str = "0017_place_territories"
down_revision: str | None = "0016_place_zooms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Whether a territory was written after a moment (derive_place_states) is one probe of this index.
RECORDED_FROM = "ix_territory_version_recorded_from"


def upgrade() -> None:
    op.create_table(
        "place_territory",
        sa.Column("place_id", sa.Integer(), nullable=False),
        sa.Column("valid", DATERANGE(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("NOT isempty(valid)", name=op.f("ck_place_territory_valid_not_empty")),
        sa.ForeignKeyConstraint(
            ["place_id"], ["place.id"], name=op.f("fk_place_territory_place_id_place"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("place_id", "valid", name=op.f("pk_place_territory")),
    )
    op.execute(f"CREATE INDEX {RECORDED_FROM} ON territory_version (lower(recorded))")
    install_snapshot("0017_place_territories")
    # What place_state's pieces were split by (0015), derived once for every place.
    op.execute("INSERT INTO place_territory SELECT * FROM derive_place_territories(NULL, NULL)")
    op.execute("ANALYZE place_territory")


def downgrade() -> None:
    install_snapshot("0016_place_zooms")
    op.execute("DROP FUNCTION refresh_place_territories(integer[])")
    op.execute("DROP FUNCTION derive_place_territories(timestamptz, integer[])")
    op.execute(f"DROP INDEX {RECORDED_FROM}")
    op.drop_table("place_territory")
