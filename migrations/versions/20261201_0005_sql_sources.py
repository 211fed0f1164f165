"""SQL sources: install the functions and triggers from their one source each (app/db/sql), as snapshots.

Revisions 0001-0004 wrote them as strings in the migrations, and 0002's were rewritten in place, so a database
made by an earlier 0002 still holds older, slower bodies of derive_control_periods and
recompute_control_periods. This revision installs every function and trigger from the snapshot kept with it
(migrations/sql/0005_sql_sources/, a copy of app/db/sql when it was made), so every database at 0005 holds the
same definitions, whatever made it. Its definitions are those a fresh database at 0004 holds; its downgrade
restores exactly those (migrations/sql/0004/, taken from such a database). See app/db/sql/__init__.py for how
the next revision changes one.

Revision ID: 0005_sql_sources
Revises: 0004
Create Date: 2026-12-01 09:00:00+00:00
"""

from collections.abc import Sequence

from app.db.sql import install_snapshot

revision: str = "0005_sql_sources"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    install_snapshot("0005_sql_sources")


def downgrade() -> None:
    install_snapshot("0004")
