"""Drive an ingestion: a file's rows, in batches, to a target; every outcome and problem kept for the report.

The rules a script can rely on:
- A row that does not parse (or repeats an earlier row's external_id with other content) is rejected on its
  own and never sent; the other rows go in batches of `batch_size`, in file order.
- Each batch is recorded whole or not at all (it is one transaction). A rejected batch is reported row by row
  (the rows at fault, with their problems) and the run goes on with the next batch. Running the file again
  after fixing it is safe: rows already recorded come back as "already present".
- With all-or-nothing (direct mode) the whole file is one transaction: one rejected row and nothing stays.
- The exit code is 0 when nothing was rejected, 1 when rows were, 2 for a problem with the call or the file,
  3 when the database or the service could not be reached (trying again later may work).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from app.ingest.formats import EventFile, Problem, Row
from app.ingest.targets import Aborted, Rejected, Target, TooLarge
from app.services.events import Outcome


@dataclass(frozen=True)
class Rejection:
    where: str  # "line 12", "feature 3", or "lines 2–1001" for a problem of a whole batch
    line: int | None
    external_id: str | None
    field: str
    reason: str

    @property
    def position(self) -> int:
        """The row's (or the batch's first row's) number in its file, to report in file order."""
        return int(self.where.split()[1].split("–")[0])


@dataclass
class Report:
    path: Path
    dry_run: bool = False
    all_or_nothing: bool = False
    checked_by_target: bool = True  # False: --dry-run with --url, the rows were only parsed
    rows: int = 0
    created: int = 0
    existing: int = 0
    valid: int = 0  # parsed and not sent (--dry-run with --url)
    unrecorded: int = 0  # rows without a problem of their own, in a rejected batch
    batches: int = 0
    rejected_batches: int = 0
    retries: int = 0  # batches sent again after a 429, a 503 or a lost connection
    rejections: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    recorded: bool = False  # what was accepted stays in the database
    aborted: Aborted | None = None

    @property
    def rejected_rows(self) -> int:
        return len({r.where for r in self.rejections if r.where.split()[0] in ("line", "feature")})

    @property
    def exit_code(self) -> int:
        if self.aborted is not None:
            return self.aborted.exit_code
        return 1 if self.rejections else 0

    def location(self, rejection: Rejection) -> str:
        if rejection.line is not None:
            return f"{self.path}:{rejection.line}"
        return f"{self.path}: {rejection.where}"

    def problem_lines(self) -> list[str]:
        """One line per problem, `file:line: field: reason (external_id)`, as compilers print them."""
        return [
            f"{self.location(r)}: {r.field}: {r.reason}" + (f" ({r.external_id})" if r.external_id else "")
            for r in self.in_file_order()
        ]

    def in_file_order(self) -> list[Rejection]:
        return sorted(self.rejections, key=lambda r: r.position)  # stable: a row's problems keep their order

    def note_lines(self) -> list[str]:
        notes = [f"note: {n}" for n in self.notes]
        if self.retries:
            notes.append(
                f"note: {self.retries} requests were sent again (rate limit, busy service or lost connection)"
            )
        return notes

    def summary(self) -> str:
        rejected = f"{self.rejected_rows} rejected"
        if self.rejected_rows != len(self.rejections):
            rejected += f" ({len(self.rejections)} problems)"
        if self.dry_run and not self.checked_by_target:
            head = "dry run, nothing was sent (places, actors and sources are checked only when sent)"
            counts = f"{self.valid} valid, {rejected}"
        elif self.dry_run:
            head = "dry run, nothing was written"
            counts = f"{self.created} would be created, {self.existing} already present, {rejected}"
        else:
            head = "done" if self.aborted is None else "stopped"
            counts = f"{self.created} created, {self.existing} already present, {rejected}"
        text = f"{head}: {self.rows} rows in {self.path.name}: {counts}"
        if self.unrecorded and not (self.dry_run or (self.all_or_nothing and self.rejections)):
            text += (
                f"; {self.unrecorded} more not recorded, because their batch was rejected: fix the rejected"
                " rows and run the file again (rows already recorded are skipped)"
            )
        if self.all_or_nothing and not self.dry_run and not self.recorded:
            text += "; --all-or-nothing: nothing was recorded"
        if self.aborted is not None:
            text += f"; stopped: {self.aborted}"
            if self.created and self.recorded:
                text += " (the batches before it stay recorded; run the file again to finish)"
        return text

    def as_json(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "dry_run": self.dry_run,
            "rows": self.rows,
            "created": self.created,
            "existing": self.existing,
            "valid": self.valid,
            "rejected": self.rejected_rows,
            "not_recorded": self.unrecorded,
            "recorded": self.recorded,
            "batches": self.batches,
            "rejected_batches": self.rejected_batches,
            "retries": self.retries,
            "errors": [
                {
                    "where": r.where,
                    "line": r.line,
                    "external_id": r.external_id,
                    "field": r.field,
                    "reason": r.reason,
                }
                for r in self.in_file_order()
            ],
            "notes": self.notes,
            "stopped": None if self.aborted is None else str(self.aborted),
            "exit_code": self.exit_code,
        }


class Ingestion:
    """Rows to batches to the target, the report kept as the answers come."""

    def __init__(
        self, target: Target | None, report: Report, *, batch_size: int, advance: Callable[[int], None]
    ) -> None:
        self.target, self.report, self.batch_size, self.advance = target, report, batch_size, advance
        self.first_seen: dict[str, tuple[str, bytes]] = {}  # external_id -> (where, digest of its content)

    async def run(self, rows: Iterator[Row]) -> None:
        batch: list[Row] = []
        for row in rows:
            self.report.rows += 1
            problems = row.problems or self.repeated(row)
            if problems:
                self.reject(row, problems)
                self.advance(1)
                continue
            batch.append(row)
            if len(batch) >= self.batch_size:
                await self.send(batch)
                batch = []
        if batch:
            await self.send(batch)

    def repeated(self, row: Row) -> list[Problem]:
        """An external_id seen earlier in the file with other content: the later row is at fault."""
        assert row.event is not None and row.external_id is not None
        digest = hashlib.blake2b(orjson.dumps(row.event.model_dump(mode="json")), digest_size=16).digest()
        where, first = self.first_seen.setdefault(row.external_id, (row.where, digest))
        if first == digest:
            return []
        return [Problem("external_id", f"'{row.external_id}' is also on {where}, with other content")]

    def reject(self, row: Row, problems: list[Problem]) -> None:
        for p in problems:
            self.report.rejections.append(Rejection(row.where, row.line, row.external_id, p.field, p.reason))

    async def send(self, batch: list[Row]) -> None:
        if self.target is None:  # parse only
            self.report.valid += len(batch)
            self.advance(len(batch))
            return
        result = await self.target.send([row.event for row in batch if row.event is not None])
        if isinstance(result, TooLarge):
            await self.split(batch, result)
            return
        self.report.batches += 1
        if isinstance(result, Outcome):
            self.report.created += result.created
            self.report.existing += result.existing
        else:
            self.rejected(batch, result)
        self.advance(len(batch))

    async def split(self, batch: list[Row], too_large: TooLarge) -> None:
        """Send smaller batches: the service's most, or halves when it limits bytes; each is its own batch."""
        if len(batch) == 1:
            self.report.batches += 1
            self.rejected(
                batch, Rejected(too_large.detail, [{"index": 0, "field": "row", "reason": too_large.detail}])
            )
            self.advance(1)
            return
        limit = too_large.max_batch
        size = limit if limit and limit < len(batch) else max(1, len(batch) // 2)
        if size < self.batch_size:
            self.batch_size = size
            self.report.notes.append(
                f"the service refused a batch ({too_large.detail}); sending {size} at a time"
            )
        for start in range(0, len(batch), size):
            await self.send(batch[start : start + size])

    def rejected(self, batch: list[Row], result: Rejected) -> None:
        self.report.rejected_batches += 1
        at_fault: set[int] = set()
        for error in result.errors or [{"field": "batch", "reason": result.detail}]:
            index = error.get("index")
            name = str(error.get("field") or "row")
            if isinstance(index, int) and 0 <= index < len(batch):
                row = batch[index]
                at_fault.add(index)
                name = name.removeprefix(f"events.{index}.")  # the API's own request validation
                self.report.rejections.append(
                    Rejection(row.where, row.line, row.external_id, name, str(error.get("reason")))
                )
            else:
                where = span(batch)
                self.report.rejections.append(Rejection(where, None, None, name, str(error.get("reason"))))
        self.report.unrecorded += len(batch) - len(at_fault)


def span(batch: list[Row]) -> str:
    """`lines 2–1001` or `features 1–3`: where a batch lies in its file."""
    first, last = batch[0].where, batch[-1].where
    if first == last:
        return first
    kind, start = first.split()
    return f"{kind}s {start}–{last.split()[1]}"


async def ingest(
    event_file: EventFile,
    target: Target | None,
    *,
    batch_size: int,
    dry_run: bool = False,
    all_or_nothing: bool = False,
    progress: bool = True,
) -> Report:
    """Send the file's rows to the target (None: parse only) and commit what may stay; never raises Aborted."""
    report = Report(
        event_file.path, dry_run=dry_run, all_or_nothing=all_or_nothing, checked_by_target=target is not None
    )
    console = Console(stderr=True)
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        TimeRemainingColumn(),
        console=console,
        disable=not (progress and console.is_terminal),
        transient=False,
    )
    with bar:
        task = bar.add_task(event_file.path.name, total=event_file.total)
        ingestion = Ingestion(target, report, batch_size=batch_size, advance=lambda n: bar.advance(task, n))
        try:
            await ingestion.run(event_file.rows)
        except Aborted as exc:
            report.aborted = exc
    if target is not None:
        report.retries = target.retries
        # A dry run is rolled back; so is an all-or-nothing run with a rejection, or one that stopped.
        keep = not dry_run and not (all_or_nothing and (report.rejections or report.aborted))
        try:
            report.recorded = await target.finish(commit=keep)
        except Aborted as exc:
            report.aborted = exc
    return report
