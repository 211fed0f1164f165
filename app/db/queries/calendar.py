"""The data's date span and the dates that have events: what a time slider needs, in one statement."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# The span covers every live event and every drawn area or line (their last day is upper(valid) - 1, since
# ranges are half-open); an unbounded range adds nothing to the span.
CALENDAR = text("""
    WITH days AS (
        SELECT occurred_on AS day, count(*) AS events
        FROM control_event WHERE retracted_at IS NULL
        GROUP BY occurred_on
    ), drawn AS (
        SELECT lower(valid) AS first, upper(valid) - 1 AS last FROM territory
        UNION ALL
        SELECT lower(valid), upper(valid) - 1 FROM front_line
    )
    SELECT json_build_object(
        'first', least((SELECT min(day) FROM days), (SELECT min(first) FROM drawn)),
        'last', greatest((SELECT max(day) FROM days), (SELECT max(last) FROM drawn)),
        'dates', coalesce((SELECT json_agg(json_build_object('date', day, 'events', events) ORDER BY day)
                           FROM days), '[]'::json)
    )::text
""")


async def calendar_json(conn: AsyncConnection) -> str:
    """The calendar as JSON text, built by PostgreSQL."""
    return str(await conn.scalar(CALENDAR))
