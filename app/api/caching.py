"""HTTP caching for GET answers: a strong ETag over the body, 304 on a match, and a Cache-Control that stays true.

A live answer can still change, about a past date too: correcting the record of past dates is what the API is
for. So a cache must revalidate it (`no-cache`: each use asks again, and an unchanged answer costs a body-less
304). Only an answer `as_of` a settled moment cannot change, since it is the record as it stood then: it may be
kept for a year (`immutable`). With TERRITORY_REQUIRE_READ_KEY answers are `private` and vary with the key
headers, so no shared cache hands one key's answer to another client.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

from fastapi import Request
from starlette.responses import Response

from app.settings import Settings

JSON = "application/json"
GEOJSON = "application/geo+json"

IMMUTABLE_MAX_AGE = 365 * 24 * 3600
# A version is stamped with its transaction's start (now()), so a write that began before a moment and commits
# after it still changes the record as of that moment. A moment a day old is past any write transaction.
SETTLED_AFTER = timedelta(days=1)
# The headers a client's key travels in (app/api/auth.py reads both).
KEY_HEADERS = "Authorization, X-API-Key"


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _matches(if_none_match: str, etag: str) -> bool:
    if if_none_match.strip() == "*":
        return True
    # Weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags


def is_settled(as_of: datetime | None) -> bool:
    """Whether the record as of this moment can no longer change."""
    return as_of is not None and as_of <= datetime.now(UTC) - SETTLED_AFTER


def cache_headers(
    settings: Settings, *, as_of: datetime | None = None, max_age: int | None = None
) -> dict[str, str]:
    """Cache-Control (and Vary when reads need a key) for an answer read live, or as of `as_of`."""
    audience = "private" if settings.require_read_key else "public"
    if is_settled(as_of):
        freshness = f"max-age={IMMUTABLE_MAX_AGE}, immutable"
    else:
        seconds = settings.cache_max_age if max_age is None else max_age
        freshness = f"max-age={seconds}" if seconds else "no-cache"
    headers = {"Cache-Control": f"{audience}, {freshness}"}
    if settings.require_read_key:
        headers["Vary"] = KEY_HEADERS
    return headers


def cached(
    request: Request,
    body: str | bytes,
    *dates: date | None,
    media_type: str = JSON,
    max_age: int | None = None,
    as_of: datetime | None = None,
) -> Response:
    """The answer with its ETag and caching headers, or 304 Not Modified when the client already has it.

    `as_of`: the moment the answer was read as of (None: live). `max_age` lets a cache reuse a live answer for
    that many seconds instead of TERRITORY_CACHE_MAX_AGE. The dates the answer is about do not matter any more
    (a past date can still be corrected); they are accepted so that every route keeps its call."""
    content = body.encode() if isinstance(body, str) else body
    etag = etag_of(content)
    headers = {"ETag": etag, **cache_headers(request.app.state.settings, as_of=as_of, max_age=max_age)}
    if (if_none_match := request.headers.get("if-none-match")) and _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(content, media_type=media_type, headers=headers)
