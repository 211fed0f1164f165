"""Schemathesis over every operation of the OpenAPI, against a real uvicorn on a database of its own (writes with
an admin key): no answer is a server error, and every answer fits its declared schema.

Bounded and deterministic: a fixed number of examples per operation, derandomized (the same cases each run, on
a fresh copy of the seeded database). The live stream is left out: it answers for as long as its client stays.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import text

from app.db.engine import create_engine
from app.main import create_app
from app.services import keys
from app.settings import Settings
from tests.conftest import TEMPLATE, database_on

# Cases per operation, valid and invalid ones: the suite's run takes about a minute. More explore further.
EXAMPLES = int(os.environ.get("TERRITORY_FUZZ_EXAMPLES", "15"))
DATABASE = "territory_fuzz"


@dataclass
class Api:
    base: str
    headers: dict[str, str]


@pytest.fixture(scope="module")
def api(server_url: str, template_database: str) -> Iterator[Api]:
    """The app under uvicorn in a thread with its own event loop, on a fresh copy of the seeded database."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{listening.getsockname()[1]}"
    url = database_on(server_url, DATABASE)
    state: dict[str, object] = {}
    ready = threading.Event()

    async def serve() -> None:
        admin = create_engine(database_on(server_url, "postgres"), pool_size=1).execution_options(
            isolation_level="AUTOCOMMIT"
        )
        async with admin.connect() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
            await connection.execute(text(f"CREATE DATABASE {DATABASE} TEMPLATE {TEMPLATE}"))
        await admin.dispose()
        engine = create_engine(url, pool_size=1)
        async with engine.begin() as connection:
            _, secret = await keys.create_key(connection, name="fuzz", scope="admin")
        await engine.dispose()
        state["key"] = secret
        app = create_app(Settings(database_url=url, rate_limit_per_minute=1_000_000, max_batch=50))
        server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="error"))
        state["server"] = server
        task = asyncio.create_task(server.serve(sockets=[listening]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        ready.set()
        await task

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert ready.wait(60), "the server did not start"
    try:
        yield Api(base, {"Authorization": f"Bearer {state['key']}"})
    finally:
        server = state["server"]
        assert isinstance(server, uvicorn.Server)
        server.should_exit = True
        thread.join(30)
        listening.close()


@pytest.fixture(scope="module")
def api_schema(api: Api) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{api.base}/openapi.json")


@dataclass(frozen=True)
class Failure:
    operation: str  # "POST /v1/events"
    status: int
    check: str  # the failed check's title: "Server error", "Response violates schema"
    detail: str  # its first line, and the case as a curl command

    def __str__(self) -> str:
        return f"{self.operation} -> {self.status}: {self.check}: {self.detail}"


# Answers that do not fit their declared schema, found by this run (with 40 cases per operation), in the
# contract the read layer owns: the `errors` items of 409 and 422 problems the services build (`differs`,
# `sent`, `stored`, `id`; no `location`) are not the field errors the Problem schema declares. Reported there;
# listed here so that the run fails on any new one. A server error is never listed.
KNOWN_CONTRACT_GAPS = {
    ("POST /v1/events", 409),
    ("POST /v1/events", 422),
    ("PATCH /v1/events/{event_id}", 422),
    ("POST /v1/places", 409),
    ("POST /v1/actors", 409),
    ("POST /v1/coalitions", 409),
    ("POST /v1/sources", 409),
}


def fuzz(operation: APIOperation, api: Api) -> list[Failure]:
    """Run the operation's cases (valid and invalid ones); every failed check, as found (no shrinking)."""
    failures: list[Failure] = []
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
    )

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=api.base, headers=api.headers, timeout=30)
        try:
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
        except FailureGroup as group:
            for failure in group.exceptions:
                first_line = (failure.message or "").strip().splitlines()[:1]
                failures.append(
                    Failure(
                        operation.label,
                        response.status_code,
                        failure.title,
                        f"{''.join(first_line)} [{case.as_curl_command()}]",
                    )
                )

    run()
    return failures


def test_no_server_error_and_every_answer_fits_its_schema(api: Api) -> None:
    schema = schemathesis.openapi.from_url(f"{api.base}/openapi.json")
    failures: list[Failure] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/v1/events/stream":
            continue
        operations += 1
        failures += fuzz(operation, api)
    assert operations > 20
    server_errors = [f for f in failures if f.status >= 500]
    assert server_errors == [], "\n".join(map(str, server_errors))
    new_gaps = [f for f in failures if (f.operation, f.status) not in KNOWN_CONTRACT_GAPS]
    assert new_gaps == [], "\n".join(map(str, new_gaps))
