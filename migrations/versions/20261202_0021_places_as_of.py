"""As of a moment, place states are derived for the places as they stood then (place_version).

derive_place_states and derive_place_territories read the live place table even as of a past moment: a map or
tile as of before a correction showed a moved place at its new point, under its new name, and listed places
recorded only later. They now read the place versions in force at `as_of` (point, slug, name, kind), and the
territories covering a place are tested again, not read from place_territory, when a place asked about moved
or was deleted since. The stored place states (as_of NULL) are unchanged.

Revision ID: 0021_places_as_of
Revises: 0020_key_last_used
Create Date: 2026-12-02 14:45:00+00:00
"""

from collections.abc import Sequence

from app.db.sql import install_snapshot

revision: str = "0021_places_as_of"
down_revision: str | None = "0020_key_last_used"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    install_snapshot("0021_places_as_of")


def downgrade() -> None:
    install_snapshot("0020_key_last_used")
