"""The OGC API surface through the ASGI app: documents, datetime as validity, CQL2 filters and their errors,
paging, formats and caching."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
from openapi_spec_validator import validate

GEOJSON = "application/geo+json"
ITEMS = "/ogc/collections/{}/items"


async def items(client: httpx.AsyncClient, collection: str, **params: Any) -> dict[str, Any]:
    response = await client.get(ITEMS.format(collection), params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == GEOJSON
    body: dict[str, Any] = response.json()
    assert body["numberReturned"] == len(body["features"])
    return body


def slugs(body: dict[str, Any], key: str = "slug") -> set[str]:
    return {f["properties"][key] for f in body["features"]}


async def problem(client: httpx.AsyncClient, url: str, status: int = 400, **params: Any) -> dict[str, Any]:
    response = await client.get(url, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


async def test_landing_page_links_typed_for_ogc_clients(client: httpx.AsyncClient) -> None:
    for path in ("/ogc", "/ogc/"):
        response = await client.get(path)
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    links = {link["rel"]: link for link in response.json()["links"]}
    assert links["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert links["service-desc"]["href"] == "http://territory.test/ogc/api"
    assert links["conformance"]["type"] == links["data"]["type"] == "application/json"
    assert {"self", "service-doc"} <= set(links)
    conformance = (await client.get("/ogc/conformance")).json()["conformsTo"]
    # QGIS sends CQL2 only when all four are there.
    for name in (
        "ogcapi-features-3/1.0/conf/filter",
        "ogcapi-features-3/1.0/conf/features-filter",
        "cql2/1.0/conf/basic-cql2",
        "cql2/1.0/conf/cql2-text",
    ):
        assert f"http://www.opengis.net/spec/{name}" in conformance


async def test_api_definition_declares_limit_where_gdal_and_qgis_read_it(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/ogc/api", headers={"Accept": "application/vnd.oai.openapi+json;version=3.0"}
    )
    assert response.headers["content-type"] == "application/vnd.oai.openapi+json;version=3.0"
    document = response.json()
    validate(document)  # valid OpenAPI 3.0, as ogctests and GDAL read it
    assert document["openapi"].startswith("3.0") and document["servers"] == [
        {"url": "http://territory.test/ogc"}
    ]
    # GDAL: paths relative to the landing page, `limit` through a $ref, schema/maximum and schema/default.
    parameters = document["paths"]["/collections/places/items"]["get"]["parameters"]
    assert {"$ref": "#/components/parameters/limit"} in parameters
    limit = document["components"]["parameters"]["limit"]
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 10_000, "default": 100}
    names = {p.get("name") for p in parameters}
    assert {"status", "controller_slug", "since"} <= names  # the queryables, as Part 1 property filters
    # FastAPI's own document says the same for the items operation.
    fastapi = (await client.get("/openapi.json")).json()
    [limit_v] = [
        p
        for p in fastapi["paths"]["/ogc/collections/{collection_id}/items"]["get"]["parameters"]
        if p["name"] == "limit"
    ]
    assert limit_v["schema"]["maximum"] == 10_000 and limit_v["schema"]["default"] == 100


async def test_collections_extents_come_from_the_data(client: httpx.AsyncClient) -> None:
    body = (await client.get("/ogc/collections")).json()
    by_id = {c["id"]: c for c in body["collections"]}
    assert list(by_id) == ["places", "control-periods", "territories", "front-lines", "events"]
    for collection in by_id.values():
        assert collection["itemType"] == "feature"
        assert collection["crs"][0] == "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
        links = {link["rel"]: link for link in collection["links"]}
        assert links["items"]["type"] == GEOJSON
        assert links["http://www.opengis.net/def/rel/ogc/1.0/queryables"]["type"] == "application/schema+json"
        single = (await client.get(f"/ogc/collections/{collection['id']}")).json()
        assert single["extent"] == collection["extent"]
    west, south, east, north = by_id["places"]["extent"]["spatial"]["bbox"][0]
    assert 36 < west < east < 45 and 33 < south < north < 37  # Syria and Iraq
    [[start, end]] = by_id["events"]["extent"]["temporal"]["interval"]
    assert start == "2011-03-15T00:00:00Z" and end.startswith("2017")
    assert by_id["places"]["extent"]["temporal"]["interval"][0][1] is None  # known up to today


async def test_queryables_are_json_schema_with_a_geometry_ref(client: httpx.AsyncClient) -> None:
    response = await client.get("/ogc/collections/territories/queryables")
    assert response.headers["content-type"] == "application/schema+json"
    properties = response.json()["properties"]
    assert properties["geometry"]["$ref"] == "https://geojson.org/schema/MultiPolygon.json"
    assert properties["valid_from"] == {
        "title": "valid_from",
        "type": "string",
        "format": "date",
        "description": "First day (inclusive)",
    }
    assert properties["approximate"]["type"] == "boolean" and properties["area_km2"]["type"] == "number"


async def test_places_on_a_date_are_the_facts_of_v1_control(client: httpx.AsyncClient) -> None:
    ogc = await items(client, "places", datetime="2016-12-20")
    v1 = (await client.get("/v1/control", params={"at": "2016-12-20"})).json()
    assert ogc["numberMatched"] == len(v1["features"]) == len(ogc["features"])
    expected = {
        f["id"]: (
            f["properties"]["status"],
            (f["properties"]["controller"] or {}).get("slug"),
            ",".join(sorted(c["slug"] for c in f["properties"]["coalitions"])) or None,
            f["properties"]["since"],
            f["properties"]["basis"],
        )
        for f in v1["features"]
    }
    got = {
        f["id"]: tuple(
            f["properties"][k] for k in ("status", "controller_slug", "coalitions", "since", "basis")
        )
        for f in ogc["features"]
    }
    assert got == expected
    for feature in ogc["features"]:  # flat scalars only: a GIS table can hold them
        assert all(not isinstance(v, dict | list) for v in feature["properties"].values())


@pytest.mark.parametrize("moment", ["2016-12-20", "2016-12-20T00:00:00Z", "2016-12-20T18:30:00.000Z"])
async def test_datetime_instant_selects_what_was_valid_then(client: httpx.AsyncClient, moment: str) -> None:
    places = await items(client, "places", datetime=moment)
    palmyra = next(f for f in places["features"] if f["properties"]["slug"] == "palmyra")
    assert palmyra["properties"]["controller_slug"] == "islamic-state"
    periods = await items(client, "control-periods", datetime=moment, place_slug="palmyra")
    assert [f["properties"]["valid_from"] for f in periods["features"]] == ["2016-12-11"]


async def test_datetime_intervals_select_what_overlaps(client: httpx.AsyncClient) -> None:
    def palmyra(body: dict[str, Any]) -> list[str]:
        return sorted(f["properties"]["valid_from"] for f in body["features"])

    year = await items(client, "control-periods", datetime="2016-01-01/2016-12-31", place_slug="palmyra")
    assert palmyra(year) == ["2015-05-21", "2016-03-27", "2016-12-11"]
    # Open ends: `..` and QGIS's placeholders mean the same.
    for since in ("2016-12-11/..", "2016-12-11T00:00:00Z/9999-12-31T00:00:00Z"):
        later = await items(client, "control-periods", datetime=since, place_slug="palmyra")
        assert palmyra(later)[0] == "2016-12-11"
    for until in ("../2015-06-01", "0000-01-01T00:00:00Z/2015-06-01T00:00:00Z"):
        earlier = await items(client, "control-periods", datetime=until, place_slug="palmyra")
        assert palmyra(earlier)[-1] == "2015-05-21"
    events = await items(client, "events", datetime="2016-12-11")
    assert {f["properties"]["occurred_on"] for f in events["features"]} == {"2016-12-11"}


async def test_datetime_problems_name_the_parameter(client: httpx.AsyncClient) -> None:
    body = await problem(client, ITEMS.format("places"), datetime="2016-01-01/2016-12-31")
    assert body["errors"][0]["field"] == "datetime" and "one date" in body["detail"]
    body = await problem(client, ITEMS.format("events"), datetime="last tuesday")
    assert body["errors"][0]["field"] == "datetime"
    body = await problem(client, ITEMS.format("events"), datetime="2017-01-01/2016-01-01")
    assert "after it ends" in body["detail"]


CQL2_CASES = [
    ("places", "status = 'controlled' AND controller_slug = 'islamic-state'", {"palmyra"}, set()),
    (
        "places",
        "controller_slug IN ('islamic-state') AND NOT (kind <> 'city')",
        {"palmyra"},
        {"tiyas-airbase"},
    ),
    ("places", "name LIKE 'Pal%' OR slug = 'aleppo'", {"palmyra", "aleppo"}, {"tiyas-airbase"}),
    ("places", "CASEI(name) = casei('PALMYRA')", {"palmyra"}, {"aleppo"}),
    (
        "places",
        "since BETWEEN DATE('2016-12-01') AND DATE('2016-12-31')",
        {"palmyra", "aleppo"},
        {"tiyas-airbase"},
    ),
    ("places", "since >= '2016-12-01' AND until IS NULL", {"aleppo"}, {"palmyra"}),
    ("places", "S_INTERSECTS(geometry, BBOX(38, 34, 39, 35))", {"palmyra"}, {"aleppo", "tiyas-airbase"}),
    (
        "places",
        "S_INTERSECTS(geometry, POLYGON((38 34, 39 34, 39 35, 38 35, 38 34)))",
        {"palmyra"},
        {"tiyas-airbase"},
    ),
    (
        "places",
        "T_INTERSECTS(INTERVAL(since, until), INTERVAL('2016-12-15', '2016-12-16'))",
        {"palmyra"},
        set(),
    ),
    ("places", "event_id > 3 AND event_id < 5", {"palmyra"}, {"tiyas-airbase"}),
]


@pytest.mark.parametrize(("collection", "cql", "present", "absent"), CQL2_CASES)
async def test_cql2_text_filters(
    client: httpx.AsyncClient, collection: str, cql: str, present: set[str], absent: set[str]
) -> None:
    body = await items(client, collection, datetime="2016-12-22", filter=cql, limit=1000)
    found = slugs(body)
    assert present <= found and not (absent & found), found


async def test_t_intersects_on_periods_and_events(client: httpx.AsyncClient) -> None:
    periods = await items(
        client,
        "control-periods",
        filter="place_slug = 'palmyra' AND T_INTERSECTS(INTERVAL(valid_from, valid_to), DATE('2016-03-27'))",
    )
    # Half-open: on the day the army retook Palmyra, only the new period is in force.
    assert [f["properties"]["valid_from"] for f in periods["features"]] == ["2016-03-27"]
    events = await items(
        client, "events", filter="T_INTERSECTS(occurred_on, INTERVAL('2016-12-01', '2016-12-31'))"
    )
    assert events["features"] and all(
        "2016-12-01" <= f["properties"]["occurred_on"] <= "2016-12-31" for f in events["features"]
    )


async def test_cql2_json_filters(client: httpx.AsyncClient) -> None:
    cql = '{"op": "=", "args": [{"property": "actor_slug"}, "islamic-state"]}'
    body = await items(client, "territories", filter=cql, **{"filter-lang": "cql2-json"})
    assert body["features"] and slugs(body, "actor_slug") == {"islamic-state"}


@pytest.mark.parametrize(
    ("cql", "says"),
    [
        ("colour = 'red'", "unknown property 'colour'"),
        ("status =", "is not valid cql2-text"),
        ("status > 3", "is not a string value"),
        ("since = 'soon'", "'soon' is not a date"),
        ("S_INTERSECTS(name, BBOX(1, 2, 3, 4))", "spatial functions apply to the property 'geometry'"),
        ("S_CROSSES(geometry, POINT(38 34))", "'s_crosses' is not supported"),
        ("name LIKE 3", "is not a string value"),
    ],
)
async def test_bad_filters_are_400_problems_naming_them(
    client: httpx.AsyncClient, cql: str, says: str
) -> None:
    body = await problem(client, ITEMS.format("places"), filter=cql)
    assert body["errors"][0]["field"] == "filter"
    assert says in body["detail"], body["detail"]


async def test_property_filters_and_unknown_parameters(client: httpx.AsyncClient) -> None:
    body = await items(client, "places", datetime="2016-12-20", controller_slug="islamic-state", kind="city")
    assert "palmyra" in slugs(body) and {f["properties"]["kind"] for f in body["features"]} == {"city"}
    problem_body = await problem(client, ITEMS.format("places"), colour="red")
    assert problem_body["errors"][0]["field"] == "colour"
    problem_body = await problem(client, ITEMS.format("places"), event_id="four")
    assert problem_body["errors"][0]["field"] == "event_id"
    problem_body = await problem(client, ITEMS.format("places"), limit="10001")
    assert problem_body["errors"][0]["field"] == "limit"
    await problem(client, ITEMS.format("places"), crs="http://www.opengis.net/def/crs/EPSG/0/3857")
    await problem(client, "/ogc/collections/nowhere/items", 404)


async def test_pages_follow_next_links_to_the_end(client: httpx.AsyncClient) -> None:
    first = await items(client, "events", limit=10)
    total, seen = first["numberMatched"], [f["id"] for f in first["features"]]
    page = first
    while next_link := next((link for link in page["links"] if link["rel"] == "next"), None):
        assert next_link["type"] == GEOJSON
        response = await client.get(next_link["href"])
        page = response.json()
        assert "numberMatched" not in page  # counted on the first page only
        seen += [f["id"] for f in page["features"]]
    assert len(seen) == len(set(seen)) == total and seen == sorted(seen)
    link_header = (await client.get(ITEMS.format("events"))).headers["link"]
    assert '; rel="self"; type="application/geo+json"' in link_header
    assert (
        '/ogc/collections/events/queryables>; rel="http://www.opengis.net/def/rel/ogc/1.0/queryables"'
        in link_header
    )


async def test_one_feature_and_a_missing_one(client: httpx.AsyncClient) -> None:
    response = await client.get("/ogc/collections/places/items/1", params={"datetime": "2016-12-20"})
    assert response.status_code == 200 and response.headers["content-type"] == GEOJSON
    assert response.headers["content-crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    feature = response.json()
    assert feature["id"] == 1 and feature["properties"]["controller_slug"] == "islamic-state"
    assert {link["rel"] for link in feature["links"]} == {"self", "collection"}
    await problem(client, "/ogc/collections/places/items/999999", 404)
    await problem(client, "/ogc/collections/places/items/abc", 404)


async def test_formats_not_offered_are_406_listing_them(client: httpx.AsyncClient) -> None:
    # Items offer GeoJSON and the exports (tests/api/test_exports.py), nothing else.
    offered = [GEOJSON, "application/json", "text/csv", "application/x-ndjson", "application/geo+json-seq"]
    offered += ["application/flatgeobuf", "application/geopackage+sqlite3"]
    body = await problem(client, ITEMS.format("places"), 406, f="xlsx")
    assert body["formats"] == offered
    response = await client.get(ITEMS.format("places"), headers={"Accept": "application/vnd.ms-excel"})
    assert response.status_code == 406 and response.json()["formats"] == offered
    response = await client.get("/ogc/collections", headers={"Accept": "application/xml"})
    assert response.status_code == 406
    response = await client.get(ITEMS.format("places"), headers={"Accept": "application/json"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"


async def test_items_carry_an_etag_and_answer_304(client: httpx.AsyncClient) -> None:
    url = ITEMS.format("places") + "?datetime=2016-12-20&filter=" + quote("kind = 'city'")
    first = await client.get(url)
    v1 = await client.get("/v1/control?at=2016-12-20&kind=city")
    # The same caching rule as /v1 for an answer about the same date.
    assert first.headers["cache-control"] == v1.headers["cache-control"] and first.headers["etag"]
    again = await client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


PALMYRA_Z8 = (8, 101, 155)  # zoom, row (y), column (x): Palmyra, 38.27°E 34.56°N


async def test_ogc_tiles_are_the_v1_tiles_in_ogc_order(client: httpx.AsyncClient) -> None:
    z, row, col = PALMYRA_Z8
    for collection, layer in (("places", "places"), ("territories", "territories")):
        ogc = await client.get(
            f"/ogc/collections/{collection}/tiles/WebMercatorQuad/{z}/{row}/{col}",
            params={"datetime": "2016-12-20"},
        )
        v1 = await client.get(f"/v1/tiles/{layer}/{z}/{col}/{row}.mvt", params={"at": "2016-12-20"})
        dated = await client.get(f"/v1/tiles/{layer}/2016-12-20/{z}/{col}/{row}.mvt")
        assert ogc.status_code == v1.status_code == dated.status_code == 200
        assert ogc.headers["content-type"] == "application/vnd.mapbox-vector-tile"
        assert ogc.content == v1.content == dated.content
    other_day = await client.get(f"/v1/tiles/territories/2016-12-01/{z}/{col}/{row}.mvt")
    assert other_day.content != dated.content  # the date in the path is the date of the tile
    await problem(client, "/ogc/collections/events/tiles/WebMercatorQuad/8/101/155", 404)
    await problem(client, "/v1/tiles/places/someday/8/155/101.mvt")


async def test_tileset_metadata_keeps_the_date_in_its_template(client: httpx.AsyncClient) -> None:
    listing = (await client.get("/ogc/collections/territories/tiles")).json()
    [tileset] = listing["tilesets"]
    assert tileset["dataType"] == "vector" and tileset["crs"] == "http://www.opengis.net/def/crs/EPSG/0/3857"
    response = await client.get(
        "/ogc/collections/territories/tiles/WebMercatorQuad", params={"datetime": "2016-12-20"}
    )
    body = response.json()
    [template] = [link for link in body["links"] if link["rel"] == "item"]
    assert template["templated"] is True and template["type"] == "application/vnd.mapbox-vector-tile"
    assert template["href"].endswith("/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}?datetime=2016-12-20")
    [layer] = body["layers"]
    assert layer["geometryDimension"] == 2
    assert layer["propertiesSchema"]["properties"]["area_km2"] == {"type": "number"}


async def test_tilejson_field_types_are_what_gdal_understands(client: httpx.AsyncClient) -> None:
    for layer in ("places", "territories", "frontlines"):
        fields = (await client.get(f"/v1/tiles/{layer}.json")).json()["vector_layers"][0]["fields"]
        assert set(fields.values()) <= {"String", "Number", "Boolean"}, fields
    territories = (await client.get("/v1/tiles/territories.json")).json()["vector_layers"][0]["fields"]
    assert territories["area_km2"] == "Number" and territories["approximate"] == "Boolean"
