"""The OpenAPI document tells a generated client the truth: typed parameters, problems, no 422 on reads."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.main import create_app
from app.vocabulary import PlaceKind, values


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app().openapi()


def parameter(document: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    [found] = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name]
    return found


def test_dates_are_dates_and_bbox_four_comma_separated_numbers(document: dict[str, Any]) -> None:
    assert parameter(document, "/v1/control", "at")["schema"]["format"] == "date"
    assert parameter(document, "/v1/changes", "from")["schema"]["format"] == "date"
    assert parameter(document, "/v1/events", "to")["schema"]["format"] == "date"
    bbox = parameter(document, "/v1/control", "bbox")
    assert bbox["schema"] == {
        "type": "array",
        "items": {"type": "number"},
        "minItems": 4,
        "maxItems": 4,
        "title": "Bbox",
    }
    assert (bbox["style"], bbox["explode"]) == ("form", False)


def test_vocabularies_are_enums(document: dict[str, Any]) -> None:
    kind = parameter(document, "/v1/places", "kind")
    assert kind["schema"]["items"]["enum"] == list(values(PlaceKind))
    layer = parameter(document, "/v1/tiles/{layer}.json", "layer")
    assert layer["schema"]["enum"] == ["places", "territories", "frontlines"]
    assert parameter(document, "/v1/events", "order")["schema"]["enum"] == ["recorded", "newest"]


def test_reads_declare_400_problems_not_422(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        if "get" not in item:
            continue
        responses = item["get"]["responses"]
        assert "422" not in responses, path
        if item["get"].get("parameters"):
            assert responses["400"]["content"]["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"
            }, path
    assert "HTTPValidationError" not in document["components"]["schemas"]


async def test_unknown_place_kind_is_a_400_naming_kind(client: httpx.AsyncClient) -> None:
    answer = await client.get("/v1/control", params={"at": "2016-12-20", "kind": "city,castle"})
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    [error] = answer.json()["errors"]
    assert error["field"] == "kind" and "'castle' is not a place kind" in error["reason"]


async def test_a_bad_limit_is_a_400_problem_naming_it(client: httpx.AsyncClient) -> None:
    answer = await client.get("/v1/places", params={"limit": "0"})
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "limit"
