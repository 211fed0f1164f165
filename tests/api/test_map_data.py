"""What the map page reads beyond the core API: the calendar, inferred areas, places fought over."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.services.borders import country_borders

PALMYRA = "ST_SetSRID(ST_Point(38.2672, 34.56), 4326)"


async def test_calendar_spans_the_data_and_lists_event_dates(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/calendar")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["first"] == "2011-03-15"  # the dataset's start-of-war convention for Syria
    assert body["last"] >= "2017-11-03"  # Deir ez-Zor retaken
    days = [d["date"] for d in body["dates"]]
    assert days == sorted(days) and len(days) == len(set(days))
    by_day = {d["date"]: d["events"] for d in body["dates"]}
    assert by_day["2016-12-11"] >= 1  # Palmyra falls to IS
    assert "2016-12-12" not in by_day or by_day["2016-12-12"] >= 1
    assert all(body["first"] <= day <= body["last"] for day in days)


async def test_calendar_leaves_out_retracted_events(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    listed = (await write_client.get("/v1/events", params={"place": "jarabulus", "limit": 100})).json()
    event = next(e for e in listed["items"] if e["date"] != "2011-03-15")
    before = {d["date"]: d["events"] for d in (await write_client.get("/v1/calendar")).json()["dates"]}
    retracted = await write_client.delete(f"/v1/events/{event['id']}", headers=ingest_headers)
    assert retracted.status_code in (200, 204)
    after = {d["date"]: d["events"] for d in (await write_client.get("/v1/calendar")).json()["dates"]}
    assert after.get(event["date"], 0) == before[event["date"]] - 1


async def _covers(conn: AsyncConnection, geometry: dict[str, object]) -> bool:
    return bool(
        await conn.scalar(
            text(f"SELECT ST_Covers(ST_GeomFromGeoJSON(CAST(:g AS text)), {PALMYRA})"),
            {"g": httpx.Response(200, json=geometry).text},
        )
    )


async def test_inferred_area_around_palmyra_follows_its_holder(
    client: httpx.AsyncClient, conn: AsyncConnection
) -> None:
    for day, holder, other in (
        ("2016-12-10", "syrian-army", "islamic-state"),
        ("2016-12-12", "islamic-state", "syrian-army"),
    ):
        response = await client.get("/v1/inferred", params={"at": day})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/geo+json"
        body = response.json()
        assert body["type"] == "FeatureCollection" and body["at"] == day and body["basis"] == "inferred"
        by_actor = {f["properties"]["actor"]["slug"]: f for f in body["features"] if f["properties"]["actor"]}
        assert all(f["properties"]["basis"] == "inferred" for f in body["features"])
        assert "palmyra" in by_actor[holder]["properties"]["places"]
        assert "palmyra" not in by_actor[other]["properties"]["places"]
        assert await _covers(conn, by_actor[holder]["geometry"])
        assert not await _covers(conn, by_actor[other]["geometry"])


async def test_inferred_areas_are_disjoint_and_bounded_by_reach(
    client: httpx.AsyncClient, conn: AsyncConnection
) -> None:
    body = (await client.get("/v1/inferred", params={"at": "2016-12-12"})).json()
    contested = [f for f in body["features"] if f["properties"]["status"] == "contested"]
    assert contested and contested[0]["properties"]["actor"] is None
    assert {"aleppo", "deir-ez-zor", "mosul"} <= set(contested[0]["properties"]["places"])
    areas = [httpx.Response(200, json=f["geometry"]).text for f in body["features"]]
    overlap, total = (
        await conn.execute(
            text("""
                WITH g AS (SELECT ordinality AS i, ST_GeomFromGeoJSON(v) AS geom
                           FROM unnest(CAST(:areas AS text[])) WITH ORDINALITY AS v)
                SELECT coalesce(sum(ST_Area(ST_Intersection(a.geom, b.geom)::geography)), 0),
                       (SELECT sum(ST_Area(geom::geography)) FROM g)
                FROM g AS a JOIN g AS b ON a.i < b.i AND ST_Intersects(a.geom, b.geom)
            """),
            {"areas": areas},
        )
    ).one()
    assert overlap < 0.001 * total  # Voronoi cells share edges only
    # A place reaches 30 km at most: Raqqa, al-Bab, Palmyra, Tabqa and its airbase (IS that day) cover no more
    # than five discs.
    islamic_state = next(
        f for f in body["features"] if (f["properties"]["actor"] or {}).get("slug") == "islamic-state"
    )
    assert set(islamic_state["properties"]["places"]) == {
        "al-bab",
        "palmyra",
        "raqqa",
        "tabqa",
        "tabqa-airbase",
    }
    assert 0 < islamic_state["properties"]["area_km2"] <= 5 * 3.1416 * 30**2


async def test_contested_and_besieged_places_carry_every_party(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/contested", params={"at": "2016-12-12"})
    assert response.status_code == 200
    places = {p["slug"]: p for p in response.json()["places"]}
    aleppo = places["aleppo"]
    assert aleppo["status"] == "contested" and aleppo["controller"] is None
    assert [p["slug"] for p in aleppo["parties"]] == ["syrian-army", "syrian-rebels"]
    assert all(p["color"].startswith("#") for p in aleppo["parties"])
    airport = places["deir-ez-zor-airport"]
    assert airport["status"] == "besieged" and airport["controller"]["slug"] == "syrian-army"
    assert [p["slug"] for p in airport["parties"]] == ["islamic-state"]
    assert "palmyra" not in places
    later = {p["slug"] for p in (await client.get("/v1/contested?at=2016-12-22")).json()["places"]}
    assert "aleppo" not in later  # the government took the whole city on 22 December 2016


async def test_map_data_refuse_a_bad_date_naming_it(client: httpx.AsyncClient) -> None:
    for path in ("/v1/inferred", "/v1/contested"):
        response = await client.get(path, params={"at": "2016-13-45"})
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"] == "at"


async def test_inferred_area_of_a_border_town_stops_at_the_border(
    client: httpx.AsyncClient, conn: AsyncConnection
) -> None:
    body = (await client.get("/v1/inferred", params={"at": "2016-12-12"})).json()
    rebels = next(
        f for f in body["features"] if (f["properties"]["actor"] or {}).get("slug") == "turkish-backed-rebels"
    )
    assert "jarabulus" in rebels["properties"]["places"]  # on the Euphrates, at the Turkish border
    in_turkey, in_syria = (
        await conn.execute(
            text("""
                WITH turkey AS (
                    SELECT ST_SetSRID(ST_GeomFromGeoJSON(f.value ->> 'geometry'), 4326) AS geom
                    FROM json_array_elements(CAST(:borders AS json) -> 'features') AS f
                    WHERE f.value -> 'properties' ->> 'code' = :code
                ), area AS (SELECT ST_GeomFromGeoJSON(CAST(:area AS text)) AS geom)
                SELECT ST_Area(ST_Intersection(area.geom, turkey.geom)::geography),
                       ST_Area(area.geom::geography)
                FROM area, turkey
            """),
            {
                "borders": country_borders(),
                "code": "TR",
                "area": httpx.Response(200, json=rebels["geometry"]).text,
            },
        )
    ).one()
    assert in_syria > 0 and in_turkey < 0.001 * in_syria
