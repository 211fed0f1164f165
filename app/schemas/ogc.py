"""The documents of the OGC API surface: landing page, conformance, collections, queryables and the OpenAPI 3.0
definition clients read (GDAL and QGIS take `limit`'s default and maximum from it).

The API definition is written here rather than taken from FastAPI's /openapi.json: OGC clients look up the items
operation of each collection at the path relative to the landing page (`/collections/places/items`, not
`/ogc/collections/{collection_id}/items`), find `limit` through a `$ref` to `#/components/parameters/limit`, and
validate the document as OpenAPI 3.0 (FastAPI writes 3.1).
"""

from __future__ import annotations

from typing import Any

from app.api.responses import MVT
from app.db.queries.ogc import COLLECTIONS, Collection

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GEOJSON = "application/geo+json"
JSON = "application/json"
SCHEMA_JSON = "application/schema+json"
OPENAPI_JSON = "application/vnd.oai.openapi+json;version=3.0"
DEFAULT_LIMIT, MAX_LIMIT = 100, 10_000
WEB_MERCATOR_QUAD = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"

# Exactly what is implemented. QGIS sends CQL2 only when filter, features-filter, basic-cql2 and cql2-text are
# all listed; GDAL reads the same list.
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/landing-page",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    # Part 2 with one CRS, CRS84: `crs`, `bbox-crs` and `filter-crs` accept it, answers carry Content-Crs.
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
]

TITLES = {
    "places": "Places on a date",
    "control-periods": "Control periods",
    "territories": "Territories",
    "front-lines": "Front lines",
    "events": "Control events",
}
DESCRIPTIONS = {
    "places": "Every place with its state on the date given by `datetime` (default today): status, controller, "
    "its coalitions, since and until, what the answer rests on (basis) and how certain it is. The same facts as "
    "/v1/control.",
    "control-periods": "One feature per control period of a place, valid from valid_from (inclusive) to "
    "valid_to (exclusive, empty while open). `datetime` selects the periods in force on a date or overlapping "
    "an interval.",
    "territories": "Areas an actor held, each over its interval [valid_from, valid_to).",
    "front-lines": "Lines between two sides, each over its interval [valid_from, valid_to).",
    "events": "Control events (captures, losses, sieges...) at their place, dated by occurred_on.",
}
# The /v1/tiles layer behind each collection that has vector tiles.
TILE_LAYERS = {"places": "places", "territories": "territories", "front-lines": "frontlines"}

PROPERTY_DESCRIPTIONS = {
    "status": "controlled, contested, besieged (or unknown: nothing known on the date)",
    "coalitions": "Slugs of the controller's coalitions on the date, comma-separated",
    "parties": "Slugs of the actors fighting for the place (contested) or besieging it, comma-separated",
    "since": "First day of the state (inclusive)",
    "until": "Day the state ended (exclusive); empty while it lasts",
    "valid_from": "First day (inclusive)",
    "valid_to": "Day it ended (exclusive); empty while open",
    "basis": "event (a control period) or territory (inside an area held that day)",
    "certainty": "definite, or possible (a claim not confirmed, a month- or year-precision event, an approximate "
    "area)",
    "disputed": "Whether sources disagree about the state (rival claims: /v1/places/{slug}/control lists them)",
}
JSON_SCHEMA_TYPES: dict[str, dict[str, str]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
}


def link(href: str, rel: str, type_: str, title: str, **more: Any) -> dict[str, Any]:
    return {"href": href, "rel": rel, "type": type_, "title": title, **more}


def landing_page(root: str) -> dict[str, Any]:
    return {
        "title": "Territory",
        "description": "Who controlled which place when: places on a date, control periods, territories, "
        "front lines and events, as OGC API - Features and Tiles. `datetime` means validity.",
        "links": [
            link(root, "self", JSON, "This document"),
            link(f"{root}/api", "service-desc", OPENAPI_JSON, "The API definition (OpenAPI 3.0)"),
            link(f"{root}/../docs", "service-doc", "text/html", "The API documentation"),
            link(f"{root}/conformance", "conformance", JSON, "Conformance classes implemented"),
            link(f"{root}/collections", "data", JSON, "The collections"),
        ],
    }


def collection_document(root: str, collection_id: str, extent: dict[str, Any]) -> dict[str, Any]:
    base = f"{root}/collections/{collection_id}"
    start, end = extent["interval"]
    links = [
        link(base, "self", JSON, "This collection"),
        link(f"{base}/items", "items", GEOJSON, "Its features"),
        link(f"{base}/queryables", QUERYABLES_REL, SCHEMA_JSON, "What a filter may use"),
        # GDAL types its fields from this schema (rel spelled as it matches it), not from the first page.
        link(f"{base}/schema", "describedBy", SCHEMA_JSON, "The schema of its features"),
    ]
    if collection_id in TILE_LAYERS:
        links.append(
            link(
                f"{base}/tiles",
                "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                JSON,
                "Vector tiles",
            )
        )
    return {
        "id": collection_id,
        "title": TITLES[collection_id],
        "description": DESCRIPTIONS[collection_id],
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "extent": {
            "spatial": {"bbox": [extent["bbox"] or [-180, -90, 180, 90]], "crs": CRS84},
            "temporal": {
                "interval": [[f"{start}T00:00:00Z" if start else None, f"{end}T00:00:00Z" if end else None]],
                "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
            },
        },
        "links": links,
    }


def collections_document(root: str, extents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "links": [link(f"{root}/collections", "self", JSON, "The collections")],
        "crs": [CRS84],
        "collections": [collection_document(root, cid, extents[cid]) for cid in COLLECTIONS],
    }


def queryables(root: str, collection: Collection) -> dict[str, Any]:
    """JSON Schema of what a filter may name: every property, and the geometry."""
    properties: dict[str, Any] = {
        "geometry": {
            "title": "Geometry",
            "$ref": f"https://geojson.org/schema/{collection.geometry}.json",
            "x-ogc-role": "primary-geometry",
        }
    }
    for name, kind in collection.properties.items():
        properties[name] = {"title": name, **JSON_SCHEMA_TYPES[kind]}
        if name in PROPERTY_DESCRIPTIONS:
            properties[name]["description"] = PROPERTY_DESCRIPTIONS[name]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{root}/collections/{collection.id}/queryables",
        "type": "object",
        "title": TITLES[collection.id],
        "properties": properties,
        "additionalProperties": False,
    }


def feature_schema(root: str, collection: Collection) -> dict[str, Any]:
    """JSON Schema of one feature of the collection: its properties with their types."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{root}/collections/{collection.id}/schema",
        "type": "object",
        "title": TITLES[collection.id],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": "integer"},
            "geometry": {"$ref": f"https://geojson.org/schema/{collection.geometry}.json"},
            "properties": {
                "type": "object",
                "properties": {name: JSON_SCHEMA_TYPES[kind] for name, kind in collection.properties.items()},
            },
        },
    }


# Parameters of the OpenAPI document, by name (`#/components/parameters/...`).
def _query(name: str, description: str, schema: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        "style": "form",
        "explode": False,
        **more,
    }


PARAMETERS: dict[str, dict[str, Any]] = {
    "limit": _query(
        "limit",
        "Features per page",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    ),
    "bbox": _query(
        "bbox",
        "West,south,east,north in CRS84 (features intersecting it)",
        {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
    ),
    "datetime": _query(
        "datetime",
        "Validity: a date or timestamp D selects what was valid on D; an interval A/B, A/.. or ../B what "
        "overlaps it. For places, the date of the state (default today).",
        {"type": "string"},
    ),
    "filter": _query("filter", "A CQL2 filter over the queryables", {"type": "string"}),
    "filter-lang": _query(
        "filter-lang",
        "The filter's language",
        {"type": "string", "enum": ["cql2-text", "cql2-json"], "default": "cql2-text"},
    ),
    "filter-crs": _query("filter-crs", "CRS of the filter's geometries", {"type": "string", "enum": [CRS84]}),
    "crs": _query("crs", "CRS of the answer's geometries", {"type": "string", "enum": [CRS84]}),
    "bbox-crs": _query("bbox-crs", "CRS of bbox", {"type": "string", "enum": [CRS84]}),
    "cursor": _query("cursor", "From the `next` link of the previous page", {"type": "string"}),
    "f": _query("f", "Format of the answer", {"type": "string", "enum": ["json", "geojson"]}),
}
ITEMS_PARAMETERS = (
    "limit",
    "bbox",
    "datetime",
    "filter",
    "filter-lang",
    "filter-crs",
    "crs",
    "bbox-crs",
    "cursor",
    "f",
)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _get(summary: str, media_type: str, parameters: list[Any] | None = None) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": parameters or [],
            "responses": {
                "200": {"description": summary, "content": {media_type: {"schema": {"type": "object"}}}},
                "400": {"description": "A parameter is invalid", "content": {"application/problem+json": {}}},
                "406": {"description": "A format not offered", "content": {"application/problem+json": {}}},
            },
        }
    }


def openapi_document(root: str) -> dict[str, Any]:
    """The OpenAPI 3.0 definition of this surface, paths relative to the landing page (`servers`)."""
    paths: dict[str, Any] = {
        "/": _get("Landing page", JSON),
        "/api": _get("This API definition", OPENAPI_JSON),
        "/conformance": _get("Conformance classes implemented", JSON),
        "/collections": _get("The collections", JSON),
    }
    for cid, collection in COLLECTIONS.items():
        base = f"/collections/{cid}"
        properties = [
            _query(name, f"Features whose {name} equals this", JSON_SCHEMA_TYPES[kind])
            for name, kind in collection.properties.items()
        ]
        paths[base] = _get(TITLES[cid], JSON)
        paths[f"{base}/queryables"] = _get(f"Queryables of {cid}", SCHEMA_JSON)
        paths[f"{base}/schema"] = _get(f"Schema of a feature of {cid}", SCHEMA_JSON)
        paths[f"{base}/items"] = _get(
            f"Features of {cid}", GEOJSON, [_ref(name) for name in ITEMS_PARAMETERS] + properties
        )
        feature_id = {"name": "featureId", "in": "path", "required": True, "schema": {"type": "integer"}}
        paths[f"{base}/items/{{featureId}}"] = _get(
            f"One feature of {cid}", GEOJSON, [feature_id, _ref("datetime"), _ref("crs"), _ref("f")]
        )
        if cid in TILE_LAYERS:
            paths[f"{base}/tiles"] = _get(f"Vector tilesets of {cid}", JSON)
            paths[f"{base}/tiles/WebMercatorQuad"] = _get(f"Tileset of {cid}", JSON, [_ref("datetime")])
            tile_numbers = [
                {"name": n, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}
                for n in ("tileMatrix", "tileRow", "tileCol")
            ]
            paths[f"{base}/tiles/WebMercatorQuad/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"] = _get(
                f"A vector tile of {cid}", MVT, [*tile_numbers, _ref("datetime")]
            )
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Territory - OGC API",
            "version": "1.0.0",
            "description": "OGC API - Features (Part 1, 2 with CRS84, 3 with CQL2) and Tiles over Territory.",
        },
        "servers": [{"url": root}],
        "paths": paths,
        "components": {"parameters": PARAMETERS},
    }


WEB_MERCATOR = "http://www.opengis.net/def/crs/EPSG/0/3857"
TILING_SCHEME_REL = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
GEOMETRY_DIMENSION = {"Point": 0, "MultiLineString": 1, "MultiPolygon": 2}
MVT_TYPES = {"String": "string", "Number": "number", "Boolean": "boolean"}


def tilesets(root: str, collection_id: str, query: str) -> dict[str, Any]:
    """The collection's vector tilesets: one, in WebMercatorQuad."""
    base = f"{root}/collections/{collection_id}/tiles"
    return {
        "links": [link(f"{base}{query}", "self", JSON, "The tilesets")],
        "tilesets": [
            {
                "title": f"{TITLES[collection_id]} (WebMercatorQuad)",
                "dataType": "vector",
                "crs": WEB_MERCATOR,
                "tileMatrixSetURI": WEB_MERCATOR_QUAD,
                "links": [
                    link(f"{base}/WebMercatorQuad{query}", "self", JSON, "The tileset"),
                    link(WEB_MERCATOR_QUAD, TILING_SCHEME_REL, JSON, "WebMercatorQuad"),
                ],
            }
        ],
    }


def tileset(
    root: str, collection: Collection, layer: str, fields: dict[str, str], query: str, max_zoom: int
) -> dict[str, Any]:
    """A tileset's metadata: its tile URL template (keeping `datetime`), its one layer and that layer's fields."""
    base = f"{root}/collections/{collection.id}/tiles/WebMercatorQuad"
    return {
        "title": f"{TITLES[collection.id]} (WebMercatorQuad)",
        "dataType": "vector",
        "crs": WEB_MERCATOR,
        "tileMatrixSetURI": WEB_MERCATOR_QUAD,
        "links": [
            link(f"{base}{query}", "self", JSON, "This tileset"),
            link(WEB_MERCATOR_QUAD, TILING_SCHEME_REL, JSON, "WebMercatorQuad"),
            link(
                f"{base}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}{query}",
                "item",
                MVT,
                "A tile (Mapbox Vector Tile)",
                templated=True,
            ),
        ],
        "layers": [
            {
                "id": layer,
                "dataType": "vector",
                "geometryDimension": GEOMETRY_DIMENSION[collection.geometry],
                "minTileMatrix": "0",
                "maxTileMatrix": str(max_zoom),
                "propertiesSchema": {
                    "type": "object",
                    "properties": {
                        name: {"type": MVT_TYPES.get(kind.split(":")[0], "string")}
                        for name, kind in fields.items()
                    },
                },
            }
        ],
    }
