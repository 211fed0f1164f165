"""HTTP caching for GET answers: a strong ETag over the body, 304 on a match, Cache-Control by date."""

from __future__ import annotations

import hashlib
from datetime import date

from fastapi import Request
from starlette.responses import Response

from app.settings import Settings

JSON = "application/json"
GEOJSON = "application/geo+json"


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _matches(if_none_match: str, etag: str) -> bool:
    if if_none_match.strip() == "*":
        return True
    # Weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags


def cache_control(settings: Settings, *dates: date | None) -> str:
    """Past dates change only when the record is corrected: cache long. Today (or no date): briefly."""
    if dates and all(d is not None and d < date.today() for d in dates):
        return f"public, max-age={settings.cache_max_age_past}"
    return f"public, max-age={settings.cache_max_age_today}"


def cached(
    request: Request,
    body: str | bytes,
    *dates: date | None,
    media_type: str = JSON,
    max_age: int | None = None,
) -> Response:
    """The answer with its ETag and Cache-Control, or 304 Not Modified when the client already has it.

    `max_age` overrides the date rule, for answers that change with every write."""
    content = body.encode() if isinstance(body, str) else body
    etag = etag_of(content)
    control = (
        cache_control(request.app.state.settings, *dates) if max_age is None else f"public, max-age={max_age}"
    )
    headers = {"ETag": etag, "Cache-Control": control}
    if (if_none_match := request.headers.get("if-none-match")) and _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(content, media_type=media_type, headers=headers)
