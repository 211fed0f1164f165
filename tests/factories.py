"""Small builders for rows the tests need beside the article's dataset; all inside the test's transaction."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_counter = itertools.count(1)


async def make_actor(conn: AsyncConnection, slug: str | None = None, name: str | None = None) -> int:
    slug = slug or f"test-actor-{next(_counter)}"
    return int(
        await conn.scalar(
            text("INSERT INTO actor (slug, name, kind) VALUES (:slug, :name, 'armed_group') RETURNING id"),
            {"slug": slug, "name": name or slug.replace("-", " ").title()},
        )
    )


async def make_place(
    conn: AsyncConnection,
    slug: str | None = None,
    *,
    lon: float = 38.0,
    lat: float = 35.0,
    names: tuple[str, ...] = (),
) -> int:
    slug = slug or f"test-place-{next(_counter)}"
    place_id = int(
        await conn.scalar(
            text("""INSERT INTO place (slug, name, kind, geom, country_code)
                VALUES (:slug, :name, 'town', ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 'SY') RETURNING id"""),
            {"slug": slug, "name": slug.replace("-", " ").title(), "lon": lon, "lat": lat},
        )
    )
    for name in (slug.replace("-", " ").title(), *names):
        await conn.execute(
            text("INSERT INTO place_name (place_id, name) VALUES (:p, :n)"), {"p": place_id, "n": name}
        )
    return place_id


async def make_event(
    conn: AsyncConnection,
    place_id: int,
    on: date,
    actor_id: int | None,
    *,
    status: str = "controlled",
    kind: str = "captured",
    precision: str = "day",
    parties: list[int] | None = None,
    seq: int = 0,
    confidence: str = "confirmed",
    sources: list[int] = [],  # noqa: B006 (never mutated)
    external_id: str | None = None,
) -> int:
    """An event, and its links to `sources` (source ids)."""
    event_id = int(
        await conn.scalar(
            text("""INSERT INTO control_event (external_id, place_id, occurred_on, precision, seq, kind, actor_id,
                                           status, party_ids, confidence)
                VALUES (:xid, :place, :on, :precision, :seq, :kind, :actor, :status, :parties, :confidence)
                RETURNING id"""),
            {
                "xid": external_id or f"test-event-{next(_counter)}",
                "confidence": confidence,
                "place": place_id,
                "on": on,
                "precision": precision,
                "seq": seq,
                "kind": kind,
                "actor": actor_id,
                "status": status,
                "parties": parties or [],
            },
        )
    )
    if sources:
        await conn.execute(
            text(
                "INSERT INTO control_event_source (control_event_id, source_id) SELECT :e, unnest(CAST(:s AS integer[]))"
            ),
            {"e": event_id, "s": sources},
        )
    return event_id


async def make_source(conn: AsyncConnection, published_on: date | None = None) -> int:
    slug = f"test-source-{next(_counter)}"
    return int(
        await conn.scalar(
            text("INSERT INTO source (slug, title, published_on) VALUES (:slug, :title, :on) RETURNING id"),
            {"slug": slug, "title": slug, "on": published_on},
        )
    )


async def periods(conn: AsyncConnection, place_id: int) -> list[dict[str, Any]]:
    """The place's derived periods as (actor, status, parties, since, until), in date order."""
    rows = await conn.execute(
        text("""SELECT actor_id, status, party_ids, lower(valid) AS since, upper(valid) AS until,
                       control_event_id
                FROM control_period WHERE place_id = :p ORDER BY lower(valid)"""),
        {"p": place_id},
    )
    return [dict(row._mapping) for row in rows]
