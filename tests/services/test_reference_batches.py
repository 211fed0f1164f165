"""How event writes resolve place references: id, slug or spelling, each by an index."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries.references import RESOLVE


async def test_place_references_by_id_slug_and_spelling(conn: AsyncConnection) -> None:
    palmyra = await conn.scalar(text("SELECT id FROM place WHERE slug = 'palmyra'"))
    refs = [str(palmyra), "palmyra", "Tadmur", f"0{palmyra}", "99999999999999999999", "Palmira"]
    found = {
        ref: [m["slug"] for m in matches]
        for ref, matches in await conn.execute(RESOLVE["place"], {"refs": refs})
    }
    assert found == {
        str(palmyra): ["palmyra"],
        "palmyra": ["palmyra"],
        "Tadmur": ["palmyra"],
        f"0{palmyra}": [],  # an id is written as the number is, as before: no leading zeros
        "99999999999999999999": [],  # too large for an id: no match, not an error
        "Palmira": [],
    }


def scans(node: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    yield node["Node Type"], node.get("Relation Name")
    for child in node.get("Plans", []):
        yield from scans(child)


async def test_place_references_can_use_the_indexes(conn: AsyncConnection) -> None:
    # With sequential scans priced out, the plan shows whether an index path exists at all: `id::text = ref`
    # had none, and read every place once per reference (38 s for 1,000 references at 100,000 places).
    await conn.execute(text("SET LOCAL enable_seqscan = off"))
    sql = "EXPLAIN (FORMAT JSON) " + str(RESOLVE["place"]).replace(":refs", "CAST(:refs AS text[])", 1)
    [plan] = await conn.scalar(text(sql), {"refs": ["palmyra", "1"]})
    assert ("Seq Scan", "place") not in set(scans(plan["Plan"]))
