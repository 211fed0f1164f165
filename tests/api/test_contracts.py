"""Contracts: every GET route, walked over the seeded dataset, answers a body its declared model accepts, and
the OpenAPI document is valid OpenAPI.

Routes are enumerated from the app, so a new route is walked without being listed here; one whose path has a
parameter this walk has no sample for fails until a sample is added below."""

from __future__ import annotations

import re
from typing import Any

import httpx
import mapbox_vector_tile
import pytest
from fastapi.routing import iter_route_contexts
from openapi_spec_validator import validate
from pydantic import TypeAdapter
from starlette.responses import StreamingResponse

from app.api.responses import MVT, MVTResponse
from app.errors import PROBLEM_JSON
from app.main import create_app
from app.schemas.common import Problem

# Query parameters a route may require, and the date every dated route is asked about (Palmyra under IS).
REQUIRED_QUERY = {"from": "2016-12-01", "to": "2017-01-31", "actor": "islamic-state"}
AT = "2016-12-20"
# Extra requests that reach members the plain walk does not: scores, distances, contested places, as_of.
VARIANTS = [
    "/v1/places?q=raqqa",
    "/v1/places?near=38.27,34.56&radius_km=100&limit=3",
    "/v1/control?at=2017-06-20&as_of=2017-07-01",
    "/v1/control?at=2016-12-20&bbox=36.5,35.5,39.5,37.0&kind=city,town",
    "/v1/events?order=newest&limit=5",
    "/v1/changes?from=2016-01-01&to=2017-12-31&limit=5",
    "/v1/territories?at=2016-12-20&zoom=6",
    "/v1/frontlines?at=2016-12-20&bbox=36.5,33.5,39.5,37.0",
]


async def samples(client: httpx.AsyncClient) -> dict[str, list[str]]:
    """Values for each path parameter, taken from the data itself."""
    actors = (await client.get("/v1/actors")).json()
    coalitions = (await client.get("/v1/coalitions")).json()
    sources = (await client.get("/v1/sources")).json()
    events = (await client.get("/v1/events", params={"limit": 1})).json()["items"]
    members = (await client.get(f"/v1/coalitions/{coalitions[0]['slug']}")).json()["members"]
    territories = (await client.get("/v1/territories", params={"at": AT})).json()["features"]
    frontlines = (await client.get("/v1/frontlines", params={"at": AT})).json()["features"]
    return {
        "ref": ["palmyra", "Tadmur"],
        "actors.slug": [actors[0]["slug"]],
        "coalitions.slug": [coalitions[0]["slug"]],
        "sources.slug": [sources[0]["slug"]],
        "event_id": [str(events[0]["id"])],
        "membership_id": [str(members[0]["id"])],
        "territory_id": [str(territories[0]["id"])],
        "front_line_id": [str(frontlines[0]["id"])],
        "layer": ["places", "territories", "frontlines"],
        # z8 tile over Palmyra and Homs, where the dataset has places, areas and front lines.
        "z": ["8"],
        "x": ["155"],
        "y": ["102"],
        "on": [AT],  # the date in a tile's path
    }


def fill(path: str, values: dict[str, list[str]]) -> list[str]:
    """Every concrete path for the template, one per sample value of each parameter."""
    match = re.search(r"\{(\w+)(?::\w+)?\}", path)
    if not match:
        return [path]
    name = match[1]
    resource = path.split("/")[2]
    options = values.get(f"{resource}.{name}") or values.get(name)
    assert options, f"{path}: no sample value for {{{name}}}; add one to samples()"
    return [p for value in options for p in fill(path.replace(match[0], value, 1), values)]


def get_routes() -> list[Any]:
    app = create_app()
    return [
        route
        for route in iter_route_contexts(app.routes)
        if "GET" in (route.methods or ()) and route.path.startswith("/v1/")
    ]


def query_for(route: Any, document: dict[str, Any]) -> dict[str, str]:
    """The route's required query parameters, and `at` wherever it is accepted."""
    params = {}
    for param in document["paths"][route.path]["get"].get("parameters", []):
        name = param["name"]
        if param["in"] == "query" and param.get("required"):
            params[name] = REQUIRED_QUERY[name]
        elif param["in"] == "query" and name == "at":
            params[name] = AT
    return params


def check(route: Any, answer: httpx.Response) -> None:
    original = route.original_route
    assert answer.status_code in (200, 204), (answer.request.url, answer.status_code, answer.text[:300])
    if original.response_class is MVTResponse:
        if answer.status_code == 200:
            assert answer.headers["content-type"] == MVT
            assert mapbox_vector_tile.decode(answer.content)
        return
    assert original.response_model is not None, f"{route.path} declares no response model"
    TypeAdapter(original.response_model).validate_json(answer.content)


async def test_every_get_route_answers_its_declared_model(client: httpx.AsyncClient) -> None:
    values = await samples(client)
    document = create_app().openapi()
    walked = 0
    for route in get_routes():
        if route.original_route.response_class is StreamingResponse:
            continue  # the SSE feed never ends; tests/api/test_events_stream.py reads it
        for path in fill(route.path, values):
            check(route, await client.get(path, params=query_for(route, document)))
            walked += 1
    assert walked >= 25


@pytest.mark.parametrize("url", VARIANTS)
async def test_variants_answer_their_declared_model(client: httpx.AsyncClient, url: str) -> None:
    path = url.split("?")[0]
    [route] = [r for r in get_routes() if r.path == path]
    check(route, await client.get(url))


def test_openapi_document_is_valid() -> None:
    document = create_app().openapi()
    validate(document)
    operation_ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
    assert "get_place_control" in operation_ids and "get_control_map" in operation_ids


def test_the_contract_test_catches_a_member_no_model_names() -> None:
    [route] = [r for r in get_routes() if r.path == "/v1/summary"]
    body = b'{"at": "2016-12-20", "places_known": 1, "actors": [], "coalitions": [], "surprise": 1}'
    with pytest.raises(ValueError):
        TypeAdapter(route.original_route.response_model).validate_json(body)


JSON_BODY = {"Content-Type": "application/json"}
# Problems whose shape or status the OpenAPI once left out (issues 8 and 13): each, as the API answers it.
PROBLEM_ANSWERS = [
    # An unknown actor filter: 404 with suggestions (the rule for reference filters).
    ("GET", "/v1/control", "/v1/control?at=2016-12-20&actor=islamic-stat", {}),
    # A body that is not UTF-8: 400, on every operation with a body.
    ("POST", "/v1/places", "/v1/places", {"content": b"\xff\xfe{", "headers": JSON_BODY}),
    ("POST", "/v1/places", "/v1/places", {"content": b"{", "headers": JSON_BODY}),
    # A bad path parameter of a write: 400, not the body's 422.
    ("DELETE", "/v1/events/{event_id}", "/v1/events/abc", {}),
    # A resend with other content: 409 whose errors carry `stored` and `sent` and no `location`.
    (
        "POST",
        "/v1/actors",
        "/v1/actors",
        {"json": {"slug": "islamic-state", "name": "Other", "kind": "militia"}},
    ),
    # An event resent with other content: 409 whose error carries the stored event's `id` and what `differs`.
    (
        "POST",
        "/v1/events",
        "/v1/events",
        {
            "json": {
                "external_id": "palmyra-2011-03-15-held",
                "place": "palmyra",
                "date": "2011-03-15",
                "kind": "held",
                "actor": "syrian-army",
                "status": "controlled",
                "sources": ["wp-palmyra-offensive-2015-05"],
                "notes": "other notes",
            }
        },
    ),
    # A correction that breaks a rule of the event: 422 whose error has no `location`.
    ("PATCH", "/v1/events/{event_id}", "/v1/events/1", {"json": {"status": "contested"}}),
]


async def test_problem_answers_are_declared_and_fit_the_problem_schema(
    write_client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    document = create_app().openapi()
    statuses: set[int] = set()
    shapes: set[tuple[int, frozenset[str]]] = set()
    for method, template, url, request in PROBLEM_ANSWERS:
        sent = {k: v for k, v in request.items() if k != "headers"}
        headers = {**admin_headers, **request.get("headers", {})}
        answer = await write_client.request(method, url, headers=headers, **sent)
        declared = document["paths"][template][method.lower()]["responses"]
        assert str(answer.status_code) in declared, (method, url, answer.status_code, answer.text[:300])
        content = declared[str(answer.status_code)]["content"]
        assert content == {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        assert answer.headers["content-type"] == PROBLEM_JSON
        body = Problem.model_validate_json(answer.content)
        statuses.add(answer.status_code)
        shapes |= {
            (answer.status_code, frozenset(e.model_dump(exclude_none=True))) for e in body.errors or []
        }
    assert (409, frozenset({"field", "reason", "stored", "sent"})) in shapes
    assert (409, frozenset({"index", "field", "reason", "id", "differs"})) in shapes
    assert (422, frozenset({"field", "reason"})) in shapes
    assert statuses == {400, 404, 409, 422}
