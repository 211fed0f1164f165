"""Reads derived at read time (as_of, confidence=) of one place are planned once per connection, not per request:
PostgreSQL kept planning them anew (~10 ms for ~2 ms of work at 100,000 places), so they run with their generic
plan (app/db/reads.py, GENERIC_PLAN)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.deps import read_connection
from app.db.engine import create_engine, read_only
from app.db.reads import ReadConnection
from tests.api.test_corrections import moment

PLANS = text(
    "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%derive_place_states%'"
)
DATES = ("2015-05-01", "2015-06-01", "2016-03-01", "2016-12-20", "2017-03-02", "2017-07-15", "2017-10-20")


@pytest.mark.parametrize("derived", ["as_of", "confidence"])
async def test_a_derived_one_place_read_keeps_its_generic_plan(
    client: httpx.AsyncClient, engine: AsyncEngine, server_url: str, derived: str
) -> None:
    # The reads on a session of their own (one pooled connection), so that its prepared statements are theirs.
    own = read_only(create_engine(server_url, pool_size=1, max_overflow=0))
    app = client._transport.app  # type: ignore[attr-defined]
    app.dependency_overrides[read_connection] = lambda: ReadConnection(own)
    params = {"as_of": await moment(engine)} if derived == "as_of" else {"confidence": "confirmed"}
    try:
        answers = set()
        for at in DATES:
            response = await client.get("/v1/places/palmyra/control", params={"at": at, **params})
            assert response.status_code == 200, response.text
            answers.add(response.json()["controller"] and response.json()["controller"]["slug"])
        assert len(answers) > 1  # the dates do differ: one plan serves them all
        plans = [tuple(row) for row in await ReadConnection(own).execute(PLANS)]
    finally:
        await own.dispose()
    # One statement answered the seven reads, and none of its runs (nor of a statement beside it) was planned for
    # its values: PostgreSQL planned the first five for theirs, and at 100,000 places every one.
    assert max(plans) == (len(DATES), 0)
    assert {custom for _, custom in plans} == {0}
