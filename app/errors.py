"""Domain errors and their RFC 9457 `application/problem+json` rendering, in one place."""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import asyncpg
import orjson
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.responses import Response

if TYPE_CHECKING:
    # The CLI raises these errors too: it need not import FastAPI for them (its start-up time).
    from fastapi import FastAPI, Request

PROBLEM_JSON = "application/problem+json"
logger = logging.getLogger("territory")


class DomainError(Exception):
    """An error a client can act on. Subclasses set the status and title; extra members go into the body."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **members: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.members = members


class InvalidParameter(DomainError):
    status, title = 400, "Invalid parameter"

    def __init__(self, name: str, reason: str, *, location: str = "query") -> None:
        super().__init__(
            f"{name}: {reason}", errors=[{"location": location, "field": name, "reason": reason}]
        )


class NotFound(DomainError):
    status, title = 404, "Not found"


ReferenceLocation = Literal["path", "query", "body"]


def unresolved_error(
    location: ReferenceLocation, field: str, reason: str, index: int | None = None, **members: Any
) -> dict[str, Any]:
    """One entry of a problem's `errors`: where the reference was, which field, why, and what may help."""
    error: dict[str, Any] = {"location": location}
    if index is not None:
        error["index"] = index
    return error | {"field": field, "reason": reason, **members}


class ReferenceNotFound(NotFound):
    """A reference (id, slug, spelling, alias) that names nothing, with the closest names.

    The same problem for every kind and surface: `suggestions` [{slug, name, score}, ...] (always present, maybe
    empty) and one `errors` entry {location, field, reason, suggestions}. A reference in the path or a query
    filter raises it (404); in a body its `error` joins an `Unprocessable` (422) with the request's other
    problems."""

    kind: ClassVar[str] = "reference"

    def __init__(
        self,
        ref: str,
        suggestions: list[dict[str, Any]],
        *,
        field: str | None = None,
        location: ReferenceLocation = "path",
        index: int | None = None,
    ) -> None:
        names = ", ".join(s["slug"] for s in suggestions)
        reason = f"no {self.kind} is known as '{ref}'" + (f"; did you mean {names}?" if names else "")
        self.error = unresolved_error(location, field or self.kind, reason, index, suggestions=suggestions)
        hint = f" Did you mean {', '.join(s['name'] for s in suggestions)}?" if suggestions else ""
        super().__init__(
            f"No {self.kind} is known as '{ref}'.{hint}", suggestions=suggestions, errors=[self.error]
        )


class PlaceNotFound(ReferenceNotFound):
    kind, title = "place", "Place not found"


class ActorNotFound(ReferenceNotFound):
    kind, title = "actor", "Actor not found"


class CoalitionNotFound(ReferenceNotFound):
    kind, title = "coalition", "Coalition not found"


class SourceNotFound(ReferenceNotFound):
    kind, title = "source", "Source not found"


NOT_FOUND: dict[str, type[ReferenceNotFound]] = {
    c.kind: c for c in (PlaceNotFound, ActorNotFound, CoalitionNotFound, SourceNotFound)
}


class AmbiguousReference(DomainError):
    """A reference that names several rows (a spelling two places share): 409 in the path or a query filter,
    an `errors` entry {location, field, reason, candidates} of a 422 in a body."""

    status, title = 409, "Ambiguous reference"

    def __init__(
        self,
        kind: str,
        ref: str,
        candidates: list[dict[str, Any]],
        *,
        field: str | None = None,
        location: ReferenceLocation = "path",
        index: int | None = None,
    ) -> None:
        slugs = ", ".join(c["slug"] for c in candidates)
        reason = f"'{ref}' names more than one {kind}: {slugs}; use the slug"
        self.error = unresolved_error(location, field or kind, reason, index, candidates=candidates)
        names = "; ".join(f"{c['name']} ({c['slug']})" for c in candidates)
        super().__init__(
            f"'{ref}' names more than one {kind}: {names}. Use the slug"
            + (" or id." if kind == "place" else "."),
            candidates=candidates,
            errors=[self.error],
        )


class NotAcceptable(DomainError):
    """A format (`f=` or Accept) the resource does not offer; `formats` lists those it does."""

    status, title = 406, "Not acceptable"


class ServiceUnavailable(DomainError):
    status, title = 503, "Service unavailable"


class Unauthorized(DomainError):
    status, title = 401, "Unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="territory"'})


class Forbidden(DomainError):
    status, title = 403, "Forbidden"


class Conflict(DomainError):
    status, title = 409, "Conflict"


class Unprocessable(DomainError):
    """The request is well-formed but names things that do not exist or breaks a rule of the data.

    `errors` lists each problem: {index (in a batch), field, reason, and suggestions where there are some}."""

    status, title = 422, "Unprocessable content"


class PayloadTooLarge(DomainError):
    status, title = 413, "Content too large"


class TooManyRequests(DomainError):
    status, title = 429, "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **members: Any,
) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(members)
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_error(loc: tuple[Any, ...], reason: str) -> dict[str, Any]:
    """{location, field, reason}, and the row's index when the field is inside a batch's list."""
    location = str(loc[0]) if loc else "body"
    parts = list(loc[1:])
    error: dict[str, Any] = {"location": location}
    if len(parts) >= 2 and isinstance(parts[1], int) and location == "body":
        error["index"] = parts[1]
    error["field"] = ".".join(str(part) for part in parts) or location
    error["reason"] = reason
    return error


# Deadlocks and serialisation failures with a concurrent writer: the write is run again from the start.
RETRYABLE = {"40001", "40P01"}
# SQLSTATEs that say the database cannot serve now, not that the request is wrong: 503, retry later. Class 08 (a
# connection exception) is matched by its prefix.
UNAVAILABLE = {
    "40001": "the write could not be serialised with a concurrent one",
    "40P01": "the write deadlocked with a concurrent one",
    "55P03": "a row it needs stayed locked by another transaction past the lock timeout",
    "57014": "a statement ran past the statement timeout and was cancelled",
    "25P03": "the transaction stayed idle past its timeout",
    "57P01": "the database server is shutting down (administrator command)",
    "57P02": "the database server is restarting after a crash",
    "57P03": "the database server is starting up or shutting down",
    "57P05": "the database session was idle too long",
    "53300": "the database server has no connection left (too many connections)",
    "53000": "the database server lacks resources",
    "53100": "the database server's disk is full",
    "53200": "the database server is out of memory",
    "08": "the connection to the database failed",
}
# Seconds a client should wait: a lock or timeout clears soon, a server coming back takes a little longer.
RETRY_AFTER = {"40001": 1, "40P01": 1, "55P03": 2, "57014": 5}


def sqlstate(exc: BaseException) -> str | None:
    original = getattr(exc, "orig", None) or exc
    code = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    return code if isinstance(code, str) else None


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception, what SQLAlchemy wraps (`orig`) and its causes: asyncpg's error may be any of them."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return seen


def database_unavailable(exc: BaseException) -> ServiceUnavailable | None:
    """The one place an outage becomes a 503: refused, reset or lost connections, a server shutting down or
    full, a pool with no connection free, a timeout. None when `exc` is not one (a bug: a 500)."""
    for cause in _causes(exc):
        code = sqlstate(cause)
        reason = UNAVAILABLE.get(code or "") or (
            UNAVAILABLE["08"] if code and code.startswith("08") else None
        )
        if reason is None:
            if isinstance(cause, PoolTimeout):
                code, reason = "pool", "every database connection of this server is busy"
            elif isinstance(cause, ConnectionError | TimeoutError | socket.gaierror):
                code, reason = "connect", f"the database cannot be reached ({type(cause).__name__})"
            elif getattr(exc, "connection_invalidated", False) or (
                # "connection is closed"; not the driver's DataError (a bad value), an InterfaceError too
                isinstance(cause, asyncpg.InterfaceError) and not isinstance(cause, ValueError)
            ):
                code, reason = "08", UNAVAILABLE["08"]
        if reason is not None:
            retry_after = RETRY_AFTER.get(code or "", 2)
            return ServiceUnavailable(
                f"The database cannot serve this request now: {reason}. Retry in {retry_after} s; a write that "
                "got this answer was not stored.",
                headers={"Retry-After": str(retry_after)},
                retry_after=retry_after,
                reason=reason,
            )
    return None


def translate_database_error(
    exc: DBAPIError | asyncpg.PostgresError | asyncpg.InterfaceError,
) -> DomainError | None:
    """The one place database errors become problems: conflicts, broken rules, retry-later."""
    code = sqlstate(exc)
    message = str(getattr(exc, "orig", exc)).split("\n")[0]
    if code in ("23505", "23P01"):  # unique violation, exclusion violation
        return Conflict(f"The write conflicts with what is stored: {message}")
    # Broken rules, bad values, and (behind the schemas' limits, should one be missed) a value too long or too
    # big for its column or index (22001, 54000), or a character PostgreSQL cannot store (22021: NUL).
    if code in (
        "23514",
        "23503",
        "23502",
        "22007",
        "22008",
        "22P02",
        "22023",
        "22003",
        "22001",
        "22021",
        "54000",
    ):
        return Unprocessable(f"The data breaks a rule of the store: {message}")
    # The driver refused a value before sending it (an integer past its column's range): the same, said by it.
    if any(isinstance(c, asyncpg.InterfaceError) and isinstance(c, ValueError) for c in _causes(exc)):
        return Unprocessable(f"A value does not fit the store: {message}")
    return database_unavailable(exc)


def install_problem_handlers(app: FastAPI) -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        return problem(
            exc.status, exc.title, exc.detail, instance=request.url.path, headers=exc.headers, **exc.members
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            _field_error(tuple(error.get("loc", ())), error.get("msg", "invalid")) for error in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors[:20])
        if len(errors) > 20:
            detail += f"; and {len(errors) - 20} more"
        # A body that parses but does not fit the schema is unprocessable content; a bad query string is a 400.
        if any(e["location"] == "body" for e in errors):
            return problem(422, "Invalid body", detail, instance=request.url.path, errors=errors)
        return problem(400, "Invalid request", detail, instance=request.url.path, errors=errors)

    # The reads run on asyncpg directly (app/db/reads.py): its errors mean what they mean under SQLAlchemy.
    @app.exception_handler(asyncpg.PostgresError)
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(DBAPIError)
    async def database_error(
        request: Request, exc: DBAPIError | asyncpg.PostgresError | asyncpg.InterfaceError
    ) -> Response:
        translated = translate_database_error(exc)
        if translated is None:
            return await unexpected_error(request, exc)
        return await domain_error(request, translated)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        return problem(exc.status_code, title, str(exc.detail), instance=request.url.path)

    async def unavailable_or_unexpected(request: Request, exc: Exception) -> Response:
        translated = database_unavailable(exc)
        if translated is None:
            return await unexpected_error(request, exc)
        return await domain_error(request, translated)

    # Raised outside SQLAlchemy's wrapping: connecting (refused, reset), the pool's wait, the event listener.
    for outage in (PoolTimeout, ConnectionError, TimeoutError):
        app.add_exception_handler(outage, unavailable_or_unexpected)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s", request.url.path)
        return problem(500, "Internal Server Error", "An unexpected error occurred; it has been logged.")
