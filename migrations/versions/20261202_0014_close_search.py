"""Place search by index lookups: the close matches of `q` are found without a trigram scan.

`GET /v1/places?q=` answers the spellings close to the query (app/db/queries/places.py): those whose
article-less key starts with the query's, those one letter off it, and those with its consonant skeleton; the
loose trigram matches only when nothing is close. Each close match is one probe of an index added here:
- `ix_place_name_name_key_prefix`: the key under `text_pattern_ops`, so a prefix is a range of the btree;
- `ix_place_name_one_letter_off`: GIN over `territory_one_letter_off(name_norm)` (new function: the name and
  its forms with one character left out);
- `ix_place_name_skeleton`: `territory_name_skeleton(name)`;
and the same three on `place_name_version`, which an as_of search reads instead.
(A GiST trigram index ordered by distance was measured and left out: README "Search on realistic names".)

Revision ID: 0014_close_search
Revises: 0013_drop_places_by_form
Create Date: 2026-12-02 00:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

from app.db.sql import install_snapshot

revision: str = "0014_close_search"
down_revision: str | None = "0013_drop_places_by_form"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# On the spellings and on their versions: an as_of search reads the versions in their place (app/db/queries/as_of.py).
TABLES = ("place_name", "place_name_version")


def upgrade() -> None:
    install_snapshot("0014_close_search")
    for table in TABLES:
        op.execute(f"CREATE INDEX ix_{table}_name_key_prefix ON {table} (name_key text_pattern_ops)")
        op.execute(
            f"CREATE INDEX ix_{table}_one_letter_off ON {table} USING gin (territory_one_letter_off(name_norm))"
        )
        op.execute(f"CREATE INDEX ix_{table}_skeleton ON {table} (territory_name_skeleton(name))")
        # The planner's estimates of the new expressions (the forms one letter off, the skeletons) come from
        # these statistics: without them it takes a probe for thousands of rows.
        op.execute(f"ANALYZE {table}")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP INDEX ix_{table}_skeleton")
        op.execute(f"DROP INDEX ix_{table}_one_letter_off")
        op.execute(f"DROP INDEX ix_{table}_name_key_prefix")
    install_snapshot("0013_drop_places_by_form")
    op.execute("DROP FUNCTION territory_one_letter_off(text)")
