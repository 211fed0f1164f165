"""The `territory` command against the seeded test database."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from app.cli import CORES, cli
from app.localdb import free_loopback_port
from app.settings import get_settings


@pytest.fixture
def cli_env(engine: AsyncEngine, server_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", server_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("place", "on", "expected"),
    [
        (
            "Palmyra",
            "2016-12-10",
            "Palmyra on 2016-12-10: Syrian Arab Army (since 2016-03-27, until 2016-12-11, controlled; source: ",
        ),
        (
            "Tadmur",
            "2016-12-20",
            "Palmyra on 2016-12-20: Islamic State (since 2016-12-11, until 2017-03-02, controlled; source: ",
        ),
        (
            # Not a stored spelling: the airport named after the city, in one of the city's spellings.
            "Deir ez-Zour airport",
            "2017-01-20",
            "Deir ez-Zor Military Airport on 2017-01-20: Syrian Arab Army, besieged by Islamic State",
        ),
        ("Palmira airport", "2017-01-20", None),
        (
            "deir-ez-zor-airport",
            "2017-01-20",
            "Deir ez-Zor Military Airport on 2017-01-20: Syrian Arab Army, besieged by Islamic State",
        ),
        (
            "Aleppo",
            "2016-12-21",
            "Aleppo on 2016-12-21: contested between Syrian Arab Army and Syrian rebels",
        ),
    ],
)
def test_who_held_prints_one_line(cli_env: CliRunner, place: str, on: str, expected: str | None) -> None:
    result = cli_env.invoke(cli, ["who-held", place, on])
    if expected is None:
        assert result.exit_code == 1  # not a known spelling
        return
    assert result.exit_code == 0, result.output
    assert result.output.startswith(expected)
    assert result.output.count("\n") == 1


def test_who_held_rejects_an_impossible_date(cli_env: CliRunner) -> None:
    result = cli_env.invoke(cli, ["who-held", "Palmyra", "2016-13-45"])
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output


def test_who_held_before_anything_is_known(cli_env: CliRunner) -> None:
    result = cli_env.invoke(cli, ["who-held", "Palmyra", "2001-01-01"])
    assert result.exit_code == 0
    assert "unknown" in result.output


def test_served_app_logs_its_own_messages(capsys: pytest.CaptureFixture[str]) -> None:
    # Writes are audited on the `territory` logger at INFO; uvicorn's default config would drop them.
    import logging
    import logging.config

    from app.cli import log_config

    logger = logging.getLogger("territory")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    try:
        logging.config.dictConfig(log_config("info"))
        logger.info("place test created by key abc (nightly)")
        logger.debug("not at info")
    finally:
        logger.handlers, logger.level, logger.propagate = saved
    err = capsys.readouterr().err
    assert "place test created by key abc (nightly)" in err
    assert "not at info" not in err


def test_who_held_an_unknown_place_prints_the_suggestions(cli_env: CliRunner) -> None:
    result = cli_env.invoke(cli, ["who-held", "Palmira", "2016-12-20"])
    assert result.exit_code == 1
    assert "No place is known as 'Palmira'. Did you mean Palmyra?" in result.output


# Runs the command as `territory` would, then reports which of the heavy packages it had imported.
IMPORTS_OF_A_RUN = """
import json, sys
from app.cli import main
sys.argv = ["territory", *sys.argv[1:]]
try:
    main()
finally:
    heavy = ("fastapi", "uvicorn", "sqlalchemy", "app.api", "app.main", "app.schemas", "app.ingest")
    print(json.dumps(sorted(m for m in sys.modules if m.startswith(heavy))), file=sys.stderr)
"""


def imports_of(
    *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    run = subprocess.run(
        [sys.executable, "-c", IMPORTS_OF_A_RUN, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return run, set(json.loads(run.stderr.strip().splitlines()[-1]))


def test_help_imports_neither_the_api_nor_the_database_layer() -> None:
    run, imported = imports_of("--help")
    assert run.returncode == 0, run.stderr
    assert "who-held" in run.stdout and "serve" in run.stdout
    assert imported == set()


def test_who_held_imports_the_database_layer_but_not_the_api(server_url: str, engine: AsyncEngine) -> None:
    run, imported = imports_of("who-held", "Tadmur", "2016-12-20", env={"DATABASE_URL": server_url})
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("Palmyra on 2016-12-20: Islamic State")
    assert "sqlalchemy" in imported  # the run did reach the database
    assert {m for m in imported if m.startswith(("fastapi", "uvicorn", "app.api", "app.main"))} == set()


def test_serve_defaults_to_one_worker_per_core() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"], env={"COLUMNS": "200", "TERRITORY_WORKERS": None})
    assert result.exit_code == 0
    assert f"[default: {CORES}]" in result.output
    assert CORES == len(os.sched_getaffinity(0))


STARTUP_SECONDS = 180  # a served app's workers have this long to start


def worker_pids(supervisor: int) -> set[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    # uvicorn spawns its workers through multiprocessing: each runs `spawn_main`.
    return {int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()}


@contextlib.contextmanager
def serving(database_url: str, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_loopback_port()
    env = {**os.environ, "DATABASE_URL": database_url, "TERRITORY_LOG_LEVEL": "warning"}
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # Generous: on a loaded machine the workers' imports and a first /readyz (both pools, the migrations'
        # head) take many seconds, and a short client timeout would give up on every first answer.
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/readyz", timeout=10).status_code == 200:
                    break
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, "the server did not answer /readyz"
            time.sleep(0.2)
        yield server, base
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_serve_runs_the_asked_number_of_workers(server_url: str, engine: AsyncEngine) -> None:
    with serving(server_url, "--workers", "2") as (server, base):
        # One worker answered; uvicorn's supervisor replaces a worker that misses its health check (a slow start
        # on a loaded machine), so the count is read until it settles, and must settle at two.
        deadline = time.monotonic() + STARTUP_SECONDS
        while len(workers := worker_pids(server.pid)) != 2:
            assert time.monotonic() < deadline, f"workers: {sorted(workers)}"
            time.sleep(0.2)
        answer = httpx.get(f"{base}/v1/places/palmyra/control", params={"at": "2016-12-20"}, timeout=30)
        assert answer.status_code == 200 and answer.json()["controller"]["slug"] == "islamic-state"
    assert server.returncode is not None
