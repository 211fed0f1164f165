"""A transaction holding a place's row lock: writers of that place time out with 503 (and store nothing), while
reads of other places and the writers' own key lookups keep answering. Real uvicorn, the app's own pools."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.listen import plain_url
from tests.api.test_events_feed import new_event
from tests.conftest import new_key
from tests.live_server import serving
from tests.reliability.conftest import TIMEOUT, app_for

LOCK_TIMEOUT = 1.0
POOL_TIMEOUT = 0.5
WRITERS = (
    12  # more than the write pool and its overflow (2 + 2): some wait for a connection, some for the lock
)


async def test_writers_queued_on_a_held_lock_get_503_and_reads_still_answer(
    write_engine: AsyncEngine,
) -> None:
    url = plain_url(write_engine.url)
    headers = {"Authorization": f"Bearer {await new_key(write_engine, 'ingest')}"}
    app = app_for(
        url,
        write_pool_size=2,
        pool_size=4,
        lock_timeout_seconds=LOCK_TIMEOUT,
        pool_timeout_seconds=POOL_TIMEOUT,
    )
    holder = await asyncpg.connect(url)
    try:
        async with (
            serving(app, lifespan="on", timeout=TIMEOUT) as base,
            httpx.AsyncClient(base_url=base, timeout=10) as client,
        ):
            holding = holder.transaction()
            await holding.start()
            await holder.execute("SELECT 1 FROM place WHERE slug = 'palmyra' FOR UPDATE")

            async def write(n: int) -> tuple[httpx.Response, float]:
                started = time.monotonic()
                event = new_event(3 * n, external_id=f"held-lock-{n}")  # n*3: always palmyra
                response = await client.post("/v1/events", json=event, headers=headers)
                return response, time.monotonic() - started

            writers = [asyncio.create_task(write(n)) for n in range(WRITERS)]
            await asyncio.sleep(0.2)  # the writers are queued now
            # Reads of other places answer while the writers wait, each within a second.
            async with httpx.AsyncClient(base_url=base, timeout=1.0) as reader:
                for slug in ("raqqa", "al-bab", "mosul", "raqqa"):
                    answer = await reader.get(f"/v1/places/{slug}/control", params={"at": "2016-06-01"})
                    assert answer.status_code == 200, answer.text
                assert (await reader.get("/v1/actors")).status_code == 200
            answers = await asyncio.gather(*writers)
            await holding.rollback()

            for response, took in answers:
                assert response.status_code == 503, response.text
                assert response.headers["content-type"] == "application/problem+json"
                assert int(response.headers["retry-after"]) >= 1
                # Within its timeout: the lock wait, or the wait for a connection, never both at length.
                assert took < LOCK_TIMEOUT + POOL_TIMEOUT + 1.5
            reasons = {response.json()["reason"] for response, _ in answers}
            assert any("lock" in reason for reason in reasons)
            assert any("busy" in reason for reason in reasons)

            # The lock is gone: nothing of the timed-out writes landed, and a write goes through again.
            await asyncio.sleep(LOCK_TIMEOUT)
            stored = await holder.fetchval(
                "SELECT count(*) FROM control_event WHERE external_id LIKE 'held-lock-%'"
            )
            assert stored == 0
            again = await client.post(
                "/v1/events", json=new_event(0, external_id="held-lock-after"), headers=headers
            )
            assert again.status_code == 201, again.text
    finally:
        await holder.close()
