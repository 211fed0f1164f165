"""The one page envelope: `{...head, "<items>": [...], "next": link | null, ...tail}`.

Items come as JSON text built by PostgreSQL; orjson splices them in as fragments (no parsing, no slicing), so
every paged answer (places, changes, events) is put together the same way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from app.db.queries.filters import Page


def page_body(
    items: Sequence[str | bytes],
    next_key: list[Any] | None,
    page: Page,
    *,
    name: str = "items",
    head: dict[str, Any] | None = None,
    tail: dict[str, Any] | None = None,
) -> bytes:
    """The envelope of a page of `items`; `next_key` is the sort key to continue after (None: the last page)."""
    body = {
        **(head or {}),
        name: [orjson.Fragment(item) for item in items],
        "next": None if next_key is None else page.link(next_key),
        **(tail or {}),
    }
    return orjson.dumps(body)
