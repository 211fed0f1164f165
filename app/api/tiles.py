"""Mapbox vector tiles of a date (places, territories, front lines) and their TileJSON documents."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request
from pydantic import WithJsonSchema
from starlette.responses import Response

from app.api.caching import cache_headers, cached
from app.api.deps import ReadConnection
from app.api.filters import AsOf, OnDate
from app.api.params import DateQuery, one_of, parse_date
from app.api.responses import BINARY, MVT, MVTResponse
from app.db.queries.tiles import DESCRIPTIONS, FIELDS, LAYERS, Layer, layer_bounds, tile_mvt
from app.errors import InvalidParameter, NotFound
from app.schemas.tiles import TileJSON

router = APIRouter(prefix="/v1/tiles", tags=["vector tiles"])

MAX_ZOOM = 22
# Shown as integers; parsed by _tile_numbers, so a bad one is a 400 problem naming it.
PIXEL_INDEX = WithJsonSchema({"type": "integer", "minimum": 0})
PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}

LayerPath = Annotated[
    str,
    one_of(Layer),
    Path(
        description="places, territories or frontlines",
        openapi_examples={"territories": {"value": "territories"}, "places": {"value": "places"}},
    ),
]


def _layer(layer: str) -> Layer:
    for known in LAYERS:
        if layer == known:
            return known
    raise NotFound(f"No tile layer '{layer}'. Layers: {', '.join(LAYERS)}.", layers=list(LAYERS))


def _tile_numbers(z: str, x: str, y: str) -> tuple[int, int, int]:
    """z/x/y as integers within the tile pyramid: 0 <= z <= 22 and 0 <= x, y < 2^z."""
    numbers = []
    for name, value in (("z", z), ("x", x), ("y", y)):
        if not (value.isascii() and value.isdigit()):  # not "²", which str.isdigit takes and int() does not
            raise InvalidParameter(name, f"'{value}' is not a whole number", location="path")
        numbers.append(int(value))
    zoom, column, row = numbers
    if zoom > MAX_ZOOM:
        raise InvalidParameter("z", f"{zoom} is above the maximum zoom {MAX_ZOOM}", location="path")
    for label, number in (("x", column), ("y", row)):
        if number >= 2**zoom:
            raise InvalidParameter(
                label, f"{number} is outside 0..{2**zoom - 1} at zoom {zoom}", location="path"
            )
    return zoom, column, row


TILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {MVT: BINARY}, "description": "The tile (Mapbox Vector Tile 2.1, extent 4096)"},
    204: {"description": "Nothing of this layer in the tile on that date"},
    400: {"description": "z, x or y outside the tile pyramid, or a bad date", **PROBLEM},
    404: {"description": "Unknown layer", **PROBLEM},
}


@router.get(
    "/{layer}/{z}/{x}/{y}.mvt",
    response_class=MVTResponse,
    responses=TILE_RESPONSES,
)
async def get_tile(
    request: Request,
    conn: ReadConnection,
    layer: LayerPath,
    z: Annotated[
        str,
        WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_ZOOM}),
        Path(description="Zoom, 0..22", openapi_examples={"z8": {"value": "8"}}),
    ],
    x: Annotated[
        str, PIXEL_INDEX, Path(description="Column, 0..2^z-1", openapi_examples={"z8": {"value": "155"}})
    ],
    y: Annotated[
        str, PIXEL_INDEX, Path(description="Row, 0..2^z-1", openapi_examples={"z8": {"value": "102"}})
    ],
    at: OnDate,
    as_of: AsOf,
) -> Response:
    """One vector tile of a layer on a date (default today), built by PostGIS; 204 when it would be empty."""
    name = _layer(layer)
    zoom, column, row = _tile_numbers(z, x, y)
    body = await tile_mvt(conn, name, z=zoom, x=column, y=row, at=at, as_of=as_of)
    if body is None:
        # An empty tile is a normal answer for a map client; 204 lets it skip decoding and still cache it.
        return Response(status_code=204, headers=cache_headers(request.app.state.settings))
    return cached(request, body, at, media_type=MVT, as_of=as_of)


@router.get(
    "/{layer}/{on}/{z}/{x}/{y}.mvt",
    response_class=MVTResponse,
    responses=TILE_RESPONSES,
)
async def get_dated_tile(
    request: Request,
    conn: ReadConnection,
    layer: LayerPath,
    on: Annotated[
        str,
        WithJsonSchema({"type": "string", "format": "date"}),
        Path(description="YYYY-MM-DD", openapi_examples={"Palmyra falls": {"value": "2016-12-11"}}),
    ],
    z: Annotated[str, PIXEL_INDEX, Path(description="Zoom, 0..22")],
    x: Annotated[str, PIXEL_INDEX, Path(description="Column, 0..2^z-1")],
    y: Annotated[str, PIXEL_INDEX, Path(description="Row, 0..2^z-1")],
    as_of: AsOf,
) -> Response:
    """The same tile with its date in the path, for clients that append /{z}/{x}/{y}.mvt to a base URL and
    cannot keep a query string (GDAL's MVT driver)."""
    at = parse_date("on", on)
    return await get_tile(request, conn, layer, z, x, y, at, as_of)


@router.get(
    "/{layer}.json",
    response_model=TileJSON,
    responses={
        404: {"description": "Unknown layer", **PROBLEM},
    },
)
async def get_tilejson(
    request: Request, conn: ReadConnection, layer: LayerPath, at: DateQuery = None
) -> Response:
    """A TileJSON 3.0.0 document for a layer: its fields, zoom range, bounds and the tile URL (keeping `at`)."""
    name = _layer(layer)
    on = parse_date("at", at) if at else None
    query = f"?at={on.isoformat()}" if on else ""
    base = str(request.base_url).rstrip("/")
    extent = await layer_bounds(conn, name)
    bounds = [-180.0, -85.0511, 180.0, 85.0511] if extent is None else list(extent)
    document = {
        "tilejson": "3.0.0",
        "name": f"territory-{name}",
        "description": DESCRIPTIONS[name] + (f" on {on.isoformat()}" if on else " today") + ".",
        "version": "1.0.0",
        "attribution": "Territory; approximate areas and lines, see each feature's source",
        "scheme": "xyz",
        "tiles": [f"{base}/v1/tiles/{name}/{{z}}/{{x}}/{{y}}.mvt{query}"],
        "minzoom": 0,
        "maxzoom": MAX_ZOOM,
        "bounds": [round(v, 5) for v in bounds],
        "center": [round((bounds[0] + bounds[2]) / 2, 5), round((bounds[1] + bounds[3]) / 2, 5), 6],
        "vector_layers": [
            {
                "id": name,
                "description": DESCRIPTIONS[name],
                "minzoom": 0,
                "maxzoom": MAX_ZOOM,
                # GDAL's MVT driver takes each value as the field's type: "String", "Number" or "Boolean" only.
                "fields": {field: kind.split(":")[0] for field, kind in FIELDS[name].items()},
            }
        ],
    }
    return cached(request, orjson.dumps(document), on)
