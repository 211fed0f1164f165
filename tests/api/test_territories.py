"""Territories and front lines as GeoJSON of a date, an actor's gains and losses, the summary's areas, and control
answered from a territory where no event covers a place."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.factories import make_actor, make_place

PALMYRA = (38.2672, 34.56)


def by_external_id(collection: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["properties"]["external_id"]: f for f in collection["features"]}


def points(geometry: dict[str, Any]) -> list[list[float]]:
    coords = geometry["coordinates"]
    if geometry["type"] == "Polygon":
        return [p for ring in coords for p in ring]
    if geometry["type"] == "MultiPolygon":
        return [p for polygon in coords for ring in polygon for p in ring]
    if geometry["type"] == "LineString":
        return coords  # type: ignore[no-any-return]
    return [p for line in coords for p in line]


async def add_territory(conn: AsyncConnection, actor_id: int, wkt: str, valid: str, xid: str) -> int:
    return int(
        await conn.scalar(
            text("""INSERT INTO territory (external_id, actor_id, geom, valid)
                    VALUES (:xid, :actor, ST_Multi(ST_GeomFromText(:wkt, 4326)), CAST(CAST(:valid AS text) AS daterange))
                    RETURNING id"""),
            {"xid": xid, "actor": actor_id, "wkt": wkt, "valid": valid},
        )
    )


async def test_town_no_event_covers_is_answered_from_the_territory_around_it(
    client: httpx.AsyncClient, conn: AsyncConnection
) -> None:
    # Between Palmyra and T4: inside the government's area until 11 Dec 2016, then inside IS's.
    await make_place(conn, "test-jazal", lon=38.0, lat=34.6)

    after = (await client.get("/v1/places/test-jazal/control", params={"at": "2016-12-20"})).json()
    assert after["basis"] == "territory"
    assert after["status"] == "controlled"
    assert after["controller"]["slug"] == "islamic-state"
    assert (after["since"], after["until"]) == ("2016-12-11", "2017-03-02")
    assert after["event"] is None
    assert after["territory"]["external_id"] == "is-palmyra-to-t4-2016-12-11"
    assert after["territory"]["source"]["slug"] == "wp-palmyra-offensive-2016-12"
    assert after["certainty"] == "possible"  # the area is approximate

    before = (await client.get("/v1/places/test-jazal/control", params={"at": "2016-12-10"})).json()
    assert (before["basis"], before["controller"]["slug"]) == ("territory", "syrian-army")
    assert before["coalitions"][0]["slug"] == "pro-assad-coalition"

    unknown = (await client.get("/v1/places/test-jazal/control", params={"at": "2015-01-01"})).json()
    assert (unknown["basis"], unknown["status"], unknown["controller"]) == (None, "unknown", None)

    control_map = (
        await client.get("/v1/control", params={"at": "2016-12-20", "bbox": "37.9,34.5,38.1,34.7"})
    ).json()
    [feature] = [f for f in control_map["features"] if f["properties"]["slug"] == "test-jazal"]
    assert feature["properties"]["basis"] == "territory"
    assert feature["properties"]["controller"]["slug"] == "islamic-state"


async def test_an_event_period_wins_over_a_territory(client: httpx.AsyncClient) -> None:
    # Palmyra lies inside IS's area on 2016-12-20, but its own period (an event) is what answers.
    body = (await client.get("/v1/places/palmyra/control", params={"at": "2016-12-20"})).json()
    assert body["basis"] == "event"
    assert body["territory"] is None
    assert body["event"]["external_id"] == "palmyra-2016-12-11-is"


async def test_palmyra_area_across_11_december_2016_is_a_gain_for_is(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/v1/territories/diff", params={"actor": "islamic-state", "from": "2016-12-01", "to": "2016-12-20"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    assert body["actor"]["slug"] == "islamic-state"
    [gain] = body["features"]
    assert gain["properties"]["change"] == "gained"
    # From the T4 side of Palmyra (37.72°E) to east of the town: a few thousand km².
    assert 2_000 < gain["properties"]["area_km2"] < 4_000
    xs = [p[0] for p in points(gain["geometry"])]
    ys = [p[1] for p in points(gain["geometry"])]
    assert min(xs) <= PALMYRA[0] <= max(xs) and min(ys) <= PALMYRA[1] <= max(ys)
    assert min(xs) == 37.72
    assert body["totals"]["lost_km2"] == 0
    assert body["totals"]["gained_km2"] == gain["properties"]["area_km2"]
    assert body["totals"]["held_after_km2"] > body["totals"]["held_before_km2"]

    back = (
        await client.get(
            "/v1/territories/diff",
            params={"actor": "islamic-state", "from": "2016-12-20", "to": "2017-03-10"},
        )
    ).json()
    changes = {f["properties"]["change"]: f["properties"]["area_km2"] for f in back["features"]}
    # Palmyra lost on 2 Mar 2017 outweighs the Deir ez-Zor wedge gained on 16 Jan 2017.
    assert changes["lost"] > 2_000 > changes["gained"]


async def test_deir_ez_zor_enclave_split_gains_is_the_wedge(client: httpx.AsyncClient) -> None:
    body = (
        await client.get(
            "/v1/territories/diff",
            params={"actor": "islamic-state", "from": "2017-01-15", "to": "2017-01-16"},
        )
    ).json()
    [gain] = body["features"]
    assert gain["properties"]["change"] == "gained"
    assert 5 < gain["properties"]["area_km2"] < 40  # the corridor between the two pockets, not the province


async def test_diff_needs_a_known_actor(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/territories/diff", params={"from": "2016-12-01", "to": "2016-12-20"})
    assert missing.status_code == 400
    assert missing.headers["content-type"] == "application/problem+json"
    unknown = await client.get(
        "/v1/territories/diff", params={"actor": "islamic-stat", "from": "2016-12-01", "to": "2016-12-20"}
    )
    assert unknown.status_code == 404
    assert unknown.json()["suggestions"][0]["slug"] == "islamic-state"


async def test_territories_on_a_date_with_actor_coalition_and_properties(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/territories", params={"at": "2016-12-20"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    assert response.headers["etag"]
    features = by_external_id(response.json())
    assert "is-palmyra-to-t4-2016-12-11" in features
    assert "is-east-of-palmyra-2016-03-27" not in features  # ended on 11 Dec 2016 (half-open)
    t4 = features["sy-t4-2016-12-11"]["properties"]
    assert t4["actor"] == {"slug": "syrian-army", "name": "Syrian Arab Army", "color": "#d62728"}
    assert [c["slug"] for c in t4["coalitions"]] == ["pro-assad-coalition"]
    assert (t4["valid_from"], t4["valid_to"], t4["approximate"]) == ("2016-12-11", "2017-03-02", True)
    assert t4["source"]["slug"] == "wp-tiyas-airbase"
    assert features["sy-t4-2016-12-11"]["geometry"]["type"] == "MultiPolygon"

    held = by_external_id(
        (await client.get("/v1/territories", params={"at": "2016-12-20", "actor": "islamic-state"})).json()
    )
    assert {f["properties"]["actor"]["slug"] for f in held.values()} == {"islamic-state"}
    shield = by_external_id(
        (
            await client.get("/v1/territories", params={"at": "2016-12-20", "coalition": "euphrates-shield"})
        ).json()
    )
    assert set(shield) == {"tfsa-north-aleppo-2016-10-16"}


async def test_bbox_clips_the_areas(client: httpx.AsyncClient) -> None:
    box = (38.0, 34.5, 38.5, 34.65)
    body = (
        await client.get("/v1/territories", params={"at": "2016-12-20", "bbox": ",".join(map(str, box))})
    ).json()
    features = by_external_id(body)
    assert set(features) == {"is-palmyra-to-t4-2016-12-11"}
    for x, y in points(features["is-palmyra-to-t4-2016-12-11"]["geometry"]):
        assert box[0] - 1e-9 <= x <= box[2] + 1e-9 and box[1] - 1e-9 <= y <= box[3] + 1e-9


async def test_area_of_a_one_degree_square_at_the_equator(
    client: httpx.AsyncClient, conn: AsyncConnection
) -> None:
    actor = await make_actor(conn)
    await add_territory(
        conn, actor, "POLYGON((10 0, 11 0, 11 1, 10 1, 10 0))", "[2016-01-01,2017-01-01)", "sq"
    )
    body = (await client.get("/v1/territories", params={"at": "2016-06-01", "bbox": "9,-1,12,2"})).json()
    [square] = body["features"]
    # On the WGS84 ellipsoid: 111.32 km of longitude × 110.57 km of latitude.
    assert 12_250 < square["properties"]["area_km2"] < 12_360


async def test_simplify_and_zoom_reduce_the_vertex_count(
    client: httpx.AsyncClient, conn: AsyncConnection
) -> None:
    actor = await make_actor(conn, "test-detailed")
    await conn.execute(
        text("""INSERT INTO territory (external_id, actor_id, geom, valid)
                VALUES ('detailed', :actor, ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(20, 20), 4326), 0.5, 512)),
                        '[2016-01-01,2017-01-01)')"""),
        {"actor": actor},
    )

    async def vertices(**params: Any) -> int:
        body = (
            await client.get(
                "/v1/territories", params={"at": "2016-06-01", "actor": "test-detailed", **params}
            )
        ).json()
        [feature] = body["features"]
        return len(points(feature["geometry"]))

    full, light, zoomed_out, zoomed_in = (
        await vertices(),
        await vertices(simplify=0.05),
        await vertices(zoom=4),
        await vertices(zoom=12),
    )
    assert full == 2049  # 4 × 512 segments + the closing vertex
    assert light < full / 10
    assert zoomed_out < full / 10
    assert light < zoomed_in <= full
    bad = await client.get("/v1/territories", params={"at": "2016-06-01", "simplify": "2"})
    assert bad.status_code == 400


async def test_front_lines_on_a_date(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/frontlines", params={"at": "2017-02-15"})
    assert response.status_code == 200
    lines = by_external_id(response.json())
    assert {"front-al-bab-2016-10-16", "front-al-bab-south-2017-02-11", "front-t4-2016-12-11"} <= set(lines)
    al_bab = lines["front-al-bab-2016-10-16"]["properties"]
    assert (al_bab["side_a"]["slug"], al_bab["side_b"]["slug"]) == ("turkish-backed-rebels", "islamic-state")
    assert 50 < al_bab["length_km"] < 100
    assert lines["front-al-bab-2016-10-16"]["geometry"]["type"] == "MultiLineString"
    after = by_external_id((await client.get("/v1/frontlines", params={"at": "2017-02-23"})).json())
    assert "front-al-bab-2016-10-16" not in after  # al-Bab fell that day
    boxed = by_external_id(
        (await client.get("/v1/frontlines", params={"at": "2017-02-15", "bbox": "43,36,44,37"})).json()
    )
    assert set(boxed) == {"front-tigris-mosul-2017-01-24"}


async def test_summary_gives_the_area_held(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/summary", params={"at": "2016-12-20"})).json()
    actors = {a["slug"]: a for a in body["actors"]}
    # Palmyra-to-T4, Deir ez-Zor, Raqqa, al-Bab and Mosul areas: ~24,000 km² as drawn.
    assert 20_000 < actors["islamic-state"]["area_km2"] < 28_000
    coalitions = {c["slug"]: c for c in body["coalitions"]}
    assert coalitions["euphrates-shield"]["area_km2"] == actors["turkish-backed-rebels"]["area_km2"]
    assert coalitions["pro-assad-coalition"]["area_km2"] > 1_000
