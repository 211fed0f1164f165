"""The OpenAPI document as a generated client should read it: every status an operation answers, each problem
typed, no 422 on reads, short ids.

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


# What every operation of a kind can answer, whatever its route declares: the guards before any route
# (app/api/limits.py, app/api/auth.py), the problem handlers (app/errors.py) and the reference filters answer
# alike everywhere. A route declares only its own statuses, and may describe one of these more closely (its
# description is kept).
BAD_REQUEST = "A parameter is invalid, or the request holds a NUL character"
BAD_BODY = "A parameter is invalid, or the body is not JSON in UTF-8"
UNAVAILABLE = "The database cannot serve this now (an outage, a timeout, a write conflict); see Retry-After"
WRITE_ANSWERS = {
    "401": "No API key, or an unknown or revoked one",
    "403": "The key lacks the scope this write needs",
    "429": "Too many requests for this key; see Retry-After",
}
BODY_ANSWERS = {"400": BAD_BODY, "422": "The body does not fit the schema, or breaks a rule of the data"}
# RequestGuard reads the body of these methods, and refuses one over the limit.
BODY_METHODS = {"post", "put", "patch"}
# Query parameters that name a record by any reference (app/db/queries/references.py).
REFERENCE_FILTERS = {"place", "actor", "coalition"}
FILTER_ANSWERS = {
    "404": "A filter names no record; the problem lists the closest names",
    "409": "A filter names several records; the problem lists them",
}
# Operations that never reach the database.
NO_DATABASE = {"healthz"}


def answers(method: str, operation: dict[str, Any]) -> dict[str, str]:
    """The statuses (and what they mean) every operation like this one can answer."""
    found = dict(BODY_ANSWERS) if "requestBody" in operation else {"400": BAD_REQUEST}
    if method in BODY_METHODS:
        found["413"] = "The body is larger than the server takes"
    if method in WRITE_METHODS:
        found |= WRITE_ANSWERS
    if any(
        p.get("in") == "query" and p.get("name") in REFERENCE_FILTERS for p in operation.get("parameters", [])
    ):
        found |= FILTER_ANSWERS
    if operation.get("operationId") not in NO_DATABASE:
        found["503"] = UNAVAILABLE
    return found


def _tidy(method: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    validation = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if validation.get("$ref", "").endswith("/HTTPValidationError"):
        # Not what is answered: a bad parameter is a 400 problem, a body that does not fit a 422 (app/errors.py).
        del responses["422"]
    for status, description in answers(method, operation).items():
        responses.setdefault(status, {"description": description})
    for status, response in responses.items():
        if int(status) >= 400:  # every error is a problem (app/errors.py)
            response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
    operation["responses"] = dict(sorted(responses.items()))
    for parameter in operation.get("parameters", []):
        # Lists in a query string are comma-separated (bbox=w,s,e,n; kind=city,town), as OGC API does.
        if parameter.get("in") == "query" and parameter.get("schema", {}).get("type") == "array":
            parameter["style"], parameter["explode"] = "form", False
    if method in WRITE_METHODS:
        operation["security"] = [{"bearer": []}, {"apiKey": []}]
    _position_headers(method, operation)


# app/api/replication.py: where a write committed, and which database served a read.
COMMITTED_AT = {
    "description": "Where the write committed (a PostgreSQL WAL position): send it back in the Territory-LSN "
    "request header of a read and that read sees the write, replicas or not.",
    "schema": {"type": "string"},
    "example": "0/3000148",
}
SERVED_BY = {
    "description": "With read replicas: the database that answered, `primary` or `replica-N`",
    "schema": {"type": "string"},
    "example": "replica-1",
}


def _position_headers(method: str, operation: dict[str, Any]) -> None:
    reads = any(
        p.get("in") == "header" and p.get("name") == "Territory-LSN" for p in operation.get("parameters", [])
    )
    header = (
        ("Territory-LSN", COMMITTED_AT) if method in WRITE_METHODS else ("Territory-Served-By", SERVED_BY)
    )
    if method not in WRITE_METHODS and not reads:
        return
    for status, response in operation["responses"].items():
        if status.startswith("2"):
            response.setdefault("headers", {})[header[0]] = header[1]
