"""Competing claims: rival events of one day are stored and resolved, not refused.

control_period gains the resolved claim's `confidence`, the `rival_event_ids` of its days (other sources'
events giving those days another state) and `disputed`, generated from them, so every read that joins a
period (the map, tiles, changes, a place's state) can say so without deriving anything. The derivation takes a
minimum confidence (the `confidence=` filter derives from the surer events only, at read time), so its
signature changes and the old function is dropped first. Linking or unlinking sources, or correcting a
source's date, recomputes the places where a day has several events (control_event_source_changed). Every place's periods are then recomputed under the
resolution rule (app/db/sql/derive_control_periods.sql): a cost proportional to the events, once.

place_state copies each period's confidence, rival_event_ids and disputed (a map, a tile or a place's state
reads them from there), and its derivation takes the same minimum confidence (`confidence=` answers shadow
place_state too), so derive_place_states is dropped and re-created as well; every place's states are refreshed
after the recompute (a place whose periods did not change would otherwise keep states without them).

Revision ID: 0012_claims
Revises: 0011_history
Create Date: 2026-12-02 00:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.db.sql import install_snapshot

revision: str = "0012_claims"
down_revision: str | None = "0011_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECOMPUTE_ALL = "SELECT recompute_control_periods(ARRAY(SELECT id FROM place ORDER BY id))"
REFRESH_ALL = "SELECT refresh_place_states(ARRAY(SELECT id FROM place ORDER BY id))"


def upgrade() -> None:
    # Run in one transaction with 0011, its backfilled versions get their feed positions from a deferred trigger
    # at commit; this revision reinstalls that trigger, which would drop the pending calls: fire them now.
    op.execute("SET CONSTRAINTS ALL IMMEDIATE")
    op.execute("SET CONSTRAINTS ALL DEFERRED")
    op.add_column(
        "control_period",
        sa.Column("confidence", sa.String(length=10), server_default=sa.text("'confirmed'"), nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_control_period_confidence"), "control_period", "confidence IN ('confirmed', 'reported', 'claimed')"
    )
    op.add_column(
        "control_period",
        sa.Column(
            "rival_event_ids",
            postgresql.ARRAY(sa.Integer()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )
    op.add_column(
        "control_period",
        sa.Column("disputed", sa.Boolean(), sa.Computed("cardinality(rival_event_ids) > 0", persisted=True)),
    )
    # /v1/disputes: the few disputed periods, by place and first day.
    op.execute(
        "CREATE INDEX ix_control_period_disputed ON control_period (place_id, lower(valid)) WHERE disputed"
    )
    op.add_column("place_state", sa.Column("confidence", sa.String(length=10), nullable=True))
    op.add_column(
        "place_state",
        sa.Column(
            "rival_event_ids",
            postgresql.ARRAY(sa.Integer()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )
    op.add_column(
        "place_state", sa.Column("disputed", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    op.execute("DROP FUNCTION derive_place_states(timestamptz, integer[])")
    op.execute("DROP FUNCTION derive_control_periods(timestamptz, integer[])")
    install_snapshot("0012_claims")
    op.execute(RECOMPUTE_ALL)
    op.execute(REFRESH_ALL)


def downgrade() -> None:
    op.execute("DROP TRIGGER source_periods_update ON source")
    op.execute("DROP TRIGGER control_event_source_periods_delete ON control_event_source")
    op.execute("DROP TRIGGER control_event_source_periods_insert ON control_event_source")
    op.execute("DROP FUNCTION control_event_source_changed()")
    op.execute("DROP FUNCTION derive_place_states(timestamptz, integer[], text)")
    op.execute("DROP FUNCTION derive_control_periods(timestamptz, integer[], text)")
    install_snapshot("0011_history")
    op.drop_column("place_state", "disputed")
    op.drop_column("place_state", "rival_event_ids")
    op.drop_column("place_state", "confidence")
    op.drop_index("ix_control_period_disputed", table_name="control_period")
    op.drop_column("control_period", "disputed")
    op.drop_column("control_period", "rival_event_ids")
    op.drop_constraint(op.f("ck_control_period_confidence"), "control_period", type_="check")
    op.drop_column("control_period", "confidence")
    op.execute(RECOMPUTE_ALL)
    # The recompute's writes queue the deferred data version bump (0008): run it now, or a further downgrade
    # in the same transaction cannot drop data_version_change.
    op.execute("SET CONSTRAINTS ALL IMMEDIATE")
