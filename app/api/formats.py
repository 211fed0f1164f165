"""Which format an answer takes: `f=` or the Accept header, one mechanism for /v1 and /ogc.

A resource offers a table of `f` values and media types; `negotiate` picks one or raises a 406 problem listing
them. The export formats (CSV, NDJSON, GeoJSON Text Sequences, FlatGeobuf, GeoPackage) are the same table on
every resource that offers them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request

from app.errors import NotAcceptable

JSON = "application/json"
GEOJSON = "application/geo+json"
CSV = "text/csv"
NDJSON = "application/x-ndjson"
GEOJSON_SEQ = "application/geo+json-seq"  # RFC 8142
FLATGEOBUF = "application/flatgeobuf"
GEOPACKAGE = "application/geopackage+sqlite3"

# f value -> media type, for every resource that can be taken away as a table of features.
EXPORTS = {
    "csv": CSV,
    "ndjson": NDJSON,
    "geojsonseq": GEOJSON_SEQ,
    "fgb": FLATGEOBUF,
    "gpkg": GEOPACKAGE,
}
# Other spellings clients send for the same types.
ALIASES = {"application/ndjson": NDJSON, "application/jsonl": NDJSON, "application/geopackage": GEOPACKAGE}
EXTENSIONS = {CSV: "csv", NDJSON: "ndjson", GEOJSON_SEQ: "geojsons", FLATGEOBUF: "fgb", GEOPACKAGE: "gpkg"}

FormatQuery = Annotated[
    str | None,
    Query(
        description="The answer's format (the Accept header works too): json, or to take the data away "
        f"{', '.join(EXPORTS)}",
        openapi_examples={"CSV": {"value": "csv"}, "GeoPackage": {"value": "gpkg"}},
    ),
]

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
NOT_ACCEPTABLE: dict[int | str, dict[str, Any]] = {
    406: {"description": "A format this resource does not offer (the problem lists those it does)", **PROBLEM}
}
# The export media types in a route's 200 answer (binary for the two that are not text).
EXPORT_CONTENT: dict[str, Any] = {
    CSV: {},
    NDJSON: {},
    GEOJSON_SEQ: {},
    FLATGEOBUF: {"schema": {"type": "string", "format": "binary"}},
    GEOPACKAGE: {"schema": {"type": "string", "format": "binary"}},
}


def negotiate(request: Request, f: str | None, offered: dict[str, str], *also: str) -> str:
    """The media type to answer with, from `f` (offered: f value -> media type) or the Accept header (the
    offered media types and `also`); a 406 listing the formats otherwise.

    Media types compare without their parameters (GDAL asks for `...openapi+json;version=3.0, ...`)."""
    formats = list(dict.fromkeys([*offered.values(), *also]))
    if f is not None:
        if f not in offered:
            raise NotAcceptable(
                f"f={f} is not offered here; f may be {', '.join(offered)}.", formats=formats, f=list(offered)
            )
        return offered[f]
    accept = request.headers.get("accept", "")
    wanted = [part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()]
    if not wanted:
        return formats[0]
    by_base = {media_type.split(";")[0]: media_type for media_type in formats}
    # In the order asked (q-values aside): `text/csv, */*` is CSV; a browser's `text/html, ..., */*` the default.
    for media_type in wanted:
        if media_type in ("*/*", "application/*"):
            return formats[0]
        media_type = ALIASES.get(media_type, media_type)
        if media_type in by_base:
            return by_base[media_type]
    raise NotAcceptable(
        f"None of the media types asked for ({accept}) is offered here: {', '.join(formats)}.",
        formats=formats,
        f=list(offered),
    )


def export_format(request: Request, f: str | None, offered: dict[str, str], *also: str) -> str | None:
    """The export media type asked for, or None for the resource's own JSON (`offered` plus the exports)."""
    media_type = negotiate(request, f, {**offered, **EXPORTS}, *also)
    return media_type if media_type in EXTENSIONS else None
