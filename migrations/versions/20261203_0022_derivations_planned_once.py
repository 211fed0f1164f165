"""The derivations are planned once a session: derive_control_periods, derive_place_territories and
derive_place_states become plpgsql.

As SQL functions with SET clauses they were never inlined, and PostgreSQL 15 planned their bodies again at
every call: an as_of or confidence= read of one place spent ~5 ms planning for ~1 ms of work. A plpgsql
function keeps its plan for the session; plan_cache_mode = force_generic_plan keeps that plan the one the SQL
functions had (made without the arguments' values), so what they return and how they run are unchanged.

Revision ID: 0022_derivations_planned_once
Revises: 0021_places_as_of
Create Date: 2026-12-03 07:00:00+00:00
"""

from collections.abc import Sequence

from app.db.sql import install_snapshot

revision: str = "0022_derivations_planned_once"
down_revision: str | None = "0021_places_as_of"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    install_snapshot("0022_derivations_planned_once")


def downgrade() -> None:
    install_snapshot("0021_places_as_of")
