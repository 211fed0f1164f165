"""`python -m bench.tipg`: Territory beside tipg (developmentseed's OGC API server) on the same bench database.

tipg serves a flattened table of the same control periods, `tipg.place_period`: one row per period with the
place's point, slug, name and kind, the status, the holder's slug and colour, and the period's dates (an open
period ends on 9999-12-31: btree_gist cannot index infinite dates), indexed for what it is asked: GiST over
(point, valid_from, valid_to) and a btree on the slug. "The state on D" is a CQL2 filter on the dates. Both
servers run one uvicorn worker, and wrk sends each the same requests (the same places, dates, boxes and tiles):
Territory and tipg alternate, scenario by scenario, --repetitions times, and the report gives the median of
each and the ratio Territory/tipg.

The table holds periods only: a place no period covers on the date is absent from tipg's answers, while
Territory answers it as unknown (or from a territory covering it), so Territory's answers may hold more.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import quote

import asyncpg

from app.localdb import LocalCluster
from bench import scenarios
from bench.generate import SCALES, Dataset, prepare, query
from bench.load import WrkResult, require_wrk
from bench.run import RESULTS, check, machine, measure, serving, serving_command

COLLECTION = "tipg.place_period"
# What Territory's places tile carries (its `since` is tipg's valid_from).
TILE_PROPERTIES = "slug,name,kind,status,controller,color,basis,valid_from"

FLATTENED = """
    CREATE SCHEMA IF NOT EXISTS tipg;
    DROP TABLE IF EXISTS tipg.place_period;
    -- In the order of the points, as Territory's place_state is filled: a tile's rows share pages.
    CREATE TABLE tipg.place_period AS
    SELECT (row_number() OVER (ORDER BY cp.place_id, lower(cp.valid)))::integer AS id,
           p.geom, p.slug, p.name, p.kind, cp.status, a.slug AS controller, a.color, 'event'::text AS basis,
           lower(cp.valid) AS valid_from, coalesce(upper(cp.valid), DATE '9999-12-31') AS valid_to
    FROM control_period AS cp JOIN place AS p ON p.id = cp.place_id LEFT JOIN actor AS a ON a.id = cp.actor_id
    ORDER BY ST_GeoHash(p.geom, 7), cp.place_id, lower(cp.valid);
    ALTER TABLE tipg.place_period ADD PRIMARY KEY (id);
    CREATE INDEX ix_place_period_geom_dates ON tipg.place_period USING gist (geom, valid_from, valid_to);
    CREATE INDEX ix_place_period_slug ON tipg.place_period (slug);
    ANALYZE tipg.place_period;
"""


@dataclass(frozen=True)
class Pair:
    """One scenario as each server is asked it: the same draws, each in its own URLs."""

    name: str
    territory: scenarios.Scenario
    tipg: scenarios.Scenario


def flatten(dataset: Dataset) -> None:
    """(Re)build tipg's table unless it already holds every period of the dataset."""
    periods = query(dataset.url, "SELECT count(*) FROM control_period")[0][0]
    present = query(dataset.url, "SELECT to_regclass('tipg.place_period') IS NOT NULL")[0][0]
    if present and query(dataset.url, "SELECT count(*) FROM tipg.place_period")[0][0] == periods:
        return
    print(f"[bench] flattening {periods:,} periods into {COLLECTION} for tipg", flush=True)
    asyncio.run(execute(dataset.url, FLATTENED))


async def execute(url: str, script: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(script)  # no arguments: several statements in one go
    finally:
        await connection.close()


def on_date(day: date) -> str:
    """tipg's filter for "the state on `day`" (CQL2 text), URL-quoted."""
    return quote(f"valid_from <= DATE('{day}') AND valid_to > DATE('{day}')")


def pairs(dataset: Dataset, seed: int = 7) -> list[Pair]:
    rng = random.Random(seed)
    n, places = scenarios.PATHS_PER_SCENARIO, dataset.sizes["places"]
    slugs = [r[0] for r in query(dataset.url, "SELECT slug FROM place ORDER BY id")]
    items = f"/collections/{COLLECTION}/items"
    tiles = f"/collections/{COLLECTION}/tiles/WebMercatorQuad"

    def day() -> date:
        return scenarios.random_date(rng, date(2012, 1, 1), date(2017, 12, 31))

    def one_place() -> tuple[str, str]:
        slug, on = rng.choice(slugs), day()
        return f"/v1/places/{slug}/control?at={on}", f"{items}?slug={quote(slug)}&filter={on_date(on)}"

    def map_100() -> tuple[str, str]:
        bbox, on = scenarios.random_bbox(rng, places, 100), day()
        return f"/v1/control?at={on}&bbox={bbox}", f"{items}?bbox={bbox}&limit=1000&filter={on_date(on)}"

    def tile(z: int, x: int, y: int) -> Callable[[], tuple[str, str]]:
        def draw() -> tuple[str, str]:
            on = day()
            return (
                f"/v1/tiles/places/{z}/{x}/{y}.mvt?at={on}",
                f"{tiles}/{z}/{x}/{y}?properties={TILE_PROPERTIES}&filter={on_date(on)}",
            )

        return draw

    makers: list[tuple[str, Callable[[], tuple[str, str]], str | None]] = [
        ("control-one", one_place, None),
        ("map-100", map_100, "features"),
        ("tile-places-z8-edge", tile(*scenarios.EDGE_TILE), "mvt"),
        ("tile-places-z8-inside", tile(*scenarios.INSIDE_TILE), "mvt"),
    ]
    result = []
    for name, make, key in makers:
        drawn = [make() for _ in range(n)]
        # tipg answers the one-place read as a FeatureCollection of one.
        result.append(
            Pair(
                name,
                scenarios.Scenario(name, [t for t, _ in drawn], key),
                scenarios.Scenario(name, [p for _, p in drawn], key or "features"),
            )
        )
    return result


def tipg_command(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "tipg.main:app", "--host", "127.0.0.1", "--port", str(port)]


def tipg_env(database_url: str) -> dict[str, str]:
    """tipg's settings (its TIPG_* and DATABASE_URL variables): only the bench schema, the tile buffer Territory
    uses (64 of 4096), and no catalog refresh or extents (start-up work, not requests')."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "TIPG_DB_SCHEMAS": '["tipg"]',
        "TIPG_DB_SPATIAL_EXTENT": "false",
        "TIPG_DB_DATETIME_EXTENT": "false",
        "TIPG_CATALOG_TTL": "0",
        "TIPG_TILE_BUFFER": "64",
        "TIPG_MAX_FEATURES_PER_QUERY": "10000",
    }


def report(
    argv: list[str],
    dataset: Dataset,
    results: dict[tuple[str, str], list[WrkResult]],
    items: dict[tuple[str, str], float | None],
) -> str:
    lines = [
        f"# Territory and tipg, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"`{' '.join(['python -m bench.tipg', *argv])}`: one uvicorn worker each, wrk on loopback, Territory and "
        f"tipg interleaved. Machine: {machine(dataset)}.",
        "",
        f"- {dataset.scale}: " + ", ".join(f"{n:,} {t}" for t, n in dataset.sizes.items()),
        "",
        "| scenario | Territory req/s | tipg req/s | Territory/tipg | Territory p50 ms | tipg p50 ms | items (Territory / tipg) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in dict.fromkeys(name for name, _ in results):
        t, g = results[(name, "territory")], results[(name, "tipg")]
        t_rps, g_rps = (statistics.median(r.requests_per_s for r in runs) for runs in (t, g))
        t_p50, g_p50 = (statistics.median(r.p50_ms for r in runs) for runs in (t, g))
        counts = " / ".join(
            "" if items[(name, s)] is None else f"{items[(name, s)]:.0f}" for s in ("territory", "tipg")
        )
        runs = (
            ", ".join(f"{r.requests_per_s:,.0f}" for r in t)
            + " | "
            + ", ".join(f"{r.requests_per_s:,.0f}" for r in g)
        )
        lines.append(
            f"| {name} | {t_rps:,.0f} | {g_rps:,.0f} | **{t_rps / g_rps:.2f}×** | {t_p50:.1f} | {g_p50:.1f} | {counts} |"
        )
        print(f"[bench] {name} runs (Territory | tipg): {runs}", flush=True)
    errors = sum(r.errors for runs in results.values() for r in runs)
    lines += ["", f"Medians of the repetitions; {errors} errors in all."]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tipg", description=__doc__)
    parser.add_argument("--scale", default="large", choices=list(SCALES))
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--repetitions", type=int, default=3, help="runs of each scenario on each server")
    parser.add_argument("--database-url", help="server for the bench databases (default: the local cluster)")
    parser.add_argument("--keep", action="store_true", help="reuse a complete bench database of the scale")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wrk = require_wrk()
    server_url = args.database_url or LocalCluster.for_project().ensure_running_as_admin()
    dataset = prepare(server_url, args.scale, keep=args.keep)
    print(f"[bench] {args.scale}: {dataset.sizes}", flush=True)
    flatten(dataset)
    results: dict[tuple[str, str], list[WrkResult]] = {}
    items: dict[tuple[str, str], float | None] = {}
    with tempfile.TemporaryDirectory(prefix="territory-bench-") as tmp:
        workdir = Path(tmp)
        with (
            serving(dataset.url, workdir / "uvicorn.log") as (territory, _),
            serving_command(tipg_command, tipg_env(dataset.url), workdir / "tipg.log") as (tipg, _),
        ):
            bases = {"territory": territory, "tipg": tipg}
            todo = pairs(dataset)
            for pair in todo:
                for server, scenario in (("territory", pair.territory), ("tipg", pair.tipg)):
                    items[(pair.name, server)] = check(bases[server], scenario)
            for repetition in range(1, args.repetitions + 1):
                for pair in todo:
                    for server, scenario in (("territory", pair.territory), ("tipg", pair.tipg)):
                        result = measure(wrk, bases[server], scenario, args, workdir)
                        results.setdefault((pair.name, server), []).append(result)
                        print(
                            f"[bench] {repetition}/{args.repetitions} {pair.name} {server}: {result}",
                            flush=True,
                        )
    text = report(argv, dataset, results, items)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"tipg-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.md"
    path.write_text(text)
    print(f"\n{text}\n[bench] written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
