"""The data version: a number every committed write moves forward, notified to every process (HTTP caching).

`data_version` holds one row, its `version`; `data_version_change` holds, while a writing transaction runs, the
row that marks it. Statement triggers on every table a read depends on mark the transaction; at commit a deferred
trigger adds one to the version and notifies it (app/db/sql/data_version.sql). app/api/caching.py keys answers
and their ETags by it.

Revision ID: 0008_data_version
Revises: 0007_gazetteer
Create Date: 2026-12-02 00:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

from app.db.sql import install_snapshot

revision: str = "0008_data_version"
down_revision: str | None = "0007_gazetteer"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE data_version (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), "
        "version bigint NOT NULL)"
    )
    op.execute("INSERT INTO data_version (version) VALUES (1)")
    op.execute("CREATE TABLE data_version_change (xact xid8 NOT NULL)")
    install_snapshot("0008_data_version")


def downgrade() -> None:
    install_snapshot("0007_gazetteer")
    # The statement triggers, on whichever tables the snapshot listed.
    op.execute(
        """
        DO $$
        DECLARE
            target regclass;
        BEGIN
            FOR target IN SELECT tgrelid::regclass FROM pg_trigger WHERE tgname = 'data_version' LOOP
                EXECUTE format('DROP TRIGGER data_version ON %s', target);
            END LOOP;
        END
        $$
        """
    )
    op.execute("DROP TRIGGER data_version_bump ON data_version_change")
    op.execute("DROP FUNCTION data_version_bump()")
    op.execute("DROP FUNCTION data_version_touched()")
    op.execute("DROP TABLE data_version_change")
    op.execute("DROP TABLE data_version")
