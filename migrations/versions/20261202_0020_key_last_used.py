"""admit_api_key() stamps api_key.last_used_at, at most once a minute a key, without moving the data version.

The column was there since 0002 but nothing wrote it, so an operator could not tell unused keys before revoking
them. The stamp is written by the one call that admits a keyed request; the data version's trigger on api_key now
counts updates of every column but last_used_at (a keyed read would otherwise empty every process's cache).

Revision ID: 0020_key_last_used
Revises: 0019_bulk_recompute
Create Date: 2026-12-02 08:30:00+00:00
"""

from collections.abc import Sequence

from app.db.sql import install_snapshot

revision: str = "0020_key_last_used"
down_revision: str | None = "0019_bulk_recompute"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    install_snapshot("0020_key_last_used")


def downgrade() -> None:
    install_snapshot("0019_bulk_recompute")
