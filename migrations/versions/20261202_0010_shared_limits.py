"""Rate limits shared by every worker and machine: token buckets in the primary, taken with the key lookup.

Until now each process counted the requests it served (`app/api/limits.py`), so N workers let a key make N times
its rate, and a guesser spread over N workers got N times the wrong keys. Now one function on the primary,
`admit_api_key` (app/db/sql/admit_api_key.sql), looks the key up and takes a token from its bucket in the same
call, so a keyed request costs the one round trip the key lookup cost before, and a read without a key costs
nothing more.

A bucket is a row of `rate_bucket`: the tokens it held at `at`. A token bucket (rather than a window count) lets a
client burst up to a tenth of its minute and then paces it, as the per-process limiter did; the row lock of the
`INSERT ... ON CONFLICT DO UPDATE` orders concurrent takes, so all workers together never take more than the
bucket holds.

The table is UNLOGGED: its writes skip the WAL, so a token costs no WAL record, no flush at commit and nothing to
ship to the replicas (a logged table would write a WAL record per request and replicate it to every standby).
The price: after a crash PostgreSQL empties it, and a standby promoted to primary starts with it empty, so
every bucket is full again once. That forgives at most one burst per key, which is acceptable for a limit
that protects the service rather than bills anyone. fillfactor 50 leaves room on each page for the new version
of a row, so an update stays a HOT update and needs no index change.

Revision ID: 0010_shared_limits
Revises: 0009_place_states
Create Date: 2026-12-02 00:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

from app.db.sql import install_snapshot

revision: str = "0010_shared_limits"
down_revision: str | None = "0009_place_states"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE UNLOGGED TABLE rate_bucket ("
        " bucket text CONSTRAINT pk_rate_bucket PRIMARY KEY,"
        " tokens double precision NOT NULL,"
        " at timestamptz NOT NULL"
        ") WITH (fillfactor = 50)"
    )
    install_snapshot("0010_shared_limits")


def downgrade() -> None:
    install_snapshot("0009_place_states")
    op.execute("DROP FUNCTION admit_api_key(text, bytea, text, text[], double precision, double precision)")
    op.execute("DROP TABLE rate_bucket")
