"""API keys on requests: `Authorization: Bearer <key>` (or `X-API-Key: <key>`), checked against a scope.

Writes need a key; reads are open unless TERRITORY_REQUIRE_READ_KEY is set. No key: 401. A key without the
scope: 403. Keys are looked up on every request, so a revocation takes effect at once. Wrong keys (unknown or
revoked) are counted per client address: past TERRITORY_WRONG_KEYS_PER_MINUTE, that address is answered 429 with
Retry-After before its keys are looked up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import Headers

from app.errors import Forbidden, Unauthorized
from app.services.keys import ApiKey, authenticate
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
    key = presented_key(request)
    if key is None:
        raise Unauthorized(
            f"This needs an API key with the '{scope}' scope: send 'Authorization: Bearer <key>'."
        )
    address = request.client.host if request.client else None
    wrong_keys = request.app.state.wrong_key_limiter
    wrong_keys.check(address)
    async with request.app.state.read_engine.connect() as conn:
        api_key = await authenticate(conn, key)
    if api_key is None:
        wrong_keys.spend(address)
        raise Unauthorized("The API key is unknown or revoked.")
    if not api_key.allows(scope):
        raise Forbidden(f"The key '{api_key.name}' has the '{api_key.scope}' scope; this needs '{scope}'.")
    request.app.state.rate_limiter.take(api_key.id, api_key.name)
    request.state.api_key = api_key
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
