"""The gazetteer: name forms for lookups (the article, airport and base designations), places awaiting review,
and where an imported event came from.

- `place_name.name_key` (the name without the Arabic article: `territory_name_key`) and `name_base` (for the
  name of an airport or base, the name it is named after: `territory_facility_base`), stored and indexed, so a
  lookup that names nothing exactly can try them with an index probe (app/db/queries/references.py).
- `place.review`: why a place created by the gazetteer (an event naming a place by name and coordinates that
  matched no known place) awaits review; NULL when it does not.
- `control_event_origin`: the import an event came from (`acled`) and the source's own modification time, so a
  newer export updates it and an older one does not undo that (app/services/imports.py).

Revision ID: 0007_gazetteer
Revises: 0006_feed_positions
Create Date: 2026-12-02 00:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db.sql import install_snapshot

revision: str = "0007_gazetteer"
down_revision: str | None = "0006_feed_positions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    install_snapshot("0007_gazetteer")  # the functions the generated columns call
    op.execute(
        "ALTER TABLE place_name ADD COLUMN name_key text GENERATED ALWAYS AS (territory_name_key(name)) STORED"
    )
    op.execute(
        "ALTER TABLE place_name ADD COLUMN name_base text "
        "GENERATED ALWAYS AS (territory_facility_base(name)) STORED"
    )
    op.create_index("ix_place_name_name_key", "place_name", ["name_key"])
    op.execute("CREATE INDEX ix_place_name_name_base ON place_name (name_base) WHERE name_base IS NOT NULL")
    op.add_column("place", sa.Column("review", sa.Text(), nullable=True))
    op.execute("CREATE INDEX ix_place_review ON place (id) WHERE review IS NOT NULL")
    op.create_index("ix_place_parent_id", "place", ["parent_id"])
    op.create_table(
        "control_event_origin",
        sa.Column(
            "control_event_id",
            sa.Integer(),
            sa.ForeignKey(
                "control_event.id",
                ondelete="CASCADE",
                name="fk_control_event_origin_control_event_id_control_event",
            ),
            nullable=False,
        ),
        sa.Column("origin", sa.String(40), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("control_event_id", name="pk_control_event_origin"),
    )
    op.create_index("ix_control_event_origin_origin", "control_event_origin", ["origin"])


def downgrade() -> None:
    op.drop_table("control_event_origin")
    op.drop_index("ix_place_parent_id", table_name="place")
    op.drop_index("ix_place_review", table_name="place")
    op.drop_column("place", "review")
    op.drop_column("place_name", "name_base")  # and its index
    op.drop_column("place_name", "name_key")
    install_snapshot("0006_feed_positions")
    op.execute("DROP FUNCTION territory_places_by_form(text)")
    op.execute("DROP FUNCTION territory_name_skeleton(text)")
    op.execute("DROP FUNCTION territory_facility_base(text)")
    op.execute("DROP FUNCTION territory_name_key(text)")
