"""The requests each scenario spreads its load over, drawn from the generated data."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from urllib.parse import quote

from bench.generate import EAST, NORTH, SOUTH, WEST, Dataset, query

PATHS_PER_SCENARIO = 1_000
NAMES = (
    "control-one",
    "control-one-as-of",
    "control-one-confirmed",
    "map-100",
    "map-100-as-of",
    "map-100-confirmed",
    "map-500",
    "ogc-places-100",
    "ogc-places-100-cql2",
    "changes-100",
    "search",
    "search-typing",
    "territories-bbox",
    "tile-places-z6",
    "tile-places-z7",
    "tile-places-z8",
    "tile-places-z8-inside",
    "tile-places-z8-edge",
    "tile-places-z9",
    "tile-places-z10",
    "tile-places-z12",
    "tile-places-z8-as-of",
    "tile-territories-z6",
    "tile-territories-z8",
    "tile-territories-z10",
    "map-100-cached",
    "control-one-304",
    "poll-mix",
    "poll-mix-304",
)
# Scenarios served with the response cache on (bench/run.py serves the others with it off, so that they measure
# the work of an answer): a dashboard's few URLs asked again and again at one data version (REPEATED: CACHED_PATHS
# of them), and the polling mix, as a deployment runs it.
REPEATED_SCENARIOS = {"map-100-cached", "control-one-304"}
CACHED_SCENARIOS = REPEATED_SCENARIOS | {"poll-mix", "poll-mix-304"}
CACHED_PATHS = 20
# Scenarios that need the territories dataset (generated on demand: bench.generate.load_territories).
TERRITORY_SCENARIOS = {
    "territories-bbox",
    "tile-places-z6",
    "tile-places-z7",
    "tile-places-z8",
    "tile-places-z8-inside",
    "tile-places-z8-edge",
    "tile-places-z9",
    "tile-places-z10",
    "tile-places-z12",
    "tile-places-z8-as-of",
    "tile-territories-z6",
    "tile-territories-z8",
    "tile-territories-z10",
    "poll-mix",
    "poll-mix-304",
}
# The two z8 places tiles of issue 12 at 100,000 places: one at the edge of the data (~314 places), one inside
# (~1,433), each asked on random dates (bench/tipg.py asks tipg the same).
EDGE_TILE, INSIDE_TILE = (8, 154, 98), (8, 156, 101)
# The polling mix: dashboards, each polling its map, four tiles and one place on its date (see README, "Scaling out").
DASHBOARDS = 50


@dataclass(frozen=True)
class Scenario:
    name: str
    paths: list[str]
    items_key: str | None  # the list in a response whose length is reported; None: one object; mvt: a tile
    cached: bool = False  # served with the response cache on
    # Each request sends If-None-Match with the ETag its path answered before the run (bench.run.with_etags), as a
    # dashboard that polls does: what an unchanged answer costs (a 304).
    revalidate: bool = False


def random_date(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randrange((last - first).days + 1))


def random_bbox(rng: random.Random, places: int, target: int) -> str:
    """A square meant to hold `target` places, from the uniform density of places over the box."""
    side = math.sqrt(target * (EAST - WEST) * (NORTH - SOUTH) / places)
    width, height = min(side, EAST - WEST), min(side, NORTH - SOUTH)
    west, south = rng.uniform(WEST, EAST - width), rng.uniform(SOUTH, NORTH - height)
    return f"{west:.4f},{south:.4f},{west + width:.4f},{south + height:.4f}"


def search_term(rng: random.Random, name: str) -> str:
    """What a user types: the start of a spelling, or a spelling with one letter dropped."""
    if rng.random() < 0.5 or len(name) < 5:
        return name[: rng.randint(min(5, len(name)), len(name))]
    cut = rng.randrange(1, len(name) - 1)
    return name[:cut] + name[cut + 1 :]


def typing_term(rng: random.Random, name: str) -> str:
    """What a search-as-you-type box sends before a name is distinctive: its first 1-4 letters."""
    return name[: rng.randint(1, 4)]


def tile_of(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    """The x, y of the web-mercator tile holding a point."""
    n = 2**zoom
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def random_tile(rng: random.Random, zoom: int) -> str:
    """A tile at `zoom` around a random point of the box: what a map over the data requests."""
    x, y = tile_of(rng.uniform(WEST, EAST), rng.uniform(SOUTH, NORTH), zoom)
    return f"{zoom}/{x}/{y}"


def build(dataset: Dataset, wanted: list[str], seed: int = 42) -> list[Scenario]:
    rng = random.Random(seed)
    n, places = PATHS_PER_SCENARIO, dataset.sizes["places"]
    # Sampled in Python from a fixed order, so a seed gives the same requests on every run.
    slugs = [r[0] for r in query(dataset.url, "SELECT slug FROM place ORDER BY id")]
    spellings = [r[0] for r in query(dataset.url, "SELECT name FROM place_name ORDER BY id")]

    # Reads as the record stood (as_of) at a moment before 2% of the places were corrected (bench/generate.py,
    # CORRECTIONS): those derived again from the versions, the others read as stored; and reads of the surer
    # events only (confidence=), derived from the events.
    (as_of,) = query(dataset.url, "SELECT as_of FROM bench_dataset")[0]
    recorded = as_of.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def day() -> date:
        return random_date(rng, date(2012, 1, 1), date(2017, 12, 31))

    def changes() -> str:
        start = random_date(rng, date(2012, 1, 1), date(2017, 10, 31))
        return (
            f"/v1/changes?from={start}&to={start + timedelta(days=60)}&bbox={random_bbox(rng, places, 100)}"
        )

    def viewport() -> str:
        # A dashboard's map at zoom 8: about 2° x 1.5°, asking for areas simplified to a pixel at that zoom.
        west, south = rng.uniform(WEST, EAST - 2), rng.uniform(SOUTH, NORTH - 1.5)
        return f"{west:.4f},{south:.4f},{west + 2:.4f},{south + 1.5:.4f}"

    def dashboard() -> list[str]:
        # What one dashboard polls: the control map of a viewport of ~100 places, the places and territories tiles
        # at z8 over it (two of each), and one place's control, all on the dashboard's date.
        at, bbox = day(), random_bbox(rng, places, 100)
        west, south, east, north = (float(v) for v in bbox.split(","))
        tiles = {tile_of(rng.uniform(west, east), rng.uniform(south, north), 8) for _ in range(2)}
        return [
            f"/v1/control?at={at}&bbox={bbox}",
            *(
                f"/v1/tiles/{layer}/8/{x}/{y}.mvt?at={at}"
                for layer in ("places", "territories")
                for x, y in tiles
            ),
            f"/v1/places/{rng.choice(slugs)}/control?at={at}",
        ]

    polled = (
        [path for _ in range(DASHBOARDS) for path in dashboard()]
        if {"poll-mix", "poll-mix-304"} & set(wanted)
        else []
    )

    makers: dict[str, tuple[Callable[[], str], str | None]] = {
        "control-one": (lambda: f"/v1/places/{rng.choice(slugs)}/control?at={day()}", None),
        "control-one-as-of": (
            lambda: f"/v1/places/{rng.choice(slugs)}/control?at={day()}&as_of={recorded}",
            None,
        ),
        "control-one-confirmed": (
            lambda: f"/v1/places/{rng.choice(slugs)}/control?at={day()}&confidence=confirmed",
            None,
        ),
        "map-100": (lambda: f"/v1/control?at={day()}&bbox={random_bbox(rng, places, 100)}", "features"),
        "map-100-as-of": (
            lambda: f"/v1/control?at={day()}&as_of={recorded}&bbox={random_bbox(rng, places, 100)}",
            "features",
        ),
        "map-100-confirmed": (
            lambda: f"/v1/control?at={day()}&confidence=confirmed&bbox={random_bbox(rng, places, 100)}",
            "features",
        ),
        "map-500": (lambda: f"/v1/control?at={day()}&bbox={random_bbox(rng, places, 500)}", "features"),
        # The same ~100 places on a date through OGC API - Features, and with a CQL2 filter on top.
        "ogc-places-100": (
            lambda: f"/ogc/collections/places/items?datetime={day()}&bbox={random_bbox(rng, places, 100)}",
            "features",
        ),
        "ogc-places-100-cql2": (
            lambda: (
                f"/ogc/collections/places/items?datetime={day()}&bbox={random_bbox(rng, places, 100)}"
                "&filter=" + quote("status = 'controlled' AND controller_slug IS NOT NULL")
            ),
            "features",
        ),
        "changes-100": (changes, "changes"),
        "search": (
            lambda: f"/v1/places?q={quote(search_term(rng, rng.choice(spellings)))}&limit=10",
            "items",
        ),
        # A short prefix matches a share of the gazetteer, so it grows with it (README, "Search at scale").
        "search-typing": (
            lambda: f"/v1/places?q={quote(typing_term(rng, rng.choice(spellings)))}&limit=10",
            "items",
        ),
        "territories-bbox": (lambda: f"/v1/territories?at={day()}&bbox={viewport()}&zoom=8", "features"),
        # The levels a map asks for places tiles, each around random points of the data: at 100,000 places a z6
        # tile holds ~20,000 of them, z7 ~5,500, z8 ~1,400, z9 ~350, z10 ~90, z12 ~6.
        **{
            f"tile-places-z{zoom}": (
                lambda zoom=zoom: f"/v1/tiles/places/{random_tile(rng, zoom)}.mvt?at={day()}",
                "mvt",
            )
            for zoom in (6, 7, 8, 9, 10, 12)
        },
        **{
            f"tile-places-z8-{where}": (
                lambda tile=tile: f"/v1/tiles/places/{'/'.join(map(str, tile))}.mvt?at={day()}",
                "mvt",
            )
            for where, tile in (("inside", INSIDE_TILE), ("edge", EDGE_TILE))
        },
        "tile-places-z8-as-of": (
            lambda: f"/v1/tiles/places/{random_tile(rng, 8)}.mvt?at={day()}&as_of={recorded}",
            "mvt",
        ),
        "tile-territories-z6": (lambda: f"/v1/tiles/territories/{random_tile(rng, 6)}.mvt?at={day()}", "mvt"),
        "tile-territories-z8": (lambda: f"/v1/tiles/territories/{random_tile(rng, 8)}.mvt?at={day()}", "mvt"),
        "tile-territories-z10": (
            lambda: f"/v1/tiles/territories/{random_tile(rng, 10)}.mvt?at={day()}",
            "mvt",
        ),
    }
    # The repeated ones: the same requests as their uncached twin, CACHED_PATHS of them, each asked many times.
    makers["map-100-cached"] = makers["map-100"]
    makers["control-one-304"] = makers["control-one"]
    makers["poll-mix"] = makers["poll-mix-304"] = (lambda: rng.choice(polled), None)

    def paths(name: str) -> list[str]:
        if name not in REPEATED_SCENARIOS:
            return [makers[name][0]() for _ in range(n)]
        distinct = [makers[name][0]() for _ in range(CACHED_PATHS)]
        return distinct * (n // CACHED_PATHS)

    return [
        Scenario(
            name,
            paths(name),
            makers[name][1],
            cached=name in CACHED_SCENARIOS,
            revalidate=name.endswith("-304"),
        )
        for name in wanted
    ]
