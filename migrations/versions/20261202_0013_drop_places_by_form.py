"""Drop territory_places_by_form: the place lookup writes its name forms out over place_name instead.

The plpgsql function (0007) read the live spellings, so inside an `as_of` read a spelling added later found
the place as of a moment before it was recorded. app/db/queries/references.py now writes the same forms out in
its one statement, where the as_of shadows of place_name apply, and nothing calls the function any more.

Revision ID: 0013_drop_places_by_form
Revises: 0012_claims
Create Date: 2026-12-02 02:30:00+00:00
"""

from collections.abc import Sequence

from alembic import op

from app.db.sql import install_snapshot

revision: str = "0013_drop_places_by_form"
down_revision: str | None = "0012_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DROP FUNCTION territory_places_by_form(text)")
    install_snapshot("0013_drop_places_by_form")


def downgrade() -> None:
    install_snapshot("0012_claims")
