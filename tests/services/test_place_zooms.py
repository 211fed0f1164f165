"""place_zoom, kept by triggers on place, is always the thinning computed from scratch: below z8 a tile shows one
place per cell of a 32 x 32 grid over it, the most prominent (cities, towns, the other kinds, villages; then the
most populous, then the lowest id), whatever writes the places."""

from __future__ import annotations

import math
import random

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.factories import make_place

GRID_BITS = 5  # 32 cells a side
THINNED_BELOW = 8
HALF_WORLD = 20037508.342789244  # metres, web mercator
KIND_RANK = {"city": 0, "town": 1, "village": 3}  # every other kind: 2


def cell(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    """The grid cell of zoom `zoom` holding a point: a tile of quadtree level zoom + 5, computed here from the
    spherical mercator formulas (not from PostGIS)."""
    x = math.radians(lon) * 6378137.0
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * 6378137.0
    n = 2 ** (zoom + GRID_BITS)
    return (
        min(max(math.floor((x + HALF_WORLD) * n / (2 * HALF_WORLD)), 0), n - 1),
        min(max(math.floor((HALF_WORLD - y) * n / (2 * HALF_WORLD)), 0), n - 1),
    )


async def expected(conn: AsyncConnection) -> dict[int, int]:
    """Each place shown below z8 -> the least zoom it is shown at, from every place as it is now."""
    places = (
        await conn.execute(text("SELECT id, ST_X(geom), ST_Y(geom), kind, population FROM place"))
    ).all()
    best: dict[tuple[int, tuple[int, int]], tuple[int, int, int]] = {}
    for place_id, lon, lat, kind, population in places:
        rank = (KIND_RANK.get(kind, 2), -(population if population is not None else -1), place_id)
        for zoom in range(THINNED_BELOW):
            key = (zoom, cell(lon, lat, zoom))
            if key not in best or rank < best[key]:
                best[key] = rank
    shown: dict[int, int] = {}
    for (zoom, _), (*_, place_id) in best.items():
        shown[place_id] = min(zoom, shown.get(place_id, THINNED_BELOW))
    return shown


async def stored(conn: AsyncConnection) -> dict[int, int]:
    rows = await conn.execute(
        text("""SELECT z.place_id, z.min_zoom FROM place_zoom AS z JOIN place AS p ON p.id = z.place_id
                WHERE ST_Equals(z.geom_3857, ST_Transform(p.geom, 3857))""")
    )
    kept = {int(place_id): int(min_zoom) for place_id, min_zoom in rows}
    assert await conn.scalar(text("SELECT count(*) FROM place_zoom")) == len(kept), "a stale point"
    copied = "SELECT count(*) FROM place_state AS s LEFT JOIN place_zoom AS z USING (place_id) WHERE s.min_zoom IS DISTINCT FROM z.min_zoom"
    assert await conn.scalar(text(copied)) == 0, "a state row without its place's least zoom"
    return kept


async def test_place_zooms_follow_random_place_writes(conn: AsyncConnection) -> None:
    rng = random.Random(16)
    assert await stored(conn) == await expected(conn)  # the seed data, as the migration filled it
    places = [await make_place(conn, lon=38 + i / 50, lat=35 + i / 70) for i in range(6)]

    def point() -> dict[str, float]:
        """Around the seed's Palmyra, so that cells at every zoom hold several places."""
        return {"lon": rng.uniform(37.0, 39.5), "lat": rng.uniform(34.0, 35.6)}

    def population() -> int | None:
        return None if rng.random() < 0.3 else rng.choice([rng.randrange(0, 1000), 50_000, 50_000])

    for step in range(60):
        action = rng.choice(
            ["add", "add-many", "move", "weigh", "weigh-many", "rekind", "delete", "move-and-weigh"]
        )
        if action == "add":
            places.append(await make_place(conn, **point()))
        elif action == "add-many":  # one statement, several places
            points = [point() for _ in range(5)]
            lons, lats = [p["lon"] for p in points], [p["lat"] for p in points]
            rows = await conn.execute(
                text("""INSERT INTO place (slug, name, kind, geom, country_code, population)
                        SELECT :prefix || i, 'Many', 'village',
                               ST_SetSRID(ST_MakePoint(lon, lat), 4326), 'SY', :pop
                        FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY
                             AS p(lon, lat, i) RETURNING id"""),
                {"prefix": f"test-many-{step}-", "pop": population(), "lons": lons, "lats": lats},
            )
            places += [r.id for r in rows]
        elif action == "move":
            await conn.execute(
                text("UPDATE place SET geom = ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) WHERE id = :id"),
                point() | {"id": rng.choice(places)},
            )
        elif action == "weigh":
            await conn.execute(
                text("UPDATE place SET population = :pop WHERE id = :id"),
                {"pop": population(), "id": rng.choice(places)},
            )
        elif action == "rekind":
            await conn.execute(
                text("UPDATE place SET kind = :kind WHERE id = :id"),
                {"kind": rng.choice(["city", "town", "village", "airbase"]), "id": rng.choice(places)},
            )
        elif action == "weigh-many":  # seed places too: one statement changing several cells' winners
            await conn.execute(
                text(
                    "UPDATE place SET population = coalesce(population, 0) + 100000 WHERE id IN "
                    "(SELECT id FROM place ORDER BY random() LIMIT 8)"
                )
            )
        elif action == "move-and-weigh":
            await conn.execute(
                text("""UPDATE place SET geom = ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), population = :pop
                        WHERE id = :id"""),
                point() | {"pop": population(), "id": rng.choice(places)},
            )
        elif len(places) > 3:
            gone = places.pop(rng.randrange(len(places)))
            await conn.execute(text("DELETE FROM place_name WHERE place_id = :id"), {"id": gone})
            await conn.execute(text("DELETE FROM place WHERE id = :id"), {"id": gone})
        assert await stored(conn) == await expected(conn), (step, action)
