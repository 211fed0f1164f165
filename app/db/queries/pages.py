"""The one page envelope: `{...head, "<items>": [...], "next": link | null, ...tail}`.

Items come as JSON text built by PostgreSQL; orjson splices them in as fragments (no parsing, no slicing), so
every paged answer (places, changes, events) is put together the same way."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from typing import Any

import orjson

from app.db.queries.filters import Page
from app.db.queries.streams import Batches


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


async def page_chunks(
    batches: Batches,
    page: Page,
    *,
    name: str = "items",
    head: dict[str, Any] | None = None,
    tail: dict[str, Any] | None = None,
) -> AsyncGenerator[bytes, None]:
    """The bytes `page_body` gives, a batch at a time, from rows of (`id`, `item`) in id order, one more than
    the page when there is a next one (rows whose `id` is None are skipped: a reference filter's row)."""
    sent, last_id, more = 0, None, False
    async with aclosing(batches):  # the cursor closed before its connection, also when the client leaves
        yield orjson.dumps({**(head or {}), name: []})[:-2]  # up to the items' "["
        async for rows in batches:
            items = []
            for row in rows:
                if row.id is None:
                    continue
                if sent == page.limit:
                    more = True
                    break
                items.append(row.item)
                sent, last_id = sent + 1, row.id
            if items:
                yield (b"," if sent > len(items) else b"") + ",".join(items).encode()
    closing = {"next": page.link([last_id]) if more else None, **(tail or {})}
    yield b"]," + orjson.dumps(closing)[1:]
