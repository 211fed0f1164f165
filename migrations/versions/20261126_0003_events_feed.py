"""Events feed: the indexes of the two orders of GET /v1/events (recording order, and newest first).

Revision ID: 0003_feed
Revises: 0002
Create Date: 2026-11-26 09:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003_feed"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Recording order: each event's latest version (the open one), by writing transaction then id. Ordering by
    # the transaction first is what makes the cursor gap-free (see app/db/queries/events.py, FEED).
    op.execute(
        "CREATE INDEX ix_control_event_version_feed ON control_event_version (recorded_xact, id) "
        "WHERE upper_inf(recorded)"
    )
    # Newest first: a backward scan of (date, id) gives the keyset order without a sort.
    op.create_index("ix_control_event_occurred_on_id", "control_event", ["occurred_on", "id"])


def downgrade() -> None:
    op.drop_index("ix_control_event_occurred_on_id", table_name="control_event")
    op.drop_index("ix_control_event_version_feed", table_name="control_event_version")
