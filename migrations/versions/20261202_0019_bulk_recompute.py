"""recompute_control_periods compares periods by NOT EXISTS, deriving them once.

Its two NOT IN subplans were hashed only while the periods of the places a statement touched fit in work_mem;
beyond that each row rescanned them all. One INSERT of 20,000 events at 100,000 places (an import in one
statement, or a source's events re-rated at once) ran past a 15-minute statement timeout; with hash anti joins,
which spill to disk instead, it took 28 s, the place states refreshed included. The periods are derived once
now (they were derived for the DELETE and again for the INSERT), in one statement as refresh_place_states does.

Revision ID: 0019_bulk_recompute
Revises: 0018_place_state_zooms
Create Date: 2026-12-02 09:25:00+00:00
"""

from collections.abc import Sequence

from app.db.sql import install_snapshot

revision: str = "0019_bulk_recompute"
down_revision: str | None = "0018_place_state_zooms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    install_snapshot("0019_bulk_recompute")


def downgrade() -> None:
    install_snapshot("0018_place_state_zooms")
