"""Ingestion throughput: batches of new events POSTed to /v1/events/batch, by one client and by several at once.

Every batch is made (and serialised) before the clock starts, so the numbers are the service's, not the driver's.
The events are new and never clash: random places, actors and kinds of the dataset, dated after everything it
holds, one event per place and day. They go to a scratch copy of the scale's database (CREATE DATABASE ...
TEMPLATE, a file copy), dropped afterwards: the dataset stays as generated and every run starts from the same state.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy.engine import make_url

from app.db.engine import create_engine
from app.services import keys
from bench.generate import Dataset, database_url, query

NAME = "ingest-1000"
BATCH = 1_000
CLIENTS = (1, 2, 4)
SPREAD_DAYS = 2_557  # seven years of dates after the dataset's last event


@dataclass(frozen=True)
class IngestResult:
    clients: int
    batches: int
    events: int  # created
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # batches not answered 201 with every event created
    retries: int  # 503s (a write that could not be serialised) or 429s, sent again

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds

    def __str__(self) -> str:
        return (
            f"{self.clients} client(s), {self.batches} batches: {self.events_per_s:,.0f} events/s, "
            f"p50 {self.p50_ms:.0f} ms, p99 {self.p99_ms:.0f} ms per batch, {self.errors} errors, "
            f"{self.retries} retries"
        )


class Events:
    """New events on the dataset's places: one per place and day, so no two give a place two holders a day."""

    def __init__(self, dataset: Dataset, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.places = [r[0] for r in query(dataset.url, "SELECT slug FROM place ORDER BY id")]
        self.actors = [r[0] for r in query(dataset.url, "SELECT slug FROM actor ORDER BY id")]
        [(last,)] = query(dataset.url, "SELECT max(occurred_on) FROM control_event")
        self.first_day: date = last + timedelta(days=1)
        self.used: set[tuple[int, int]] = set()
        self.run = uuid.uuid4().hex[:8]  # external_ids unique per run, even if a cleanup was missed
        self.count = 0

    def one(self) -> dict[str, Any]:
        while True:
            place, day = self.rng.randrange(len(self.places)), self.rng.randrange(SPREAD_DAYS)
            if (place, day) not in self.used:
                self.used.add((place, day))
                break
        holder, other = self.rng.sample(self.actors, 2)
        self.count += 1
        event: dict[str, Any] = {
            "external_id": f"bench-ingest-{self.run}-{self.count}",
            "place": self.places[place],
            "date": (self.first_day + timedelta(days=day)).isoformat(),
            "sources": ["bench"],
        }
        draw = self.rng.random()
        if draw < 0.8:
            return event | {"kind": "captured", "actor": holder, "loses": other, "status": "controlled"}
        if draw < 0.9:
            return event | {"kind": "besieged", "actor": holder, "status": "besieged", "parties": [other]}
        return event | {"kind": "contested", "status": "contested", "parties": [holder, other]}

    def bodies(self, batches: int) -> list[bytes]:
        return [orjson.dumps({"events": [self.one() for _ in range(BATCH)]}) for _ in range(batches)]


def ingest_key(url: str) -> str:
    async def create() -> str:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.begin() as conn:
                _, secret = await keys.create_key(conn, name="bench-ingest", scope="ingest")
                return secret
        finally:
            await engine.dispose()

    return asyncio.run(create())


async def post(http: httpx.AsyncClient, body: bytes) -> tuple[float, bool, int]:
    """(seconds, every event created, retries): 503 and 429 are sent again after their Retry-After."""
    retries = 0
    started = time.perf_counter()
    while True:
        response = await http.post("/v1/events/batch", content=body)
        if response.status_code in (429, 503) and retries < 5:
            retries += 1
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            continue
        ok = response.status_code == 201 and response.json()["created"] == BATCH
        return time.perf_counter() - started, ok, retries


async def drive(base: str, key: str, bodies: list[bytes], clients: int) -> IngestResult:
    """`clients` connections, each sending its share of the batches one after the other."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    shares = [bodies[i::clients] for i in range(clients)]
    results: list[tuple[float, bool, int]] = []

    async def client(share: list[bytes]) -> None:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=300) as http:
            for body in share:
                results.append(await post(http, body))

    started = time.perf_counter()
    await asyncio.gather(*(client(share) for share in shares))
    seconds = time.perf_counter() - started
    latencies = sorted(r[0] * 1000 for r in results)
    created = BATCH * sum(1 for r in results if r[1])
    return IngestResult(
        clients=clients,
        batches=len(bodies),
        events=created,
        seconds=seconds,
        p50_ms=statistics.median(latencies),
        p99_ms=latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))],
        errors=sum(1 for r in results if not r[1]),
        retries=sum(r[2] for r in results),
    )


@contextlib.contextmanager
def scratch_copy(server_url: str, dataset: Dataset) -> Iterator[Dataset]:
    """A copy of the dataset's database for the writes, dropped afterwards (the original must have no sessions)."""
    original = make_url(dataset.url).database
    name = f"{original}_ingest"
    admin = database_url(server_url, "postgres")
    query(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    # FILE_COPY: a checkpoint and a copy of the files, much faster than WAL-logging every page of a large one.
    query(admin, f"CREATE DATABASE {name} TEMPLATE {original} STRATEGY FILE_COPY")
    try:
        yield replace(dataset, url=database_url(server_url, name))
    finally:
        query(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run(dataset: Dataset, base: str, batches: int) -> list[IngestResult]:
    """A warm-up batch, then `batches` batches by 1, 2 and 4 clients."""
    events = Events(dataset)
    key = ingest_key(dataset.url)
    asyncio.run(drive(base, key, events.bodies(1), 1))  # warm-up: connections, plans, caches
    results = []
    for clients in CLIENTS:
        result = asyncio.run(drive(base, key, events.bodies(batches), clients))
        print(f"[bench] {dataset.scale} {NAME}: {result}", flush=True)
        results.append(result)
    return results
