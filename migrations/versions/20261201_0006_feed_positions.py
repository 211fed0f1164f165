"""Feed positions in commit order, so that only Territory's own writers can hold the feed back.

Until now a position was a version's id, and the feed handed out only versions older than every transaction
still running (`recorded_xact < pg_snapshot_xmin(pg_current_snapshot())`). That xmin is the whole server's: a
transaction open in any database of the cluster, Territory's or not, froze /v1/events?since= and the stream.

Now each version gets a `position` when its transaction commits, from a sequence, under a transaction-scoped
advisory lock taken by a deferred constraint trigger (app/db/sql/assign_feed_positions.sql). The lock is held
until the commit is visible, so positions become visible in their order: a reader that sees position p sees
every smaller one, and a cursor (the last position seen) never skips or repeats a change. What waits is only
another writer of events of this database, for the length of a commit; a transaction elsewhere holds nothing.
The cost: writers of events commit one after the other (their statements still run side by side), and each
version is updated once more, at commit.

Versions recorded before keep their id as their position (what clients hold as a position still names the
same version); the sequence continues after the largest.

Revision ID: 0006_feed_positions
Revises: 0005_sql_sources
Create Date: 2026-12-01 22:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db.sql import install_snapshot

revision: str = "0006_feed_positions"
down_revision: str | None = "0005_sql_sources"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("control_event_version", sa.Column("position", sa.BigInteger(), nullable=True))
    op.execute("UPDATE control_event_version SET position = id")
    op.execute("CREATE SEQUENCE control_event_version_position_seq AS bigint OWNED BY control_event_version.position")
    op.execute(
        "SELECT setval('control_event_version_position_seq', coalesce(max(position), 0) + 1, false) "
        "FROM control_event_version"
    )
    op.create_unique_constraint("uq_control_event_version_position", "control_event_version", ["position"])
    # The feed: each event's open version, by position.
    op.execute(
        "CREATE INDEX ix_control_event_version_feed_position ON control_event_version (position) "
        "WHERE upper_inf(recorded)"
    )
    # The versions a committing transaction numbers (no others are ever unnumbered for long).
    op.execute(
        "CREATE INDEX ix_control_event_version_unpositioned ON control_event_version (id) WHERE position IS NULL"
    )
    op.drop_index("ix_control_event_version_feed", table_name="control_event_version")
    install_snapshot("0006_feed_positions")


def downgrade() -> None:
    install_snapshot("0005_sql_sources")
    op.execute("DROP TRIGGER assign_feed_positions ON control_event_version")
    op.execute("DROP FUNCTION assign_feed_positions()")
    op.execute(
        "CREATE INDEX ix_control_event_version_feed ON control_event_version (recorded_xact, id) "
        "WHERE upper_inf(recorded)"
    )
    op.drop_index("ix_control_event_version_unpositioned", table_name="control_event_version")
    op.drop_index("ix_control_event_version_feed_position", table_name="control_event_version")
    op.drop_constraint("uq_control_event_version_position", "control_event_version", type_="unique")
    op.drop_column("control_event_version", "position")  # and its sequence, which it owns
