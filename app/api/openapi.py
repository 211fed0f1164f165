"""The OpenAPI document as a generated client should read it: problems typed, no 422 on reads, short ids.

FastAPI writes most of it from the routes; what it cannot say from a signature is added here, once for every
route, so a new route follows the same rules without declaring them again."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.errors import PROBLEM_JSON
from app.schemas.common import Problem

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
# Writes take a key as a bearer token or in X-API-Key (app/api/auth.py); reads only when the server requires it.
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: `Authorization: Bearer <key>`",
    },
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The same key, in a header",
    },
}
WRITE_METHODS = {"post", "patch", "put", "delete"}


def operation_id(route: APIRoute) -> str:
    """The route function's name (`get_place_control`), not FastAPI's path-and-method default."""
    return route.name


def openapi_document(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["Problem"] = problem_schema
    components["securitySchemes"] = SECURITY_SCHEMES
    for path in document.get("paths", {}).values():
        for method, operation in path.items():
            _tidy(method, operation)
    # FastAPI's validation-error schemas are referenced by no route once every problem is a Problem.
    text = str(document["paths"])
    for name in ("HTTPValidationError", "ValidationError"):
        if f"/{name}'" not in text:
            schemas.pop(name, None)
    app.openapi_schema = document
    return document


def _tidy(method: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    validation = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if validation.get("$ref", "").endswith("/HTTPValidationError"):
        # A bad query or path parameter is a 400 problem (app/errors.py); only a body is unprocessable.
        del responses["422"]
        if method not in WRITE_METHODS:
            responses.setdefault("400", {"description": "A parameter is invalid"})
            responses["400"].setdefault("content", {PROBLEM_JSON: {}})
        else:
            responses["422"] = {
                "description": "The body does not fit the schema",
                "content": {PROBLEM_JSON: {}},
            }
    for response in responses.values():
        content = response.get("content", {})
        if PROBLEM_JSON in content:
            content[PROBLEM_JSON] = {"schema": PROBLEM_REF}
    for parameter in operation.get("parameters", []):
        # Lists in a query string are comma-separated (bbox=w,s,e,n; kind=city,town), as OGC API does.
        if parameter.get("in") == "query" and parameter.get("schema", {}).get("type") == "array":
            parameter["style"], parameter["explode"] = "form", False
    if method in WRITE_METHODS:
        operation["security"] = [{"bearer": []}, {"apiKey": []}]
