"""OGC API - Features (Part 1 core and GeoJSON, Part 2 with CRS84, Part 3 filtering with CQL2) and OGC API -
Tiles, under /ogc: the landing page is /ogc, so /v1 and the OGC surface keep their own parameter names.

`datetime` means validity: an instant D selects what was valid on D (`valid @> D`), an interval A/B, A/.. or
../B what overlaps it (`&&`); for `places` it is the date of the state (default today), as `at` is on /v1.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from app.api.caching import cached
from app.api.deps import READ, ReadConnection
from app.api.exports import export_response
from app.api.formats import EXPORT_CONTENT, EXPORTS, EXTENSIONS, negotiate
from app.api.params import parse_bbox
from app.api.responses import MVT
from app.api.tiles import MAX_ZOOM, get_tile
from app.db.queries.cql2 import filter_sql
from app.db.queries.exports import Rows
from app.db.queries.ogc import (
    COLLECTIONS,
    Collection,
    PropertyType,
    bbox_sql,
    extents,
    item_json,
    items_json,
)
from app.db.queries.tiles import FIELDS
from app.errors import InvalidParameter, NotFound
from app.schemas.ogc import (
    CONFORMANCE,
    CRS84,
    DEFAULT_LIMIT,
    GEOJSON,
    ITEMS_PARAMETERS,
    JSON,
    MAX_LIMIT,
    OPENAPI_JSON,
    QUERYABLES_REL,
    SCHEMA_JSON,
    TILE_LAYERS,
    TITLES,
    collection_document,
    collections_document,
    feature_schema,
    landing_page,
    link,
    openapi_document,
    queryables,
    tileset,
    tilesets,
)

# Every OGC resource is a read: it follows the read-key setting (through its ReadConnection; READ on those
# answered without the database).
router = APIRouter(prefix="/ogc", tags=["OGC API"])

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A parameter is invalid", **PROBLEM},
    404: {"description": "No such collection or feature", **PROBLEM},
    406: {
        "description": "A format this resource does not offer (the problem lists those it does)",
        **PROBLEM,
    },
}
# What each kind of resource offers: the `f` values and the media types an Accept header may ask for.
JSON_FORMATS = {"json": JSON}
GEOJSON_FORMATS = {"geojson": GEOJSON, "json": JSON}
CONTENT_CRS = {"Content-Crs": f"<{CRS84}>"}
# QGIS asks for open-ended intervals with these placeholders instead of `..`.
OPEN_START, OPEN_END = "0000-01-01", "9999-12-31"

FormatQuery = Annotated[str | None, Query(description="json (or geojson for features)")]
DatetimeQuery = Annotated[
    str | None,
    Query(
        alias="datetime",
        description="A date or timestamp (what was valid then), or an interval A/B, A/.., ../B (what "
        "overlaps it). For places: the date of the state, default today.",
        openapi_examples={
            "Palmyra falls": {"value": "2016-12-11"},
            "2016": {"value": "2016-01-01/2016-12-31"},
        },
    ),
]
CollectionPath = Annotated[
    str, Path(description=", ".join(COLLECTIONS), openapi_examples={"places": {"value": "places"}})
]


def root_of(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def collection_of(collection_id: str) -> Collection:
    if collection_id not in COLLECTIONS:
        raise NotFound(
            f"No collection '{collection_id}'. Collections: {', '.join(COLLECTIONS)}.",
            collections=list(COLLECTIONS),
        )
    return COLLECTIONS[collection_id]


def parse_instant(value: str) -> date | None:
    """One end of a `datetime`: a date or an RFC 3339 timestamp (its calendar date); None for `..` or empty."""
    # GDAL writes a date alone as "2016-12-20T".
    text_value = value.strip().removesuffix("T")
    if text_value in ("", ".."):
        return None
    try:
        if len(text_value) == 10:
            return date.fromisoformat(text_value)
        return datetime.fromisoformat(text_value.replace("z", "Z").replace("Z", "+00:00")).date()
    except ValueError:
        if text_value.startswith(OPEN_START):
            return None
        raise InvalidParameter(
            "datetime", f"'{value}' is not a date or timestamp (2016-12-20, 2016-12-20T00:00:00Z)"
        ) from None


def parse_datetime(value: str | None) -> tuple[date | None, date | None] | None:
    """`datetime` as (start, end), both inclusive and None where open; an instant D is (D, D)."""
    if value is None or value.strip() == "":
        return None
    if "/" not in value:
        instant = parse_instant(value)
        if instant is None:
            raise InvalidParameter("datetime", "'..' is only allowed as one end of an interval")
        return instant, instant
    start_text, _, end_text = value.partition("/")
    start = None if start_text.startswith(OPEN_START) else parse_instant(start_text)
    end = None if end_text.startswith(OPEN_END) else parse_instant(end_text)
    if start and end and start > end:
        raise InvalidParameter("datetime", f"the interval starts ({start}) after it ends ({end})")
    return start, end


def state_date(collection: Collection, span: tuple[date | None, date | None] | None) -> date:
    """The date of the state `places` shows: the instant given, default today."""
    if span is None:
        return date.today()
    start, end = span
    if start is None or start != end:
        raise InvalidParameter(
            "datetime",
            f"{collection.id} is the state of each place on one date: give a date, not an interval "
            "(control-periods has an interval per feature)",
        )
    return start


def temporal_sql(
    collection: Collection, span: tuple[date | None, date | None] | None
) -> tuple[str, dict[str, Any]]:
    """What `datetime` selects: validity containing an instant, or overlapping an interval."""
    if span is None or collection.temporal == "state":
        return "true", {}
    start, end = span
    params = {"dt_start": start, "dt_end": end}
    if collection.temporal == "range":
        if start == end:
            return "m.valid @> CAST(:dt_start AS date)", params
        return "m.valid && daterange(CAST(:dt_start AS date), CAST(:dt_end AS date), '[]')", params
    day = f"m.{collection.interval[0]}"
    clauses = []
    if start is not None:
        clauses.append(f"{day} >= CAST(:dt_start AS date)")
    if end is not None:
        clauses.append(f"{day} <= CAST(:dt_end AS date)")
    return " AND ".join(clauses) or "true", params


def property_value(name: str, kind: PropertyType, value: str) -> Any:
    """A property filter's value (`?status=controlled`) as the property's type; a 400 naming it otherwise."""
    try:
        if kind == "integer":
            return float(int(value))
        if kind == "number":
            return float(value)
        if kind == "date":
            return date.fromisoformat(value)
    except ValueError:
        raise InvalidParameter(name, f"'{value}' is not a{'n' if kind == 'integer' else ''} {kind}") from None
    if kind == "boolean":
        if value.lower() not in ("true", "false"):
            raise InvalidParameter(name, f"'{value}' is not true or false")
        return value.lower() == "true"
    return value


SQL_CASTS = {
    "string": "text",
    "integer": "double precision",
    "number": "double precision",
    "boolean": "boolean",
    "date": "date",
}


def check_crs(name: str, value: str | None) -> None:
    if value is not None and value.strip() not in (CRS84, f"[{CRS84}]"):
        raise InvalidParameter(name, f"'{value}' is not offered; the one CRS is {CRS84}")


@router.get("", responses=PROBLEMS, dependencies=READ)
async def landing(request: Request, f: FormatQuery = None) -> Response:
    """OGC API landing page: links to the API definition, the conformance classes and the collections."""
    negotiate(request, f, JSON_FORMATS)
    return cached(request, orjson.dumps(landing_page(root_of(request))), media_type=JSON)


# Clients that treat the landing page as a folder (httpx's base_url, ogctests) ask for /ogc/.
router.add_api_route("/", landing, methods=["GET"], include_in_schema=False, dependencies=READ)


@router.get("/api", responses=PROBLEMS, dependencies=READ)
async def api_definition(request: Request, f: FormatQuery = None) -> Response:
    """The OpenAPI 3.0 definition of the OGC surface, paths relative to /ogc, as OGC clients read it."""
    negotiate(request, f, {"json": OPENAPI_JSON}, JSON)
    return cached(request, orjson.dumps(openapi_document(root_of(request))), media_type=OPENAPI_JSON)


@router.get("/conformance", responses=PROBLEMS, dependencies=READ)
async def conformance(request: Request, f: FormatQuery = None) -> Response:
    """The conformance classes this server implements."""
    negotiate(request, f, JSON_FORMATS)
    return cached(request, orjson.dumps({"conformsTo": CONFORMANCE}), media_type=JSON)


@router.get("/collections", responses=PROBLEMS)
async def collections(request: Request, conn: ReadConnection, f: FormatQuery = None) -> Response:
    """The collections, each with its extent in space and time computed from the data."""
    negotiate(request, f, JSON_FORMATS)
    body = collections_document(root_of(request), await extents(conn))
    return cached(request, orjson.dumps(body), media_type=JSON)


@router.get("/collections/{collection_id}", responses=PROBLEMS)
async def collection(
    request: Request, conn: ReadConnection, collection_id: CollectionPath, f: FormatQuery = None
) -> Response:
    """One collection: its extent, CRS and links to its items, queryables and tiles."""
    negotiate(request, f, JSON_FORMATS)
    found = collection_of(collection_id)
    body = collection_document(root_of(request), found.id, (await extents(conn))[found.id])
    return cached(request, orjson.dumps(body), media_type=JSON)


@router.get("/collections/{collection_id}/queryables", responses=PROBLEMS, dependencies=READ)
async def collection_queryables(
    request: Request, collection_id: CollectionPath, f: FormatQuery = None
) -> Response:
    """What a filter may name, as JSON Schema: every property, and the geometry."""
    negotiate(request, f, {"json": SCHEMA_JSON}, JSON)
    body = queryables(root_of(request), collection_of(collection_id))
    return cached(request, orjson.dumps(body), media_type=SCHEMA_JSON)


@router.get("/collections/{collection_id}/schema", responses=PROBLEMS, dependencies=READ)
async def collection_schema(
    request: Request, collection_id: CollectionPath, f: FormatQuery = None
) -> Response:
    """JSON Schema of one feature of the collection (GDAL types its fields from it)."""
    negotiate(request, f, {"json": SCHEMA_JSON}, JSON)
    body = feature_schema(root_of(request), collection_of(collection_id))
    return cached(request, orjson.dumps(body), media_type=SCHEMA_JSON)


@router.get(
    "/collections/{collection_id}/items",
    responses={**PROBLEMS, 200: {"content": {GEOJSON: {}, **EXPORT_CONTENT}}},
)
async def items(
    request: Request,
    conn: ReadConnection,
    collection_id: CollectionPath,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Features per page")] = DEFAULT_LIMIT,
    bbox: Annotated[str | None, Query(description="West,south,east,north (CRS84)")] = None,
    datetime_: DatetimeQuery = None,
    filter_: Annotated[str | None, Query(alias="filter", description="CQL2 over the queryables")] = None,
    filter_lang: Annotated[
        str | None, Query(alias="filter-lang", description="cql2-text or cql2-json")
    ] = None,
    filter_crs: Annotated[str | None, Query(alias="filter-crs")] = None,
    crs: Annotated[str | None, Query(description=CRS84)] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs")] = None,
    cursor: Annotated[str | None, Query(description="From the `next` link of the previous page")] = None,
    f: FormatQuery = None,
) -> Response:
    """A page of a collection's features (GeoJSON), filtered by bbox, datetime, properties and CQL2."""
    media_type = negotiate(request, f, {**GEOJSON_FORMATS, **EXPORTS})
    found = collection_of(collection_id)
    unknown = sorted(set(request.query_params) - set(ITEMS_PARAMETERS) - set(found.properties))
    if unknown:
        raise InvalidParameter(
            unknown[0],
            f"is not a parameter of {found.id} items; parameters: {', '.join(ITEMS_PARAMETERS)} and the "
            f"queryables {', '.join(found.properties)}",
        )
    for name, value in (("crs", crs), ("bbox-crs", bbox_crs), ("filter-crs", filter_crs)):
        check_crs(name, value)
    if cursor is not None and not re.fullmatch(r"\d{1,18}", cursor):
        raise InvalidParameter("cursor", "is not a cursor this API gave out")
    span = parse_datetime(datetime_)
    params: dict[str, Any] = {"limit": limit, "after": int(cursor or 0)}
    clauses = []
    if found.temporal == "state":
        params["at"] = state_date(found, span)
    where, temporal_params = temporal_sql(found, span)
    clauses.append(where)
    params |= temporal_params
    if box := parse_bbox(bbox):
        clauses.append(bbox_sql(found))
        params |= box.params()
    for index, (name, kind) in enumerate(found.properties.items()):
        if (value := request.query_params.get(name)) is not None:
            clauses.append(f"m.{name} = CAST(:property_{index} AS {SQL_CASTS[kind]})")
            params[f"property_{index}"] = property_value(name, kind, value)
    if filter_:
        lang = filter_lang or "cql2-text"
        if lang not in ("cql2-text", "cql2-json"):
            raise InvalidParameter("filter-lang", f"'{lang}' is not offered: cql2-text or cql2-json")
        condition, filter_params = filter_sql(found, filter_, lang)
        clauses.append(condition)
        params |= filter_params
    if media_type in EXTENSIONS:  # an export: every matching feature, unpaged
        rows = Rows(found, " AND ".join(clauses), params)
        return await export_response(request, media_type, [rows], found.id)
    here = request.url
    params["links"] = orjson.dumps(
        [
            link(str(here), "self", media_type, "This page"),
            link(f"{root_of(request)}/collections/{found.id}", "collection", JSON, TITLES[found.id]),
        ]
    ).decode()
    params["next_prefix"] = str(here.remove_query_params("cursor").include_query_params(cursor=""))
    body = await items_json(
        conn, found, " AND ".join(clauses), params, count=cursor is None, bounded=box is not None
    )
    dates = [params["at"]] if "at" in params else list(span or ())
    response = cached(request, body, *dates, media_type=media_type)
    response.headers.update(CONTENT_CRS)
    # Links also as a header (Part 1 /rec/core/link-header; Part 3 points at the queryables this way).
    response.headers["Link"] = (
        f'<{here}>; rel="self"; type="{media_type}", '
        f'<{root_of(request)}/collections/{found.id}/queryables>; rel="{QUERYABLES_REL}"; type="{SCHEMA_JSON}"'
    )
    return response


@router.get(
    "/collections/{collection_id}/items/{feature_id}", responses={**PROBLEMS, 200: {"content": {GEOJSON: {}}}}
)
async def item(
    request: Request,
    conn: ReadConnection,
    collection_id: CollectionPath,
    feature_id: Annotated[str, Path(description="The feature's id")],
    datetime_: DatetimeQuery = None,
    crs: Annotated[str | None, Query(description=CRS84)] = None,
    f: FormatQuery = None,
) -> Response:
    """One feature by id (for places, its state on `datetime`, default today)."""
    media_type = negotiate(request, f, GEOJSON_FORMATS)
    found = collection_of(collection_id)
    check_crs("crs", crs)
    if not re.fullmatch(r"\d{1,18}", feature_id):
        raise NotFound(f"No feature '{feature_id}' in {found.id}: feature ids are integers.")
    params: dict[str, Any] = {"fid": int(feature_id)}
    if found.temporal == "state":
        params["at"] = state_date(found, parse_datetime(datetime_))
    root = root_of(request)
    params["links"] = orjson.dumps(
        [
            link(str(request.url), "self", media_type, "This feature"),
            link(f"{root}/collections/{found.id}", "collection", JSON, TITLES[found.id]),
        ]
    ).decode()
    body = await item_json(conn, found, params)
    if body is None:
        raise NotFound(f"No feature {feature_id} in {found.id}.")
    response = cached(request, body, params.get("at"), media_type=media_type)
    response.headers.update(CONTENT_CRS)
    return response


def tile_layer(collection_id: str) -> str:
    collection_of(collection_id)
    if collection_id not in TILE_LAYERS:
        raise NotFound(
            f"{collection_id} has no vector tiles; these collections do: {', '.join(TILE_LAYERS)}.",
            collections=list(TILE_LAYERS),
        )
    return TILE_LAYERS[collection_id]


def tile_date(datetime_: str | None) -> date:
    """The date of the tiles' state: `datetime` as one date, default today."""
    return state_date(COLLECTIONS["places"], parse_datetime(datetime_))


def kept_datetime(on: date, datetime_: str | None) -> str:
    return f"?datetime={on.isoformat()}" if datetime_ else ""


@router.get("/collections/{collection_id}/tiles", responses=PROBLEMS, dependencies=READ)
async def collection_tilesets(
    request: Request, collection_id: CollectionPath, datetime_: DatetimeQuery = None, f: FormatQuery = None
) -> Response:
    """The collection's vector tilesets (OGC API - Tiles): one, in WebMercatorQuad."""
    negotiate(request, f, JSON_FORMATS)
    tile_layer(collection_id)
    on = tile_date(datetime_)
    body = tilesets(root_of(request), collection_id, kept_datetime(on, datetime_))
    return cached(request, orjson.dumps(body), media_type=JSON)


@router.get("/collections/{collection_id}/tiles/WebMercatorQuad", responses=PROBLEMS, dependencies=READ)
async def collection_tileset(
    request: Request, collection_id: CollectionPath, datetime_: DatetimeQuery = None, f: FormatQuery = None
) -> Response:
    """A tileset's metadata: its tile URL template (keeping `datetime`), its layer and the layer's fields."""
    negotiate(request, f, JSON_FORMATS)
    layer = tile_layer(collection_id)
    on = tile_date(datetime_)
    body = tileset(
        root_of(request),
        COLLECTIONS[collection_id],
        layer,
        FIELDS[layer],
        kept_datetime(on, datetime_),
        MAX_ZOOM,
    )
    return cached(request, orjson.dumps(body), on if datetime_ else None, media_type=JSON)


@router.get(
    "/collections/{collection_id}/tiles/WebMercatorQuad/{tile_matrix}/{tile_row}/{tile_col}",
    response_class=Response,
    responses={
        **PROBLEMS,
        200: {
            "content": {MVT: {}},
            "description": "The tile (Mapbox Vector Tile 2.1), the same as /v1/tiles",
        },
        204: {"description": "Nothing of this collection in the tile on that date"},
    },
)
async def collection_tile(
    request: Request,
    conn: ReadConnection,
    collection_id: CollectionPath,
    tile_matrix: Annotated[str, Path(description="Zoom, 0..22")],
    tile_row: Annotated[str, Path(description="Row (y), 0..2^z-1")],
    tile_col: Annotated[str, Path(description="Column (x), 0..2^z-1")],
    datetime_: DatetimeQuery = None,
) -> Response:
    """One vector tile in the OGC order (zoom/row/column) on the date `datetime` (default today)."""
    layer = tile_layer(collection_id)
    return await get_tile(request, conn, layer, tile_matrix, tile_col, tile_row, tile_date(datetime_), None)
