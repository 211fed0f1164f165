"""API keys on requests: `Authorization: Bearer <key>` (or `X-API-Key: <key>`), checked against a scope.

Writes need a key; reads are open unless TERRITORY_REQUIRE_READ_KEY is set. No key: 401. A key without the
scope: 403. Keys are looked up on every request, so a revocation takes effect at once. A key may make
TERRITORY_RATE_LIMIT_PER_MINUTE requests (429 with Retry-After past it); wrong keys (unknown or revoked) are
counted per client address: past TERRITORY_WRONG_KEYS_PER_MINUTE, that address is answered 429 with Retry-After
before its keys are looked up. Both are counted in the primary, for every worker and machine at once.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import Headers

from app.errors import Forbidden, TooManyRequests, Unauthorized
from app.services.keys import ApiKey, admit
from app.vocabulary import Scope


def presented_key(request: Request) -> str | None:
    return key_in(request.headers)


def key_in(headers: Headers) -> str | None:
    """The key a request presents (also read by app/api/caching.py before the routes: the same rule)."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return headers.get("x-api-key") or None


async def key_with_scope(request: Request, scope: Scope) -> ApiKey:
    admitted: ApiKey | None = getattr(request.state, "api_key", None)
    if admitted is not None and scope == "read":
        return admitted  # admitted for this read already (app/api/caching.py, before the routes)
    key = presented_key(request)
    if key is None:
        raise Unauthorized(
            f"This needs an API key with the '{scope}' scope: send 'Authorization: Bearer <key>'."
        )
    api_key = await admit_key(
        request.app, key, client=request.client.host if request.client else None, scope=scope
    )
    request.state.api_key = api_key
    return api_key


async def admit_key(app: Any, key: str, *, client: str | None, scope: Scope) -> ApiKey:
    """The key, admitted for `scope` with a token of its rate; the problem to answer otherwise (401, 403, 429)."""
    settings = app.state.settings
    # On the primary, with the limits every worker shares (app/db/sql/admit_api_key.sql): a revocation counts at
    # once, which a lagging replica could not promise. begin(): through PgBouncer the tokens taken are committed
    # (in autocommit mode it costs nothing).
    async with app.state.keys_engine.begin() as conn:
        admission = await admit(
            conn,
            key,
            client=client,
            scope=scope,
            per_minute=settings.rate_limit_per_minute,
            wrong_per_minute=settings.wrong_keys_per_minute,
        )
    retry_after = max(1, math.ceil(admission.wait_seconds or 0))
    if admission.outcome == "wrong-keys":
        raise TooManyRequests(
            f"Too many requests from this address with a wrong API key; retry in {retry_after} s.",
            retry_after=retry_after,
        )
    api_key = admission.key
    if api_key is None:
        raise Unauthorized("The API key is unknown or revoked.")
    if admission.outcome == "forbidden":
        raise Forbidden(f"The key '{api_key.name}' has the '{api_key.scope}' scope; this needs '{scope}'.")
    if admission.outcome == "limited":
        raise TooManyRequests(
            f"The key '{api_key.name}' is over its limit of {settings.rate_limit_per_minute} requests a minute; "
            f"retry in {retry_after} s.",
            retry_after=retry_after,
        )
    return api_key


def require_scope(scope: Scope) -> Callable[[Request], Awaitable[ApiKey]]:
    async def dependency(request: Request) -> ApiKey:
        return await key_with_scope(request, scope)

    return dependency


async def read_access(request: Request) -> None:
    """Reads are open by default; with TERRITORY_REQUIRE_READ_KEY they need a `read` key (or better)."""
    if request.app.state.settings.require_read_key:
        await key_with_scope(request, "read")


IngestKey = Annotated[ApiKey, Depends(require_scope("ingest"))]
AdminKey = Annotated[ApiKey, Depends(require_scope("admin"))]
