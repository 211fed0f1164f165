"""Load the dataset in `data/` into the store, idempotently: a second run finds nothing to change.

Every row is upserted on its natural key (slug, external id) and only rewritten when its content differs, so an
unchanged event does not fire the period recomputation and keeps its id. The whole load is one transaction.
Seeding never deletes: a row removed from the files stays in the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import orjson
import yaml
from pydantic import BaseModel, ValidationError
from sqlalchemy import Table, delete, func, literal_column, select, tuple_, update
from sqlalchemy.dialects.postgresql import Range, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import (
    Actor,
    Base,
    Coalition,
    CoalitionMembership,
    ControlEvent,
    ControlEventSource,
    Place,
    PlaceName,
    Source,
)
from app.db.queries.events import RECORD_VERSIONS
from app.db.queries.references import References
from app.paths import DATA_DIR
from app.schemas.actors import ActorIn, CoalitionIn
from app.schemas.dataset import EventIn
from app.schemas.places import PlaceIn, PlaceNameIn
from app.schemas.sources import SourceIn
from app.services.events import event_references, event_row
from app.services.territory import InvalidFeatures, Kind, ingest

Model = TypeVar("Model", bound=BaseModel)


def table_of(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


class DatasetError(ValueError):
    """The dataset files are malformed or refer to something they do not define."""


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class SeedReport:
    counts: dict[str, Counts] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(c.created or c.updated for c in self.counts.values())

    def lines(self) -> list[str]:
        return [
            f"{name:<22} {c.created:>4} created {c.updated:>4} updated {c.unchanged:>4} unchanged"
            for name, c in self.counts.items()
        ]


def load_file(path: Path, model: type[Model]) -> list[Model]:
    try:
        rows = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except (OSError, yaml.YAMLError) as exc:
        raise DatasetError(f"{path.name}: {exc}") from exc
    if not isinstance(rows, list):
        raise DatasetError(f"{path.name}: expected a list of entries")
    items = []
    for index, row in enumerate(rows):
        try:
            items.append(model.model_validate(row))
        except ValidationError as exc:
            label = row.get("slug") or row.get("external_id") if isinstance(row, dict) else None
            raise DatasetError(f"{path.name} entry {index} ({label}): {exc}") from exc
    return items


async def _upsert(
    conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]], key: str
) -> tuple[dict[str, int], Counts]:
    """Insert or update rows on `key`; rows whose content is unchanged are left alone. Returns key -> id."""
    counts = Counts()
    if rows:
        upsert = insert(table).values(list(rows))
        columns = [name for name in rows[0] if name != key]
        stmt = upsert.on_conflict_do_update(
            index_elements=[key],
            set_={name: upsert.excluded[name] for name in columns},
            where=tuple_(*(table.c[n] for n in columns)).is_distinct_from(
                tuple_(*(upsert.excluded[n] for n in columns))
            ),
        ).returning(table.c[key], literal_column("xmax = 0").label("inserted"))
        for _, inserted in (await conn.execute(stmt)).all():
            if inserted:
                counts.created += 1
            else:
                counts.updated += 1
        counts.unchanged = len(rows) - counts.created - counts.updated
    keys = [row[key] for row in rows]
    found = await conn.execute(select(table.c[key], table.c.id).where(table.c[key].in_(keys)))
    return dict(found.all()), counts


async def _set_parents(conn: AsyncConnection, table: Table, parents: Iterable[tuple[int, int | None]]) -> int:
    changed = 0
    for row_id, parent_id in parents:
        result = await conn.execute(
            update(table)
            .where(table.c.id == row_id, table.c.parent_id.is_distinct_from(parent_id))
            .values(parent_id=parent_id)
        )
        changed += result.rowcount
    return changed


async def seed(conn: AsyncConnection, data_dir: Path = DATA_DIR) -> SeedReport:
    """Load every file of the dataset; the caller owns the transaction."""
    report = SeedReport()
    sources = load_file(data_dir / "sources.yaml", SourceIn)
    actors = load_file(data_dir / "actors.yaml", ActorIn)
    coalitions = load_file(data_dir / "coalitions.yaml", CoalitionIn)
    places = load_file(data_dir / "places.yaml", PlaceIn)
    events = load_file(data_dir / "events.yaml", EventIn)

    _, report.counts["sources"] = await _upsert(
        conn, table_of(Source), [s.model_dump() for s in sources], "slug"
    )
    actor_ids, report.counts["actors"] = await _upsert(
        conn, table_of(Actor), [a.model_dump(exclude={"parent"}) for a in actors], "slug"
    )
    coalition_ids, report.counts["coalitions"] = await _upsert(
        conn, table_of(Coalition), [c.model_dump(exclude={"members"}) for c in coalitions], "slug"
    )
    place_rows = [
        {
            "slug": p.slug,
            "name": p.name,
            "kind": p.kind,
            "country_code": p.country,
            "population": p.population,
            # ST_MakePoint takes longitude first (x), then latitude (y).
            "geom": func.ST_SetSRID(func.ST_MakePoint(p.lon, p.lat), 4326),
        }
        for p in places
    ]
    place_ids, report.counts["places"] = await _upsert(conn, table_of(Place), place_rows, "slug")
    report.counts["place names"] = await _insert_names(conn, places, place_ids)

    # Every row stored, the references between them are resolved as the API resolves them (slug, spelling,
    # alias), one statement per kind; each problem names the entry it is in.
    wanted = event_references(events)
    wanted["place"] |= {p.parent for p in places if p.parent}
    wanted["actor"] |= {a.parent for a in actors if a.parent} | {
        m.actor for c in coalitions for m in c.members
    }
    wanted["source"] |= {m.source for c in coalitions for m in c.members if m.source}
    refs = await References(conn).load(wanted)
    actor_parents = [
        (actor_ids[a.slug], refs.id("actor", a.parent, field=f"actor {a.slug}: parent")) for a in actors
    ]
    place_parents = [
        (place_ids[p.slug], refs.id("place", p.parent, field=f"place {p.slug}: parent")) for p in places
    ]
    memberships = {
        c.slug: {
            (
                refs.id("actor", m.actor, field=f"coalition {c.slug}: members.{index}.actor"),
                m.from_,
                m.to,
                m.role,
                m.note,
                refs.id("source", m.source, field=f"coalition {c.slug}: members.{index}.source"),
            )
            for index, m in enumerate(c.members)
        }
        for c in coalitions
    }
    event_rows = [event_row(e, refs, index) for index, e in enumerate(events)]
    if refs.problems:
        raise DatasetError(
            "; ".join(
                (f"event {events[p['index']].external_id}: " if "index" in p else "")
                + f"{p['field']}: {p['reason']}"
                for p in refs.problems
            )
        )

    report.counts["actors"].updated += await _set_parents(conn, table_of(Actor), actor_parents)
    report.counts["memberships"] = await _sync_memberships(conn, coalition_ids, memberships)
    report.counts["places"].updated += await _set_parents(conn, table_of(Place), place_parents)
    report.counts["events"] = await _upsert_events(conn, events, event_rows)
    report.counts["territories"] = await _load_features(conn, data_dir / "territories.geojson", "territory")
    report.counts["front lines"] = await _load_features(conn, data_dir / "frontlines.geojson", "front_line")
    return report


def load_feature_collection(path: Path) -> dict[str, Any]:
    try:
        collection = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise DatasetError(f"{path.name}: {exc}") from exc
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise DatasetError(f"{path.name}: expected a GeoJSON FeatureCollection")
    if not isinstance(collection.get("features"), list):
        raise DatasetError(f"{path.name}: `features` must be a list")
    return collection


async def _load_features(conn: AsyncConnection, path: Path, kind: Kind) -> Counts:
    """Territories or front lines through the same checks as the API; a changed feature is updated."""
    if not path.exists():
        return Counts()
    collection = load_feature_collection(path)
    try:
        report = await ingest(conn, kind, collection["features"], crs=collection.get("crs"), mode="seed")
    except InvalidFeatures as exc:
        problems = "; ".join(
            f"feature {e.get('index')} {e['field']}: {e['reason']}" for e in exc.members["errors"]
        )
        raise DatasetError(f"{path.name}: {problems}") from exc
    return Counts(report.count("created"), report.count("updated"), report.count("existing"))


async def _sync_memberships(
    conn: AsyncConnection,
    coalition_ids: dict[str, int],
    memberships: dict[str, set[tuple[Any, ...]]],
) -> Counts:
    """Memberships have no natural key: the files own the memberships of the actors they list for a coalition,
    and those are replaced only when they differ from the files. Memberships of other actors (added through the
    API) are left alone. `memberships`: coalition slug -> {(actor_id, from, to, role, note, source_id)}."""
    table = table_of(CoalitionMembership)
    counts = Counts()
    for slug, wanted in memberships.items():
        coalition_id = coalition_ids[slug]
        owned = {actor_id for actor_id, *_ in wanted}
        existing = await conn.execute(
            select(table.c.actor_id, table.c.valid, table.c.role, table.c.note, table.c.source_id).where(
                table.c.coalition_id == coalition_id, table.c.actor_id.in_(owned)
            )
        )
        have = {(a, v.lower, v.upper, r, n, s) for a, v, r, n, s in existing.all()}
        if have == wanted:
            counts.unchanged += len(wanted)
            continue
        await conn.execute(
            delete(table).where(table.c.coalition_id == coalition_id, table.c.actor_id.in_(owned))
        )
        if wanted:
            await conn.execute(
                insert(table),
                [
                    {
                        "coalition_id": coalition_id,
                        "actor_id": a,
                        "valid": Range(lo, hi, bounds="[)"),
                        "role": r,
                        "note": n,
                        "source_id": s,
                    }
                    for a, lo, hi, r, n, s in wanted
                ],
            )
        counts.created += len(wanted)
    return counts


async def _insert_names(conn: AsyncConnection, places: list[PlaceIn], place_ids: dict[str, int]) -> Counts:
    rows = [
        {"place_id": place_ids[p.slug], "name": n.name, "lang": n.lang}
        for p in places
        for n in [PlaceNameIn(name=p.name, lang="en"), *p.names]
    ]
    result = await conn.execute(
        insert(table_of(PlaceName)).values(rows).on_conflict_do_nothing().returning(table_of(PlaceName).c.id)
    )
    created = len(result.all())
    return Counts(created=created, unchanged=len(rows) - created)


async def _upsert_events(
    conn: AsyncConnection, events: list[EventIn], event_rows: list[dict[str, Any]]
) -> Counts:
    """Events with their rows as `event_row` made them (the rule the API writes by)."""
    rows = [
        {"external_id": e.external_id} | {k: v for k, v in row.items() if k != "source_ids"}
        for e, row in zip(events, event_rows, strict=True)
    ]
    event_ids, counts = await _upsert(conn, table_of(ControlEvent), rows, "external_id")

    links = table_of(ControlEventSource)
    wanted = {
        (event_ids[e.external_id], source_id)
        for e, row in zip(events, event_rows, strict=True)
        for source_id in row["source_ids"]
    }
    existing = await conn.execute(
        select(links.c.control_event_id, links.c.source_id).where(
            links.c.control_event_id.in_(list(event_ids.values()))
        )
    )
    have = {tuple(row) for row in existing.all()}
    if stale := have - wanted:
        await conn.execute(
            delete(links).where(tuple_(links.c.control_event_id, links.c.source_id).in_(list(stale)))
        )
    if missing := wanted - have:
        await conn.execute(
            insert(links),
            [{"control_event_id": e, "source_id": s} for e, s in sorted(missing)],
        )
    # A new event gets its first version; a changed one (content or sources) a new version, the old one kept.
    await conn.execute(RECORD_VERSIONS, {"ids": sorted(event_ids.values()), "key_id": None})
    return counts
