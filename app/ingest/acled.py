"""ACLED exports (CSV, as acleddata.com and its API write them), read into the events `territory import acled`
records.

Which rows become control events: the three territory sub-event types. ACLED's codebook has actor1 as the one
that "regains", "overtakes" or acquires the location without a fight, so actor1 holds it after the event and
actor2 (when named) is the one that lost it:

| `sub_event_type` | our `kind` | holder (`actor`) | `loses` |
|---|---|---|---|
| Government regains territory | recaptured | actor1 | actor2 |
| Non-state actor overtakes territory | captured | actor1 | actor2 |
| Non-violent transfer of territory | withdrawn | actor1 | actor2 |

Every other row is skipped and counted by its sub-event type. Actors go through a mapping file (ACLED's actor
name -> our actor slug, `data/acled/actors.yaml`): a name the file does not list refuses its row (reported, with
the names, not half-imported); a name mapped to `null` is known but none of ours, which is fine for the loser
(`loses` stays empty) and refuses the row as the holder. `assoc_actor_*` are not used: the holder is actor1.

Dates: `event_date` is YYYY-MM-DD (exports since 2023) or "15 January 2017" (older ones). `time_precision` 1
(the actual day) is `day`; 2 (a week) and 3 (a month) are `month`, dated the 1st of that month, our nearest
precision that holds the week. Places are given by `location` and `latitude`/`longitude`, for the gazetteer.
`source` (publishers, `;`-separated) become source records beside ACLED itself; `event_id_cnty` is the event's
key (`acled:SYR1234`); `timestamp` (Unix seconds) is when ACLED last changed the row.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from app.ingest.formats import FileError, Problem, problems_of
from app.schemas.events import EventCreate
from app.vocabulary import EventKind, Precision

ORIGIN = "acled"
ACLED_SOURCE = {
    "slug": "acled",
    "title": "Armed Conflict Location & Event Data (ACLED)",
    "publisher": "ACLED",
    "url": "https://acleddata.com",
    "notes": "Events imported from ACLED exports (`territory import acled`); each also cites the sources ACLED "
    "names for it.",
}
TERRITORY_CHANGES: dict[str, EventKind] = {
    "Government regains territory": "recaptured",
    "Non-state actor overtakes territory": "captured",
    "Non-violent transfer of territory": "withdrawn",
}
PRECISIONS: dict[str, Precision] = {"1": "day", "2": "month", "3": "month"}
REQUIRED = (
    "event_id_cnty",
    "event_date",
    "time_precision",
    "sub_event_type",
    "actor1",
    "actor2",
    "location",
    "latitude",
    "longitude",
    "source",
    "notes",
    "timestamp",
)
# Our field -> the export's column, for the problems of a row.
COLUMN_OF = {
    "place": "location",
    "location.lat": "latitude",
    "location.lon": "longitude",
    "date": "event_date",
}
COUNTRY_OF_KEY = re.compile(r"^([A-Z]+)\d+$")


@dataclass(frozen=True)
class AcledRow:
    """One row of the export: an event to record, a row skipped (not a territory change), or refused."""

    line: int
    event_id: str
    on: date | None  # the row's date as given (for the span an export covers)
    sub_event_type: str
    modified_at: datetime | None
    event: EventCreate | None = None
    problems: list[Problem] = field(default_factory=list)
    unmapped: tuple[str, ...] = ()

    @property
    def external_id(self) -> str:
        return f"{ORIGIN}:{self.event_id}"

    @property
    def country(self) -> str | None:
        match = COUNTRY_OF_KEY.match(self.event_id)
        return match[1] if match else None


@dataclass(frozen=True)
class AcledExport:
    path: Path
    rows: list[AcledRow]
    publishers: dict[str, str]  # source slug -> the publisher's name as ACLED writes it

    @property
    def skipped(self) -> Counter[str]:
        return Counter(r.sub_event_type for r in self.rows if r.event is None and not r.problems)

    @property
    def unmapped(self) -> Counter[str]:
        return Counter(name for r in self.rows for name in r.unmapped)


def load_mapping(path: Path) -> dict[str, str | None]:
    """The mapping file: a YAML mapping of ACLED actor names to our actor slugs (or null: none of ours)."""
    try:
        mapping = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FileError(f"cannot read the actor mapping {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise FileError(f"the actor mapping {path} is not YAML: {exc}") from exc
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in mapping.items()
    ):
        raise FileError(f"the actor mapping {path} must map ACLED actor names to actor slugs (or null)")
    return {k.strip(): v.strip() if v else None for k, v in mapping.items()}


def source_slug(publisher: str) -> str:
    """`acled-src-<the name's letters and digits>`: one source record per publisher ACLED cites."""
    ascii_name = unicodedata.normalize("NFKD", publisher).encode("ascii", "ignore").decode().lower()
    return ("acled-src-" + re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-"))[:120].rstrip("-")


def parse_date(value: str) -> date:
    for pattern in ("%Y-%m-%d", "%d %B %Y", "%d-%B-%Y"):
        try:
            return datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    raise ValueError(f"'{value}' is not a date as ACLED writes one (2017-01-16 or 16 January 2017)")


def read_export(path: Path, mapping: Mapping[str, str | None]) -> AcledExport:
    """The export's rows, each an event, a skipped row or a refused one; a file that is no ACLED export is a
    FileError."""
    if not path.is_file():
        raise FileError(f"no such file: {path}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [name.strip().lower() for name in reader.fieldnames or []]
            if missing := [name for name in REQUIRED if name not in header]:
                raise FileError(f"{path}: not an ACLED export, the header lacks {', '.join(missing)}")
            reader.fieldnames = header
            rows: list[AcledRow] = []
            publishers: dict[str, str] = {}
            seen: dict[str, int] = {}
            for record in reader:
                line = reader.line_num
                cells = {k: (v or "").strip() for k, v in record.items() if k is not None}
                row = parse_row(line, cells, mapping, publishers)
                if (first := seen.setdefault(row.event_id, line)) != line:
                    row = refused(row, Problem("event_id_cnty", f"'{row.event_id}' is also on line {first}"))
                rows.append(row)
    except UnicodeDecodeError as exc:
        raise FileError(f"{path} is not UTF-8 text: {exc}") from exc
    except csv.Error as exc:
        raise FileError(f"{path} is not CSV: {exc}") from exc
    return AcledExport(path, rows, publishers)


def refused(row: AcledRow, problem: Problem) -> AcledRow:
    return AcledRow(
        row.line, row.event_id, row.on, row.sub_event_type, row.modified_at, None, [*row.problems, problem],
        row.unmapped,
    )  # fmt: skip


def parse_row(
    line: int, cells: dict[str, str], mapping: Mapping[str, str | None], publishers: dict[str, str]
) -> AcledRow:
    event_id, sub_event_type = cells["event_id_cnty"], cells["sub_event_type"]
    problems: list[Problem] = []
    if not event_id:
        problems.append(Problem("event_id_cnty", "is empty: it is the event's key"))
    on: date | None = None
    try:
        on = parse_date(cells["event_date"])
    except ValueError as exc:
        problems.append(Problem("event_date", str(exc)))
    modified_at = None
    if cells["timestamp"]:
        try:
            modified_at = datetime.fromtimestamp(int(cells["timestamp"]), UTC)
        except (ValueError, OverflowError):
            problems.append(Problem("timestamp", f"'{cells['timestamp']}' is not a Unix time in seconds"))
    base = AcledRow(line, event_id, on, sub_event_type, modified_at)
    kind = TERRITORY_CHANGES.get(sub_event_type)
    if kind is None:
        return AcledRow(line, event_id, on, sub_event_type, modified_at, problems=problems)

    unmapped = tuple(name for name in (cells["actor1"], cells["actor2"]) if name and name not in mapping)
    for column, name in (("actor1", cells["actor1"]), ("actor2", cells["actor2"])):
        if name and name not in mapping:
            problems.append(Problem(column, f"'{name}' is not in the actor mapping"))
    holder = mapping.get(cells["actor1"]) if cells["actor1"] else None
    if cells["actor1"] in mapping and holder is None:
        problems.append(
            Problem("actor1", f"'{cells['actor1']}' maps to no actor of ours: it would hold the place")
        )
    elif not cells["actor1"]:
        problems.append(Problem("actor1", "is empty: it is the actor that holds the place after the event"))
    precision = PRECISIONS.get(cells["time_precision"])
    if precision is None:
        problems.append(Problem("time_precision", f"'{cells['time_precision']}' is not 1, 2 or 3"))
    if problems or on is None or precision is None:
        return AcledRow(line, event_id, on, sub_event_type, modified_at, problems=problems, unmapped=unmapped)

    loser = mapping.get(cells["actor2"]) if cells["actor2"] else None
    cited = [p.strip() for p in cells["source"].split(";") if p.strip()]
    for publisher in cited:
        publishers.setdefault(source_slug(publisher), publisher)
    data: dict[str, Any] = {
        "external_id": base.external_id,
        "place": cells["location"],
        "location": {"lat": cells["latitude"], "lon": cells["longitude"]},
        "date": on if precision == "day" else on.replace(day=1),
        "precision": precision,
        "kind": kind,
        "actor": holder,
        "loses": loser if loser != holder else None,
        "status": "controlled",
        # ACLED compiles reports; it does not confirm them.
        "confidence": "reported",
        "sources": [ACLED_SOURCE["slug"], *dict.fromkeys(source_slug(p) for p in cited)],
        "notes": cells["notes"] or None,
    }
    try:
        event = EventCreate.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(COLUMN_OF.get(p.field, p.field), p.reason) for p in problems_of(exc)]
        return AcledRow(line, event_id, on, sub_event_type, modified_at, problems=problems)
    return AcledRow(line, event_id, on, sub_event_type, modified_at, event=event)
