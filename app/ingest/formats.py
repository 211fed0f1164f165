"""Event files: CSV, JSON Lines and GeoJSON, read row by row into `EventCreate`.

A row that does not parse keeps its problems and its line, so one run reports every problem of a file, not the
first one. Problems with the file as a whole (missing, unknown columns, not a FeatureCollection) are a
`FileError`: nothing is sent.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import orjson
from pydantic import ValidationError

from app.schemas.common import unstorable
from app.schemas.events import EventCreate
from app.vocabulary import EventFileFormat as Format

FORMATS: tuple[str, ...] = get_args(Format)
EXTENSIONS: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".geojson": "geojson"}

# A place given by name and coordinates (for the gazetteer) takes four columns in CSV: `lat`, `lon`,
# `place_kind`, `country`, which become the event's `location`.
LOCATION_COLUMNS = {"lat": "lat", "lon": "lon", "place_kind": "kind", "country": "country"}
COLUMNS = (*(name for name in EventCreate.model_fields if name != "location"), *LOCATION_COLUMNS)
# Without these a row cannot be an event; external_id is what makes a second run of a file create nothing.
REQUIRED_COLUMNS = ("external_id", "place", "date", "kind", "status", "sources")
LIST_COLUMNS = ("parties", "sources")
LIST_SEPARATOR = ";"


class FileError(Exception):
    """The file as a whole cannot be read as events."""


@dataclass(frozen=True)
class Problem:
    field: str
    reason: str


@dataclass(frozen=True)
class Row:
    """One event of the file, or the problems that kept it from being one."""

    where: str  # "line 12" (CSV, JSON Lines) or "feature 3" (GeoJSON): how a report points at it
    line: int | None
    external_id: str | None
    event: EventCreate | None = None
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class EventFile:
    path: Path
    format: Format
    total: int  # rows, for the progress bar
    rows: Iterator[Row]


def format_of(path: Path) -> Format:
    try:
        return EXTENSIONS[path.suffix.lower()]
    except KeyError:
        known = ", ".join(EXTENSIONS)
        raise FileError(
            f"cannot tell the format of '{path.name}' from its extension ({known}); give --format"
        ) from None


def open_events(path: Path, fmt: Format | None = None) -> EventFile:
    """The file's rows, parsed lazily; what makes the whole file unreadable is raised here, before any row."""
    fmt = fmt or format_of(path)
    if not path.is_file():
        raise FileError(f"no such file: {path}")
    try:
        if fmt == "csv":
            header, total = csv_header_and_count(path)
            return EventFile(path, fmt, total, csv_rows(path, header))
        if fmt == "jsonl":
            with path.open("rb") as f:
                total = sum(1 for line in f if line.strip())
            return EventFile(path, fmt, total, jsonl_rows(path))
        features = geojson_features(path)
        return EventFile(path, fmt, len(features), geojson_rows(features))
    except UnicodeDecodeError as exc:
        raise FileError(f"{path} is not UTF-8 text: {exc}") from exc
    except OSError as exc:
        raise FileError(f"cannot read {path}: {exc.strerror or exc}") from exc


def parse(where: str, line: int | None, data: dict[str, Any]) -> Row:
    external_id = data.get("external_id")
    external_id = str(external_id) if external_id not in (None, "") else None
    if (field_name := unstorable(data)) is not None:  # a row error: running the file again cannot help
        reason = "contains a character that cannot be stored (NUL or half a surrogate pair)"
        return Row(where, line, external_id, problems=[Problem(field_name, reason)])
    try:
        event = EventCreate.model_validate(data)
    except ValidationError as exc:
        return Row(where, line, external_id, problems=problems_of(exc))
    if event.external_id is None:
        missing = Problem(
            "external_id", "is required in a file: it is what makes a second run create nothing"
        )
        return Row(where, line, None, problems=[missing])
    return Row(where, line, event.external_id, event=event)


def problems_of(exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"])
        reason = error["msg"].removeprefix("Value error, ")
        given = error.get("input")
        if location and isinstance(given, str | int | float) and error["type"] != "missing":
            reason += f" (got {given!r})"
        problems.append(Problem(location or "row", reason))
    return problems


# CSV: a header row naming the columns; `parties` and `sources` are `;`-separated; an empty cell is no value.
def csv_header_and_count(path: Path) -> tuple[list[str], int]:
    with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheets often start with a BOM
        reader = csv.reader(f)
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
        if header is None:
            raise FileError(f"{path} is empty: a CSV file starts with a header row naming its columns")
        total = sum(1 for row in reader if any(cell.strip() for cell in row))
    header = [name.strip().lower() for name in header]
    if unknown := [name for name in header if name not in COLUMNS]:
        raise FileError(
            f"{path}: unknown column(s) {', '.join(map(repr, unknown))}; the columns are {', '.join(COLUMNS)}"
        )
    if missing := [name for name in REQUIRED_COLUMNS if name not in header]:
        raise FileError(f"{path}: the header lacks the column(s) {', '.join(missing)}")
    if len(set(header)) != len(header):
        raise FileError(f"{path}: a column is named twice in the header")
    return header, total


def csv_rows(path: Path, header: list[str]) -> Iterator[Row]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        seen_header, previous_end = False, 0
        for cells in reader:
            # A quoted cell may span lines: the record starts on the line after the previous record ended.
            start, previous_end = previous_end + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if not seen_header:
                seen_header = True
                continue
            where = f"line {start}"
            if len(cells) != len(header):
                problem = Problem("row", f"has {len(cells)} cells; the header has {len(header)} columns")
                yield Row(where, start, None, problems=[problem])
                continue
            data: dict[str, Any] = {}
            for name, cell in zip(header, cells, strict=True):
                value = cell.strip()
                if name in LIST_COLUMNS:
                    data[name] = [item.strip() for item in value.split(LIST_SEPARATOR) if item.strip()]
                elif name in LOCATION_COLUMNS:
                    if value:
                        data.setdefault("location", {})[LOCATION_COLUMNS[name]] = value
                elif value:
                    data[name] = value
            yield parse(where, start, data)


# JSON Lines: one EventCreate object per line, as the API takes it.
def jsonl_rows(path: Path) -> Iterator[Row]:
    with path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"line {number}"
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield Row(where, number, None, problems=[Problem("row", f"is not JSON: {exc}")])
                continue
            if not isinstance(data, dict):
                yield Row(where, number, None, problems=[Problem("row", "is not a JSON object")])
                continue
            yield parse(where, number, data)


# GeoJSON: a FeatureCollection whose features' properties are the event's fields. The geometry, a Point, says
# where the place is; it is checked as GeoJSON but not used: `properties.place` names the place.
def geojson_features(path: Path) -> list[Any]:
    try:
        document = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise FileError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise FileError(f"{path} is not a GeoJSON FeatureCollection")
    features = document.get("features")
    if not isinstance(features, list):
        raise FileError(f"{path}: 'features' must be a list")
    return features


def geojson_rows(features: list[Any]) -> Iterator[Row]:
    for number, feature in enumerate(features, start=1):
        where = f"feature {number}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            yield Row(where, None, None, problems=[Problem("feature", "is not a GeoJSON Feature")])
            continue
        properties = feature.get("properties")
        if not isinstance(properties, dict):
            yield Row(
                where, None, None, problems=[Problem("properties", "must be an object of event fields")]
            )
            continue
        data = dict(properties)
        # The Feature's own id stands for the external_id when the properties have none.
        if "external_id" not in data and isinstance(feature.get("id"), str | int):
            data["external_id"] = str(feature["id"])
        row = parse(where, None, data)
        if problem := geometry_problem(feature.get("geometry")):
            row = Row(row.where, None, row.external_id, problems=[*row.problems, problem])
        yield row


def geometry_problem(geometry: Any) -> Problem | None:
    """A null geometry is fine; otherwise a Point of [longitude, latitude] (RFC 7946 order)."""
    if geometry is None:
        return None
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        return Problem("geometry", "must be a GeoJSON Point (or null)")
    coordinates = geometry.get("coordinates")
    if (
        not isinstance(coordinates, list)
        or len(coordinates) not in (2, 3)
        or not all(isinstance(c, int | float) and math.isfinite(c) for c in coordinates)
    ):
        return Problem("geometry.coordinates", "must be [longitude, latitude]")
    lon, lat = coordinates[0], coordinates[1]
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        return Problem("geometry.coordinates", f"[{lon}, {lat}] is not a longitude and a latitude")
    return None
