"""`territory ingest FILE` against a real database: straight to it, and through a real uvicorn with a key."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import Result
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from app.cli import cli
from app.localdb import free_loopback_port
from app.paths import DATA_DIR
from app.settings import get_settings
from tests.conftest import new_key

EXAMPLES = DATA_DIR / "examples"
ERRORS = EXAMPLES / "events-with-errors.csv"
GOOD_ROWS_OF_ERRORS = ["raqqa-2016-11-06-wrath-of-euphrates", "mosul-2017-07-21-old-city-cleared"]


@pytest.fixture
def database_url(write_engine: AsyncEngine) -> Iterator[str]:
    """The write database's URL, as DATABASE_URL for the command."""
    url = write_engine.url.render_as_string(hide_password=False)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


async def territory(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    """Run the command in a thread: it runs its own event loop (asyncio.run), which ours cannot host."""
    get_settings.cache_clear()
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, cli, [str(a) for a in args], env=env)


async def recorded(engine: AsyncEngine, external_ids: list[str]) -> dict[str, Any]:
    """external_id -> recorded_by of the events (and of their first versions) found."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("""SELECT e.external_id, e.recorded_by, v.recorded_by AS version_by
                    FROM control_event AS e JOIN control_event_version AS v ON v.control_event_id = e.id
                    WHERE e.external_id = ANY(:ids) AND v.version = 1"""),
            {"ids": external_ids},
        )
        return {r.external_id: (r.recorded_by, r.version_by) for r in rows}


async def events_total(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text("SELECT count(*) FROM control_event")) or 0)


async def status_on(engine: AsyncEngine, place: str, on: str) -> str | None:
    async with engine.connect() as conn:
        return await conn.scalar(
            text("""SELECT c.status FROM control_period AS c JOIN place AS p ON p.id = c.place_id
                    WHERE p.slug = :place AND c.valid @> CAST(:on AS date)"""),
            {"place": place, "on": date.fromisoformat(on)},
        )


EXAMPLE_IDS = {
    "events.csv": [
        "ramadi-2016-02-09-cleared",
        "fallujah-2016-06-17-contested",
        "mosul-2016-10-17-battle-begins",
        "mosul-2017-02-19-west-offensive",
    ],
    "events.jsonl": [
        "tiyas-airbase-2016-12-12-attack-repelled",
        "palmyra-2017-01-13-counter-offensive",
        "deir-ez-zor-2017-02-14-offensive-ends",
        "aleppo-2016-11-15-offensive",
    ],
    "events.geojson": ["al-bab-2017-02-24-secured", "mare-2016-10-16-linked-up", "raqqa-2017-10-20-declared"],
}


@pytest.mark.parametrize("name", sorted(EXAMPLE_IDS))
async def test_each_format_ingests_and_a_second_run_creates_nothing(
    write_engine: AsyncEngine, database_url: str, name: str
) -> None:
    ids = EXAMPLE_IDS[name]
    first = await territory("ingest", EXAMPLES / name, env={"DATABASE_URL": database_url})
    assert first.exit_code == 0, first.output
    assert f"{len(ids)} rows in {name}: {len(ids)} created, 0 already present, 0 rejected" in first.stdout
    # Recorded by the command line: no API key, in the event and in its first version.
    assert await recorded(write_engine, ids) == dict.fromkeys(ids, (None, None))
    total = await events_total(write_engine)

    again = await territory(
        "ingest", EXAMPLES / name, "--batch-size", "2", env={"DATABASE_URL": database_url}
    )
    assert again.exit_code == 0, again.output
    assert f"0 created, {len(ids)} already present, 0 rejected" in again.stdout
    assert await events_total(write_engine) == total


async def test_ingested_events_shape_the_periods(write_engine: AsyncEngine, database_url: str) -> None:
    assert await status_on(write_engine, "fallujah", "2016-06-20") == "controlled"  # IS, per the seed
    result = await territory("ingest", EXAMPLES / "events.csv", env={"DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    assert await status_on(write_engine, "fallujah", "2016-06-16") == "controlled"
    assert await status_on(write_engine, "fallujah", "2016-06-20") == "contested"
    assert await status_on(write_engine, "fallujah", "2016-06-26") == "controlled"


async def test_bad_rows_are_listed_by_line_and_the_good_batches_land(
    write_engine: AsyncEngine, database_url: str
) -> None:
    result = await territory("ingest", ERRORS, "--batch-size", "1", env={"DATABASE_URL": database_url})
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert f"{ERRORS}:3: place: no place is known as 'Palmira'; did you mean palmyra?" in out
    assert f"{ERRORS}:4: date: " in out
    assert f"{ERRORS}:5: row: a month-precision date must be the first of the month" in out
    assert f"{ERRORS}:6: row: a controlled place needs an 'actor' that holds it" in out
    assert f"{ERRORS}:7: sources: no source is known as 'wikipedia'" in out
    assert f"{ERRORS}:8: kind: " in out
    assert f"{ERRORS}:9: external_id: 'palmyra-2016-12-11-is' is already recorded" in out
    assert f"{ERRORS}:10: external_id: is required in a file" in out
    assert "10 rows in events-with-errors.csv: 2 created, 0 already present, 8 rejected" in out
    assert set(await recorded(write_engine, GOOD_ROWS_OF_ERRORS)) == set(GOOD_ROWS_OF_ERRORS)
    assert not await recorded(
        write_engine, ["palmyra-2016-12-08-is-offensive", "azaz-2016-09-04-unknown-source"]
    )


async def test_a_rejected_batch_records_none_of_its_rows(
    write_engine: AsyncEngine, database_url: str
) -> None:
    total = await events_total(write_engine)
    result = await territory("ingest", ERRORS, "--json", env={"DATABASE_URL": database_url})
    assert result.exit_code == 1, result.output
    report = orjson.loads(result.stdout)
    # Rows 2, 3, 7, 9 and 11 parse and go in one batch; the database refuses places 3 and 7, so none of it lands.
    assert (report["created"], report["rejected"], report["not_recorded"]) == (0, 7, 3)
    assert {(e["line"], e["field"]) for e in report["errors"]} >= {
        (3, "place"),
        (7, "sources"),
        (10, "external_id"),
    }
    assert report["exit_code"] == 1
    assert await events_total(write_engine) == total


async def test_all_or_nothing_records_nothing_when_a_row_is_rejected(
    write_engine: AsyncEngine, database_url: str
) -> None:
    total = await events_total(write_engine)
    env = {"DATABASE_URL": database_url}
    result = await territory("ingest", ERRORS, "--batch-size", "1", "--all-or-nothing", env=env)
    assert result.exit_code == 1, result.output
    assert "--all-or-nothing: nothing was recorded" in result.stdout
    assert await events_total(write_engine) == total

    clean = await territory(
        "ingest", EXAMPLES / "events.csv", "--batch-size", "1", "--all-or-nothing", env=env
    )
    assert clean.exit_code == 0, clean.output
    assert await events_total(write_engine) == total + 4


async def test_dry_run_checks_references_and_writes_nothing(
    write_engine: AsyncEngine, database_url: str
) -> None:
    total = await events_total(write_engine)
    env = {"DATABASE_URL": database_url}
    good = await territory("ingest", EXAMPLES / "events.jsonl", "--dry-run", "--batch-size", "2", env=env)
    assert good.exit_code == 0, good.output
    assert "dry run, nothing was written: 4 rows in events.jsonl: 4 would be created" in good.stdout
    bad = await territory("ingest", ERRORS, "--dry-run", "--batch-size", "1", env=env)
    assert bad.exit_code == 1
    assert "place: no place is known as 'Palmira'" in bad.stdout  # found by the database, then rolled back
    assert "2 would be created, 0 already present, 8 rejected" in bad.stdout
    assert await events_total(write_engine) == total


async def test_a_file_repeating_an_external_id_with_other_content_names_both_lines(
    write_engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    lines = (EXAMPLES / "events.jsonl").read_text().splitlines()
    changed = lines[0].replace('"2016-12-12"', '"2016-12-13"')
    path = tmp_path / "repeats.jsonl"
    path.write_text("\n".join([lines[0], lines[1], lines[0], changed]) + "\n")
    result = await territory("ingest", path, env={"DATABASE_URL": database_url})
    assert result.exit_code == 1
    assert (
        f"{path}:4: external_id: 'tiyas-airbase-2016-12-12-attack-repelled' is also on line 1"
        in result.stdout
    )
    assert "4 rows in repeats.jsonl: 2 created, 1 already present, 1 rejected" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "nowhere.csv"], "no such file"),
        (["ingest", DATA_DIR / "README.md"], "give --format"),
        (["ingest", "x.csv", "--url", "http://127.0.0.1:9"], "--url needs an ingest key"),
        (
            ["ingest", "x.csv", "--url", "http://127.0.0.1:9", "--key", "k", "--all-or-nothing"],
            "use direct mode",
        ),
    ],
)
async def test_usage_and_file_errors_exit_2(args: list[str | Path], message: str) -> None:
    result = await territory(*args, env={"DATABASE_URL": "postgresql://unused@127.0.0.1:9/none"})
    assert result.exit_code == 2
    assert message in result.output


# --url: a real uvicorn on a free loopback port, with small limits so the command meets a 413 and 429s.
@contextlib.contextmanager
def uvicorn_on(database_url: str, **settings: str) -> Iterator[str]:
    port = free_loopback_port()
    env = {**os.environ, "DATABASE_URL": database_url, "TERRITORY_LOG_LEVEL": "warning", **settings}
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # generous: a loaded machine takes many seconds to import the app
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=10).status_code == 200:
                    break
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, "uvicorn did not answer /healthz"
            time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
async def api(write_engine: AsyncEngine, database_url: str) -> AsyncIterator[str]:
    # At most 2 events a batch; 30 requests a minute per key, in bursts of 3.
    with uvicorn_on(database_url, TERRITORY_MAX_BATCH="2", TERRITORY_RATE_LIMIT_PER_MINUTE="30") as base:
        yield base


async def test_url_mode_sends_batches_with_the_key(write_engine: AsyncEngine, api: str) -> None:
    key = await new_key(write_engine, "ingest", name="nightly-ingest")
    env = {"TERRITORY_API_KEY": key}
    # 4 events in batches of 4: the service takes 2 (413), so the command sends halves.
    result = await territory("ingest", EXAMPLES / "events.jsonl", "--url", api, "--batch-size", "4", env=env)
    assert result.exit_code == 0, result.output
    assert "4 created, 0 already present, 0 rejected" in result.stdout
    ids = EXAMPLE_IDS["events.jsonl"]
    async with write_engine.connect() as conn:
        by = set(
            await conn.scalars(
                text("""SELECT k.name FROM control_event AS e JOIN api_key AS k ON k.id = e.recorded_by
                        WHERE e.external_id = ANY(:ids)"""),
                {"ids": ids},
            )
        )
    assert by == {"nightly-ingest"}

    # A request a row (5 parse): more than the key's burst of 3, so 429s come, retried after their Retry-After.
    env = {"TERRITORY_API_KEY": await new_key(write_engine, "ingest")}
    errors = await territory("ingest", ERRORS, "--url", api, "--batch-size", "1", "--json", env=env)
    assert errors.exit_code == 1, errors.output
    report = orjson.loads(errors.stdout)
    assert (report["created"], report["rejected"]) == (2, 8)
    assert {(e["line"], e["field"]) for e in report["errors"]} == {
        (3, "place"),
        (4, "date"),
        (5, "row"),
        (6, "row"),
        (7, "sources"),
        (8, "kind"),
        (9, "external_id"),  # 409: recorded with other content
        (10, "external_id"),
    }
    assert report["retries"] >= 1  # it waited for the rate limit rather than failing
    assert set(await recorded(write_engine, GOOD_ROWS_OF_ERRORS)) == set(GOOD_ROWS_OF_ERRORS)


async def test_url_mode_with_a_refused_key_exits_2(write_engine: AsyncEngine, api: str) -> None:
    read_key = await new_key(write_engine, "read")
    result = await territory("ingest", EXAMPLES / "events.csv", "--url", api, "--key", read_key)
    assert result.exit_code == 2
    assert "refused the key (403)" in result.output
    assert not await recorded(write_engine, EXAMPLE_IDS["events.csv"])


async def test_url_dry_run_only_parses(write_engine: AsyncEngine) -> None:
    result = await territory("ingest", ERRORS, "--url", "http://127.0.0.1:9", "--dry-run")
    assert result.exit_code == 1
    assert "dry run, nothing was sent" in result.stdout
    assert "5 valid, 5 rejected" in result.stdout
