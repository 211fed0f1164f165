"""Domain errors and their RFC 9457 `application/problem+json` rendering, in one place."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

PROBLEM_JSON = "application/problem+json"
logger = logging.getLogger("territory")


class DomainError(Exception):
    """An error a client can act on. Subclasses set the status and title; extra members go into the body."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"

    def __init__(self, detail: str, **members: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.members = members


class InvalidParameter(DomainError):
    status, title = 400, "Invalid parameter"

    def __init__(self, name: str, reason: str, *, location: str = "query") -> None:
        super().__init__(
            f"{name}: {reason}", errors=[{"location": location, "field": name, "reason": reason}]
        )


class NotFound(DomainError):
    status, title = 404, "Not found"


class PlaceNotFound(NotFound):
    title = "Place not found"

    def __init__(self, ref: str, suggestions: list[dict[str, Any]]) -> None:
        hint = f" Did you mean {', '.join(s['name'] for s in suggestions)}?" if suggestions else ""
        super().__init__(f"No place is known as '{ref}'.{hint}", suggestions=suggestions)


class AmbiguousPlace(DomainError):
    status, title = 409, "Ambiguous place name"

    def __init__(self, ref: str, candidates: list[dict[str, Any]]) -> None:
        names = "; ".join(f"{c['name']} ({c['slug']})" for c in candidates)
        super().__init__(
            f"'{ref}' names more than one place: {names}. Use the slug or id.", candidates=candidates
        )


class ServiceUnavailable(DomainError):
    status, title = 503, "Service unavailable"


def problem(status: int, title: str, detail: str, *, instance: str | None = None, **members: Any) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(members)
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON)


def _location_and_field(loc: tuple[Any, ...]) -> tuple[str, str]:
    location = str(loc[0]) if loc else "body"
    field = ".".join(str(part) for part in loc[1:]) or location
    return location, field


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        return problem(exc.status, exc.title, exc.detail, instance=request.url.path, **exc.members)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = []
        for error in exc.errors():
            location, field = _location_and_field(tuple(error.get("loc", ())))
            errors.append({"location": location, "field": field, "reason": error.get("msg", "invalid")})
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return problem(400, "Invalid request", detail, instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        return problem(exc.status_code, title, str(exc.detail), instance=request.url.path)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s", request.url.path)
        return problem(500, "Internal Server Error", "An unexpected error occurred; it has been logged.")
