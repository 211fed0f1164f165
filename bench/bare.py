"""`python -m bench.bare`: what this machine can do for the hot reads, measured next to Territory.

Three columns for the one-place read (`control-one`) and the 100-place map (`map-100`), on the same bench
database and the same requests:
- **Territory**, as `python -m bench.run` serves it (the response cache off);
- **bare**: a minimal FastAPI app (`bench.bare:create_app`), one route per read, running Territory's own
  statement on an asyncpg pool and answering the JSON PostgreSQL built, with nothing else: no middleware,
  dependencies, ETag, gzip, replicas or problem details. Same uvicorn (uvloop, httptools, no access log),
  same number of workers; Territory and bare alternate, scenario by scenario, --repetitions times;
- **PostgreSQL alone**: pgbench on the same statement with random places, dates and boxes (prepared, as asyncpg
  runs it), `--connections` clients, as many pgbench threads as cores: the ceiling of the database itself.

The bare app is the ceiling of a Python worker on this machine; Territory's gap to it is its per-request
overhead (README, "The per-request overhead of hot reads").
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
from fastapi import FastAPI
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import make_url
from starlette.responses import Response

from app.db.queries.as_of import PLACES_IN_BBOX, REFERENCED_PLACE, at_moment
from app.db.queries.control import CONTROL_AT, control_map_sql
from app.db.queries.references import ref_params
from app.db.reads import positional
from app.localdb import LocalCluster
from bench import scenarios
from bench.generate import EAST, NORTH, SCALES, SOUTH, WEST, Dataset, prepare, query
from bench.load import WrkResult, require_wrk
from bench.run import RESULTS, check, machine, measure, serving, serving_command

NAMES = ("control-one", "map-100")
FIRST_DAY, DAYS = date(2012, 1, 1), (date(2017, 12, 31) - date(2012, 1, 1)).days  # the scenarios' dates


def statements() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Territory's statement of each read as asyncpg runs it ($n) and its parameter names in order."""
    dialect = asyncpg_dialect()
    one = at_moment(CONTROL_AT.text, None, REFERENCED_PLACE)
    area = at_moment(
        control_map_sql(bbox=True, actor=False, coalition=False, kinds=False), None, PLACES_IN_BBOX
    )
    plans = {
        name: positional(statement, dialect) for name, statement in (("control-one", one), ("map-100", area))
    }
    return {name: plan for name, plan in plans.items() if plan is not None}


def create_app() -> FastAPI:
    """The bare app (uvicorn's factory): DATABASE_URL names the bench database."""
    plans = statements()
    sql_one, names_one = plans["control-one"]
    sql_map, names_map = plans["map-100"]
    pool: asyncpg.Pool

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal pool
        url = make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql")
        pool = await asyncpg.create_pool(url.render_as_string(hide_password=False), min_size=10, max_size=10)
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)

    async def body(sql: str, names: tuple[str, ...], values: dict[str, Any]) -> Response:
        async with pool.acquire() as connection:
            row = await connection.fetchrow(sql, *(values.get(name) for name in names))
        assert row is not None
        return Response(row["body"].encode(), media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/places/{ref}/control")
    async def control_one(ref: str, at: date) -> Response:
        return await body(sql_one, names_one, {**ref_params(ref), "at": at})

    @app.get("/v1/control")
    async def control_map(at: date, bbox: str) -> Response:
        west, south, east, north = (float(v) for v in bbox.split(","))
        values = {"at": at, "west": west, "south": south, "east": east, "north": north}
        return await body(sql_map, names_map, values)

    return app


def bare_command(workers: int) -> Callable[[int], list[str]]:
    def command(port: int) -> list[str]:
        return [
            *(sys.executable, "-m", "uvicorn", "bench.bare:create_app", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
            *("--no-access-log", "--log-level", "warning"),
        ]

    return command


def pgbench_script(name: str, places: tuple[int, int]) -> str:
    """The statement as pgbench runs it: each parameter a pgbench variable drawn at random (a place by its id, a
    date of the scenarios, a box meant to hold ~100 places), or NULL (the filters a bench request leaves out)."""
    sql, names = statements()[name]
    first, last = places
    draws = [f"\\set day random(0, {DAYS})"]
    expressions = {"at": f"(DATE '{FIRST_DAY}' + CAST(:day AS integer))"}
    if name == "control-one":
        draws.append(f"\\set place random({first}, {last})")
        expressions |= {"ref": "CAST(:place AS text)", "ref_id": "CAST(:place AS bigint)"}
    else:
        side = ((100 * (EAST - WEST) * (NORTH - SOUTH)) / (last - first + 1)) ** 0.5
        draws += [
            f"\\set west {WEST} + random(0, 1000000) * {EAST - WEST - side} / 1000000.0",
            f"\\set south {SOUTH} + random(0, 1000000) * {NORTH - SOUTH - side} / 1000000.0",
            f"\\set east :west + {side}",
            f"\\set north :south + {side}",
        ]
        expressions |= {side: f"CAST(:{side} AS float8)" for side in ("west", "south", "east", "north")}
    values = [expressions.get(n, "NULL") for n in names]
    statement = re.sub(r"\$(\d+)", lambda m: values[int(m[1]) - 1], sql)
    return "\n".join(draws) + "\n" + " ".join(statement.split()) + ";\n"


def pgbench(dataset: Dataset, name: str, clients: int, seconds: int, workdir: Path) -> float:
    """Transactions per second of PostgreSQL alone on the read's statement."""
    [(first, last)] = query(dataset.url, "SELECT min(id), max(id) FROM place")
    script = workdir / f"{name}.sql"
    script.write_text(pgbench_script(name, (first, last)))
    script.chmod(0o644)
    url = make_url(dataset.url)
    command = [
        *("pgbench", "-n", "-M", "prepared", "-f", str(script), "-c", str(clients)),
        *("-j", str(min(clients, len(os.sched_getaffinity(0)))), "-T", str(seconds)),
        *("-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"),
        url.database or "",
    ]
    env = {**os.environ, "PGPASSWORD": url.password or ""}
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=seconds + 60)
    if out.returncode != 0:
        raise RuntimeError(f"pgbench failed:\n{out.stderr}")
    match = re.search(r"^tps = ([\d.]+)", out.stdout, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no tps in pgbench's output:\n{out.stdout}")
    return float(match[1])


def report(
    argv: list[str],
    dataset: Dataset,
    results: dict[tuple[str, str], list[WrkResult]],
    database: dict[str, list[float]],
    workers: int,
) -> str:
    lines = [
        f"# Territory beside a bare FastAPI + asyncpg app, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"`{' '.join(['python -m bench.bare', *argv])}`: {workers} uvicorn worker(s) each, wrk on loopback, "
        f"Territory and bare interleaved. Machine: {machine(dataset)}.",
        "",
        f"- {dataset.scale}: " + ", ".join(f"{n:,} {t}" for t, n in dataset.sizes.items()),
        "",
        "| scenario | Territory req/s | bare req/s | Territory/bare | Territory p50 / p99 ms | bare p50 / p99 ms "
        "| PostgreSQL alone tx/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in dict.fromkeys(name for name, _ in results):
        t, b = results[(name, "territory")], results[(name, "bare")]
        t_rps, b_rps = (statistics.median(r.requests_per_s for r in runs) for runs in (t, b))
        (t50, t99), (b50, b99) = (
            (statistics.median(r.p50_ms for r in runs), statistics.median(r.p99_ms for r in runs))
            for runs in (t, b)
        )
        alone = f"{statistics.median(database[name]):,.0f}" if database.get(name) else ""
        lines.append(
            f"| {name} | {t_rps:,.0f} | {b_rps:,.0f} | **{t_rps / b_rps:.2f}×** | {t50:.1f} / {t99:.1f} "
            f"| {b50:.1f} / {b99:.1f} | {alone} |"
        )
        runs = (
            ", ".join(f"{r.requests_per_s:,.0f}" for r in t)
            + " | "
            + ", ".join(f"{r.requests_per_s:,.0f}" for r in b)
        )
        print(f"[bench] {name} runs (Territory | bare): {runs}", flush=True)
    errors = sum(r.errors for runs in results.values() for r in runs)
    lines += ["", f"Medians of the repetitions; {errors} errors in all."]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare", description=__doc__)
    parser.add_argument("--scale", default="small", choices=list(SCALES))
    parser.add_argument("--duration", type=int, default=5, help="seconds of load per run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn processes of each server")
    parser.add_argument("--repetitions", type=int, default=3, help="runs of each scenario on each server")
    parser.add_argument(
        "--scenarios", type=lambda v: v.split(","), default=list(NAMES), help=", ".join(NAMES)
    )
    parser.add_argument(
        "--no-pgbench", dest="pgbench", action="store_false", help="leave PostgreSQL alone out"
    )
    parser.add_argument("--database-url", help="server for the bench databases (default: the local cluster)")
    parser.add_argument("--keep", action="store_true", help="reuse a complete bench database of the scale")
    args = parser.parse_args(argv)
    if unknown := set(args.scenarios) - set(NAMES):
        parser.error(f"--scenarios: unknown {', '.join(sorted(unknown))}; choose from {', '.join(NAMES)}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wrk = require_wrk()
    server_url = args.database_url or LocalCluster.for_project().ensure_running_as_admin()
    dataset = prepare(server_url, args.scale, keep=args.keep)
    print(f"[bench] {args.scale}: {dataset.sizes}", flush=True)
    results: dict[tuple[str, str], list[WrkResult]] = {}
    database: dict[str, list[float]] = {}
    env = {**os.environ, "DATABASE_URL": dataset.url}
    with tempfile.TemporaryDirectory(prefix="territory-bench-") as tmp:
        workdir = Path(tmp)
        Path(tmp).chmod(0o755)  # pgbench may run as another user than the files' owner
        todo = scenarios.build(dataset, args.scenarios)
        with (
            serving(dataset.url, workdir / "uvicorn.log", workers=args.workers) as (territory, _),
            serving_command(bare_command(args.workers), env, workdir / "bare.log") as (bare, _),
        ):
            bases = {"territory": territory, "bare": bare}
            for scenario in todo:
                for base in bases.values():
                    check(base, scenario)
            for repetition in range(1, args.repetitions + 1):
                for scenario in todo:
                    for server, base in bases.items():
                        result = measure(wrk, base, scenario, args, workdir)
                        results.setdefault((scenario.name, server), []).append(result)
                        print(
                            f"[bench] {repetition}/{args.repetitions} {scenario.name} {server}: {result}",
                            flush=True,
                        )
        if args.pgbench:  # with both servers stopped: the database alone
            for repetition in range(1, args.repetitions + 1):
                for scenario in todo:
                    tps = pgbench(dataset, scenario.name, args.connections, args.duration, workdir)
                    database.setdefault(scenario.name, []).append(tps)
                    print(
                        f"[bench] {repetition}/{args.repetitions} {scenario.name} PostgreSQL alone: {tps:,.0f} tx/s"
                    )
    text = report(argv, dataset, results, database, args.workers)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"bare-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.md"
    path.write_text(text)
    print(f"\n{text}\n[bench] written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
