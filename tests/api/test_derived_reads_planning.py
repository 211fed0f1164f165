"""Reads derived at read time (as_of, confidence=) of one place are planned once per connection, not per request:
PostgreSQL kept planning them anew (~10 ms for ~2 ms of work at 100,000 places), so they run with their generic
plan (app/db/reads.py, GENERIC_PLAN)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.api.test_corrections import moment

PLANS = text(
    "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
    " WHERE statement LIKE '%derive_place_states%' AND statement LIKE :shape"
)
DATES = ("2015-05-01", "2015-06-01", "2016-03-01", "2016-12-20", "2017-03-02", "2017-07-15", "2017-10-20")


@pytest.mark.parametrize(
    ("derived", "shape"),
    [("as_of", "%place_version%"), ("confidence", "%control_event AS (%")],
)
async def test_a_derived_one_place_read_keeps_its_generic_plan(
    client: httpx.AsyncClient, conn: AsyncConnection, engine: AsyncEngine, derived: str, shape: str
) -> None:
    params = {"as_of": await moment(engine)} if derived == "as_of" else {"confidence": "confirmed"}
    answers = set()
    for at in DATES:
        response = await client.get("/v1/places/palmyra/control", params={"at": at, **params})
        assert response.status_code == 200, response.text
        answers.add(response.json()["controller"] and response.json()["controller"]["slug"])
    assert len(answers) > 1  # the dates do differ: one plan serves them all
    plans = (await conn.execute(PLANS, {"shape": shape})).all()
    # One statement prepared on the read connection answered the seven reads; none of its runs (nor of the
    # statements beside it) was planned for its values.
    assert max(generic for generic, _ in plans) == len(DATES)
    assert [custom for _, custom in plans] == [0] * len(plans)


async def test_a_derived_map_is_planned_for_its_values(
    client: httpx.AsyncClient, conn: AsyncConnection, engine: AsyncEngine
) -> None:
    now = await moment(engine)
    # A bbox's places are many: its generic plan was slower (README, "Speed"), so it keeps its custom plans.
    for at in DATES[:3]:
        response = await client.get("/v1/control", params={"at": at, "as_of": now, "bbox": "36,33,41,37"})
        assert response.status_code == 200, response.text
    plans = (await conn.execute(PLANS, {"shape": "%ST_MakeEnvelope%"})).all()
    assert [tuple(p) for p in plans] == [(0, 3)]
