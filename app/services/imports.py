"""Importing another dataset's export (ACLED): its events recorded, updated, and retracted as the export changes.

One import is one transaction (the caller runs it in `in_transaction`): its sources, its events in batches
through `create_events` (the same references, gazetteer, idempotency and one-holder-a-day rule as the API),
with `correct` so that a changed row corrects its event (the earlier version kept in the history), where each
event came from, and the retractions. A database refusal (a conflict) undoes all of it; rows the export itself
makes unusable (an unmapped actor) are refused on their own and the others go in.

Re-importing the same export changes nothing. A newer one updates the events whose rows changed, leaves alone
those whose ACLED `timestamp` is older than the one recorded (an older export read after a newer one), and
retracts the events of this origin it no longer has, within what it covers: the countries of its keys, from its
first to its last date. A row that is no longer a territory change (its sub-event type changed) is no longer an
event of ours either: its event is retracted too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries import events as event_queries
from app.db.queries import imports as q
from app.errors import DomainError
from app.ingest.acled import ACLED_SOURCE, ORIGIN, AcledExport, AcledRow
from app.services.events import create_events
from app.services.keys import Recorder


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    older: int = 0  # rows older (by ACLED's timestamp) than what an earlier import recorded: left alone
    retracted: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    unmapped: Counter[str] = field(default_factory=Counter)
    refused: list[dict[str, Any]] = field(default_factory=list)  # {line, event_id, field, reason}
    places: Counter[str] = field(default_factory=Counter)  # matched / created (for review)
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        return 1 if self.refused else 0

    def lines(self) -> list[str]:
        """The refused rows, then the summary."""
        out = [f"line {r['line']}: {r['field']}: {r['reason']} ({r['event_id']})" for r in self.refused]
        changes = self.created + self.updated + self.unchanged + self.older
        verb = "would be " if self.dry_run else ""
        out.append(
            f"{self.rows} rows, {changes} territory changes: {self.created} {verb}created, "
            f"{self.updated} {verb}updated, {self.unchanged} unchanged, {self.older} older than recorded; "
            f"{len(self.retracted)} {verb}retracted; {len(self.refused and {r['line'] for r in self.refused})} "
            "rows refused"
        )
        if self.skipped:
            out.append(
                "skipped (not a territory change): "
                + ", ".join(f"{k} {n}" for k, n in sorted(self.skipped.items()))
            )
        if self.unmapped:
            out.append(
                "unmapped actors (add them to the mapping file): "
                + ", ".join(f"'{k}' ({n} rows)" for k, n in sorted(self.unmapped.items()))
            )
        if self.places:
            out.append(
                f"places: {self.places['matched']} known, {self.places['created']} {verb}created for review "
                "(/v1/places?review=true)"
            )
        if self.dry_run:
            out.append("dry run: nothing was recorded")
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "older": self.older,
            "retracted": self.retracted,
            "skipped": dict(self.skipped),
            "unmapped": dict(self.unmapped),
            "refused": self.refused,
            "places": dict(self.places),
            "dry_run": self.dry_run,
            "exit_code": self.exit_code,
        }


class ImportRejected(Exception):
    """The database refused the import (a conflict, an unknown reference): nothing of it was recorded."""

    def __init__(self, detail: str, refused: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.detail, self.refused = detail, refused


def refusal(row: AcledRow, field_name: str, reason: str) -> dict[str, Any]:
    return {"line": row.line, "event_id": row.event_id, "field": field_name, "reason": reason}


async def import_acled(
    conn: AsyncConnection, export: AcledExport, *, key: Recorder, retract: bool = True, batch_size: int = 1000
) -> ImportReport:
    """Record an ACLED export's territory changes; see the module's docstring for what a re-import does."""
    report = ImportReport(rows=len(export.rows), skipped=export.skipped, unmapped=export.unmapped)
    for row in export.rows:
        report.refused += [refusal(row, p.field, p.reason) for p in row.problems]
    wanted = [row for row in export.rows if row.event is not None]

    sources = [ACLED_SOURCE] + [
        {
            "slug": slug,
            "title": name,
            "publisher": name,
            "url": None,
            "notes": "A source ACLED cites for its events.",
        }
        for slug, name in sorted(export.publishers.items())
    ]
    await conn.execute(q.ADD_SOURCES, {"rows": orjson.dumps(sources).decode()})

    recorded = {
        r.external_id: r
        for r in await conn.execute(
            q.MODIFIED, {"external_ids": [row.external_id for row in wanted], "origin": ORIGIN}
        )
    }
    fresh = []
    for row in wanted:
        # An older row than the one recorded, or the very row of an event a later export retracted: this
        # export is older than what was imported, and undoes nothing.
        before = recorded.get(row.external_id)
        if (
            before is not None
            and before.modified_at is not None
            and row.modified_at is not None
            and (
                row.modified_at < before.modified_at
                or (row.modified_at == before.modified_at and before.retracted)
            )
        ):
            report.older += 1
        else:
            fresh.append(row)

    origins = []
    for start in range(0, len(fresh), batch_size):
        batch = fresh[start : start + batch_size]
        try:
            outcome = await create_events(
                conn, [row.event for row in batch if row.event], key=key, correct=True
            )
        except DomainError as exc:
            refused = [
                refusal(batch[e["index"]], str(e.get("field", "row")), str(e.get("reason")))
                for e in exc.members.get("errors", [])
                if isinstance(e.get("index"), int) and 0 <= e["index"] < len(batch)
            ]
            raise ImportRejected(exc.detail, refused) from exc
        for row, item in zip(batch, outcome.items, strict=True):
            result = item["result"]
            report.created += result == "created"
            report.updated += result == "corrected"
            report.unchanged += result == "existing"
            report.places[item["place"]["result"]] += 1
            origins.append({"id": item["id"], "modified_at": row.modified_at})
    if origins:
        await conn.execute(q.RECORD_ORIGINS, {"rows": orjson.dumps(origins).decode(), "origin": ORIGIN})

    if retract:
        report.retracted = await retract_gone(conn, export, wanted, key=key)
    return report


async def retract_gone(
    conn: AsyncConnection, export: AcledExport, wanted: list[AcledRow], *, key: Recorder
) -> list[str]:
    """Retract the events of earlier imports this export no longer has (within what it covers); their keys."""
    spans: dict[str, tuple[date, date]] = {}
    for row in export.rows:
        dates = [d for d in (row.on, row.event.date if row.event else None) if d is not None]
        if row.country is None or not dates:
            continue
        first, last = spans.get(row.country, (min(dates), max(dates)))
        spans[row.country] = (min(first, *dates), max(last, *dates))
    # Kept: every event this export still has as a territory change, and those of rows refused here (an
    # unmapped actor says nothing about the event).
    present = [row.external_id for row in wanted] + [row.external_id for row in export.rows if row.problems]
    params = {
        "spans": orjson.dumps(
            [{"country": c, "first": a, "last": b} for c, (a, b) in spans.items()]
        ).decode(),
        "present": present,
        "origin": ORIGIN,
    }
    gone = (await conn.execute(q.GONE, params)).all()
    if not gone:
        return []
    ids = [g.id for g in gone]
    await conn.execute(event_queries.RETRACT_EVENTS, {"ids": ids, "key_id": key.id})
    await conn.execute(event_queries.RECORD_VERSIONS, {"ids": ids, "key_id": key.id})
    return [g.external_id for g in gone]
