"""Writing the reference data events point to: places and their spellings, sources, actors, coalitions and
their memberships.

Every write is idempotent on the natural key, as event writes are: a create whose slug is stored with the same
content answers with the stored row (200), with other content it is refused (409, listing the differences) and
the fields are corrected with PATCH. References (a parent, a member actor, a source) are resolved like an
event's, and an unknown one is refused (422) with the closest matches. The caller owns the transaction.

Nothing here keeps history: these rows are the vocabulary events are written in, and each write is logged with
the key that made it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries import actors as read_q
from app.db.queries import registry as q
from app.db.queries.as_of import statement_at
from app.db.queries.places import PLACE_DETAIL, one_place_json
from app.db.queries.references import Kind, References, resolve
from app.errors import Conflict, NotFound, Unprocessable, sqlstate
from app.schemas.actors import ActorIn, ActorPatch, CoalitionIn, CoalitionPatch, MembershipIn, MembershipPatch
from app.schemas.places import PlaceIn, PlaceNameIn, PlacePatch
from app.schemas.sources import SourceIn, SourcePatch
from app.services.keys import ApiKey

logger = logging.getLogger("territory")
Model = TypeVar("Model", bound=BaseModel)
EXCLUSION_VIOLATION = "23P01"
# The primary name of a place is also one of its spellings; the dataset files store it as English.
PRIMARY_LANG = "en"


@dataclass(frozen=True)
class Written:
    """What a write answers: 201 when it created the row, 200 otherwise; the body; the row's slug (and the
    membership's id), from which the route builds where the row is read."""

    created: bool
    body: bytes
    slug: str
    membership_id: int | None = None


def with_warnings(body: str, warnings: list[dict[str, Any]]) -> bytes:
    """The row's JSON (an object built by PostgreSQL) with a `warnings` member added (a write answers once: the
    parse costs nothing that matters)."""
    return orjson.dumps(orjson.loads(body) | {"warnings": warnings})


def summary(errors: list[dict[str, Any]]) -> str:
    head = "; ".join(f"{e['field']}: {e['reason']}" for e in errors[:5])
    more = f" (and {len(errors) - 5} more problems)" if len(errors) > 5 else ""
    return f"nothing was recorded: {head}{more}"


def merged(model: type[Model], current: dict[str, Any], patch: BaseModel) -> Model:
    """The stored fields with a correction applied, checked by the model that checks a create."""
    fields = {**current, **patch.model_dump(exclude_unset=True, by_alias=True)}
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        errors = [
            {"location": "body", "field": ".".join(map(str, e["loc"])) or "body", "reason": e["msg"]}
            for e in exc.errors()
        ]
        raise Unprocessable(summary(errors), errors=errors) from None


async def resolved(
    conn: AsyncConnection, wanted: list[tuple[Kind, str | None, str, int | None]]
) -> dict[str, int | None]:
    """References of a body -> ids, by field: (kind, reference, field, index). 422 naming each unknown or
    ambiguous one, with the closest matches."""
    by_kind: dict[Kind, list[str | None]] = {}
    for kind, ref, _, _ in wanted:
        by_kind.setdefault(kind, []).append(ref)
    refs = await References(conn).load(by_kind)
    ids = {field: refs.id(kind, ref, field=field, index=index) for kind, ref, field, index in wanted}
    if refs.problems:
        raise Unprocessable(summary(refs.problems), errors=refs.problems)
    return ids


async def canonical(conn: AsyncConnection, kind: Kind, ref: str) -> str:
    """The slug of the row a path names by any reference (404 with suggestions when it names none)."""
    return str((await resolve(conn, kind, ref, field="slug", location="path"))["slug"])


def differences(stored: dict[str, Any], sent: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "field": name,
            "reason": f"stored {stored[name]!r}, sent {value!r}",
            "stored": stored[name],
            "sent": value,
        }
        for name, value in sent.items()
        if stored[name] != value
    ]


def already_stored(what: str, slug: str, errors: list[dict[str, Any]], fix: str) -> Conflict:
    fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
    return Conflict(
        f"{what} '{slug}' is already stored with other content ({fields}); nothing was recorded. {fix}",
        errors=errors,
    )


def audit(key: ApiKey, action: str, what: str, slug: str) -> None:
    logger.info("%s %s %s by key %s (%s)", what, slug, action, key.prefix, key.name)


# --- Places -------------------------------------------------------------------------------------------------


def spellings(place: PlaceIn) -> list[PlaceNameIn]:
    """The primary name first (in the language `names` gives it, else English), then the others, once each."""
    given = {n.name: n.lang for n in place.names}
    names = [PlaceNameIn(name=place.name, lang=given.get(place.name) or PRIMARY_LANG), *place.names]
    return list({n.name: n for n in reversed(names)}.values())[::-1]


async def name_warnings(
    conn: AsyncConnection, place_id: int, names: list[str], *, primary: str | None, slug: str | None = None
) -> list[dict[str, Any]]:
    """What lookups by these spellings (and slug) will do that the writer may not expect; see NAME_WARNINGS."""
    rows = await conn.execute(q.NAME_WARNINGS, {"place_id": place_id, "names": names, "slug": slug})
    warnings = []
    for kind, name, others in rows:
        listed = ", ".join(f"{o['name']} ({o['slug']})" if "slug" in o else f"'{o['name']}'" for o in others)
        reason = {
            "shared": f"'{name}' is also a spelling of {listed}: a lookup by it answers 409 (ambiguous), "
            "listing the places",
            "shadowed": f"'{name}' is the slug or id of {listed}: a lookup by it finds that place, not this one",
            "taken": f"the slug '{name}' reads like a spelling of {listed}: a lookup by exactly '{name}' now "
            "finds this place",
            "duplicate": f"'{name}' reads the same as {listed}, already a spelling of this place: lookups "
            "already found it",
        }[kind]
        field = "slug" if kind == "taken" else "name" if name == primary else "names"
        warnings.append({"field": field, "name": name, "kind": kind, "reason": reason, "others": others})
    return warnings


# A point this far from every other place of its country, whose swapped pair is at most half as far, looks like
# latitude and longitude sent in the wrong order.
FAR_KM = 100


async def coordinate_warnings(conn: AsyncConnection, place_id: int, place: PlaceIn) -> list[dict[str, Any]]:
    params = {"place_id": place_id, "country": place.country, "lat": place.lat, "lon": place.lon}
    given, swapped = (await conn.execute(q.SWAP_CHECK, params)).one()
    if given is None or swapped is None or given < FAR_KM or swapped > given / 2:
        return []
    return [
        {
            "field": "lat",
            "kind": "swapped",
            "reason": f"the point is {given:.0f} km from the nearest other place in {place.country}, and would "
            f"be {swapped:.0f} km from one with lat and lon swapped: were they sent in the wrong order? "
            "(lat is the latitude, north-south; lon the longitude, east-west)",
        }
    ]


async def place_body(conn: AsyncConnection, slug: str, warnings: list[dict[str, Any]]) -> bytes:
    return with_warnings(await one_place_json(conn, PLACE_DETAIL, slug), warnings)


async def create_place(conn: AsyncConnection, place: PlaceIn, *, key: ApiKey) -> Written:
    """Store a new place with its spellings; the same place again changes nothing."""
    parent_id = (await resolved(conn, [("place", place.parent, "parent", None)]))["parent"]
    row = {
        "slug": place.slug,
        "name": place.name,
        "kind": place.kind,
        "country": place.country,
        "lat": place.lat,
        "lon": place.lon,
        "population": place.population,
        "parent_id": parent_id,
    }
    names = spellings(place)
    place_id = await conn.scalar(q.INSERT_PLACE, row)
    created = place_id is not None
    if created:
        await conn.execute(
            q.INSERT_NAMES,
            {"place_id": place_id, "names": [n.name for n in names], "langs": [n.lang for n in names]},
        )
        audit(key, "created", "place", place.slug)
    else:
        stored = (await conn.execute(q.STORED_PLACE, {"slug": place.slug})).one()
        place_id = stored.id
        errors = differences(dict(stored._mapping), {k: v for k, v in row.items() if k != "slug"})
        for error in errors:
            if error["field"] == "parent_id":  # say it with slugs, as it was sent
                error.update(
                    field="parent",
                    reason=f"stored {stored.parent!r}, sent {place.parent!r}",
                    stored=stored.parent,
                    sent=place.parent,
                )
        errors += name_differences(stored, place.names, place.slug)
        if errors:
            raise already_stored(
                "The place", place.slug, errors, f"Correct it with PATCH /v1/places/{place.slug}."
            )
    warnings = await coordinate_warnings(conn, place_id, place)
    warnings += await name_warnings(
        conn, place_id, [n.name for n in names], primary=place.name, slug=place.slug
    )
    return Written(created, await place_body(conn, place.slug, warnings), place.slug)


def name_differences(stored: Any, names: list[PlaceNameIn], slug: str) -> list[dict[str, Any]]:
    """Spellings sent that the place does not have, or has in another language (no language sent: any)."""
    langs = dict(zip(stored.names, stored.langs, strict=True))
    errors = []
    for index, n in enumerate(names):
        if n.name not in langs:
            reason = f"'{n.name}' is not one of its spellings: add it with POST /v1/places/{slug}/names"
        elif n.lang is not None and n.lang != langs[n.name]:
            reason = f"'{n.name}' is stored with lang {langs[n.name]!r}, sent {n.lang!r}"
        else:
            continue
        errors.append({"field": f"names.{index}", "reason": reason, "name": n.name})
    return errors


async def locked_place(conn: AsyncConnection, slug: str) -> Any:
    return (await conn.execute(q.PLACE_FOR_UPDATE, {"slug": slug})).one()


async def correct_place(conn: AsyncConnection, slug: str, patch: PlacePatch, *, key: ApiKey) -> Written:
    """Change a place's fields; a new primary name becomes a spelling too (the old one stays one)."""
    slug = await canonical(conn, "place", slug)
    stored = await locked_place(conn, slug)
    current = {
        k: getattr(stored, k)
        for k in ("slug", "name", "kind", "country", "lat", "lon", "population", "parent")
    }
    # The review flag is no field of a place as created: it is set apart from the merge.
    fields = PlacePatch.model_validate(patch.model_dump(exclude_unset=True, exclude={"review"}))
    place = merged(PlaceIn, current, fields)
    parent_id = await corrected_parent(
        conn,
        stored,
        patch,
        kind="place",
        parent=place.parent,
        ancestors=q.PLACE_ANCESTORS,
        what=f"place '{slug}'",
    )
    await conn.execute(
        q.UPDATE_PLACE,
        {
            "id": stored.id,
            "name": place.name,
            "kind": place.kind,
            "country": place.country,
            "lat": place.lat,
            "lon": place.lon,
            "population": place.population,
            "parent_id": parent_id,
        },
    )
    if "review" in patch.model_fields_set:
        await conn.execute(q.SET_PLACE_REVIEW, {"id": stored.id, "review": patch.review})
    warnings: list[dict[str, Any]] = []
    if patch.model_fields_set & {"lat", "lon", "country"}:
        warnings += await coordinate_warnings(conn, stored.id, place)
    if place.name != stored.name:
        await conn.execute(
            q.INSERT_NAMES, {"place_id": stored.id, "names": [place.name], "langs": [PRIMARY_LANG]}
        )
        warnings += await name_warnings(conn, stored.id, [place.name], primary=place.name)
    audit(key, "corrected", "place", slug)
    return Written(False, await place_body(conn, slug, warnings), slug)


def cycle(field: str, ref: str | None, what: str) -> Unprocessable:
    reason = f"'{ref}' is {what} or one of its descendants: it cannot be its own ancestor"
    return Unprocessable(
        summary([{"field": field, "reason": reason}]), errors=[{"field": field, "reason": reason}]
    )


async def corrected_parent(
    conn: AsyncConnection,
    stored: Any,
    patch: BaseModel,
    *,
    kind: Kind,
    parent: str | None,
    ancestors: Any,
    what: str,
) -> int | None:
    """The parent after a correction: the stored one unless `parent` was sent; one that descends from the row
    itself (a cycle) is refused."""
    if "parent" not in patch.model_fields_set:
        parent_id: int | None = stored.parent_id
        return parent_id
    parent_id = (await resolved(conn, [(kind, parent, "parent", None)]))["parent"]
    if parent_id is not None and await conn.scalar(ancestors, {"parent_id": parent_id, "id": stored.id}):
        raise cycle("parent", parent, what)
    return parent_id


async def add_names(conn: AsyncConnection, slug: str, names: list[PlaceNameIn], *, key: ApiKey) -> Written:
    """Add spellings to a place; ones it already has change nothing (201 only when one was added)."""
    slug = await canonical(conn, "place", slug)
    stored = await locked_place(conn, slug)
    wanted = list({n.name: n for n in names}.values())
    errors = [e for e in name_differences(stored, wanted, slug) if e["name"] in stored.names]
    if errors:
        raise already_stored(
            "A spelling of the place", slug, errors, "Remove it first to change its language."
        )
    added = (
        await conn.execute(
            q.INSERT_NAMES,
            {"place_id": stored.id, "names": [n.name for n in wanted], "langs": [n.lang for n in wanted]},
        )
    ).all()
    if added:
        audit(key, f"spellings added ({', '.join(r.name for r in added)})", "place", slug)
    warnings = await name_warnings(conn, stored.id, [n.name for n in wanted], primary=stored.name)
    return Written(bool(added), await place_body(conn, slug, warnings), slug)


async def remove_name(conn: AsyncConnection, slug: str, name: str, *, key: ApiKey) -> Written:
    """Remove one spelling of a place (never its primary name)."""
    slug = await canonical(conn, "place", slug)
    stored = await locked_place(conn, slug)
    if name == stored.name:
        raise Conflict(
            f"'{name}' is the primary name of '{slug}': give the place another name (PATCH "
            f"/v1/places/{slug}) before removing this spelling.",
        )
    if await conn.scalar(q.DELETE_NAME, {"place_id": stored.id, "name": name}) is None:
        raise NotFound(
            f"'{name}' is not a spelling of '{slug}' (spellings match exactly here). Its spellings: "
            f"{', '.join(stored.names)}.",
            names=list(stored.names),
        )
    audit(key, f"spelling removed ({name})", "place", slug)
    return Written(False, await place_body(conn, slug, []), slug)


# --- Actors -------------------------------------------------------------------------------------------------


async def actor_warnings(
    conn: AsyncConnection, actor_id: int, actor: ActorIn, *, slug: str | None
) -> list[dict[str, Any]]:
    """Names and aliases that also name another actor (references by them become ambiguous), and a slug that
    reads like another actor's name (references by exactly it now find this actor)."""
    names = [actor.name, *actor.aliases]
    rows = await conn.execute(q.ACTOR_NAME_WARNINGS, {"actor_id": actor_id, "names": names, "slug": slug})
    warnings = []
    for kind, name, others in rows:
        listed = ", ".join(f"{o['name']} ({o['slug']})" for o in others)
        if kind == "taken":
            field = "slug"
            reason = f"the slug '{name}' reads like a name of {listed}: a reference to exactly '{name}' now finds this actor"
        else:
            field = "name" if name == actor.name else "aliases"
            reason = f"'{name}' also names {listed}: an event naming the actor by it is refused as ambiguous"
        warnings.append({"field": field, "name": name, "kind": kind, "reason": reason, "others": others})
    return warnings


async def actor_body(conn: AsyncConnection, slug: str, warnings: list[dict[str, Any]]) -> bytes:
    return with_warnings(str(await conn.scalar(read_q.ACTOR, {"slug": slug})), warnings)


async def create_actor(conn: AsyncConnection, actor: ActorIn, *, key: ApiKey) -> Written:
    """Store a new actor; the same actor again changes nothing."""
    parent_id = (await resolved(conn, [("actor", actor.parent, "parent", None)]))["parent"]
    row = actor.model_dump(exclude={"parent"}) | {"parent_id": parent_id}
    actor_id = await conn.scalar(q.INSERT_ACTOR, row)
    created = actor_id is not None
    if created:
        audit(key, "created", "actor", actor.slug)
    else:
        stored = (await conn.execute(q.STORED_ACTOR, {"slug": actor.slug})).one()
        actor_id = stored.id
        sent = actor.model_dump(exclude={"slug"})
        errors = differences(dict(stored._mapping), sent | {"parent": stored.parent})
        if parent_id != stored.parent_id:
            errors.append(
                {
                    "field": "parent",
                    "reason": f"stored {stored.parent!r}, sent {actor.parent!r}",
                    "stored": stored.parent,
                    "sent": actor.parent,
                }
            )
        if errors:
            raise already_stored(
                "The actor", actor.slug, errors, f"Correct it with PATCH /v1/actors/{actor.slug}."
            )
    warnings = await actor_warnings(conn, actor_id, actor, slug=actor.slug)
    return Written(created, await actor_body(conn, actor.slug, warnings), actor.slug)


async def correct_actor(conn: AsyncConnection, slug: str, patch: ActorPatch, *, key: ApiKey) -> Written:
    """Change an actor's fields (`aliases` replaces the list)."""
    slug = await canonical(conn, "actor", slug)
    stored = (await conn.execute(q.ACTOR_FOR_UPDATE, {"slug": slug})).one()
    current = {k: getattr(stored, k) for k in ("slug", "name", "aliases", "kind", "parent", "color", "notes")}
    actor = merged(ActorIn, current, patch)
    parent_id = await corrected_parent(
        conn,
        stored,
        patch,
        kind="actor",
        parent=actor.parent,
        ancestors=q.ACTOR_ANCESTORS,
        what=f"actor '{slug}'",
    )
    await conn.execute(
        q.UPDATE_ACTOR,
        actor.model_dump(exclude={"slug", "parent"}) | {"parent_id": parent_id, "id": stored.id},
    )
    audit(key, "corrected", "actor", slug)
    warnings = []
    if patch.model_fields_set & {"name", "aliases"}:
        warnings = await actor_warnings(conn, stored.id, actor, slug=None)
    return Written(False, await actor_body(conn, slug, warnings), slug)


# --- Sources ------------------------------------------------------------------------------------------------


async def source_body(conn: AsyncConnection, source_id: int, source: SourceIn) -> bytes:
    warnings = []
    if source.url:
        others = await conn.scalar(q.SOURCES_WITH_URL, {"url": source.url, "source_id": source_id})
        if others:
            listed = ", ".join(o["slug"] for o in others)
            warnings.append(
                {
                    "field": "url",
                    "kind": "shared",
                    "reason": f"{listed} cites the same URL: an event citing the source by its URL is refused "
                    "as ambiguous",
                    "others": others,
                }
            )
    return with_warnings(str(await conn.scalar(q.SOURCE, {"slug": source.slug})), warnings)


async def source_json(conn: AsyncConnection, ref: str, *, as_of: datetime | None = None) -> str:
    """One source, by its slug (or, at the cost of a lookup first, any other reference to it); as recorded at
    `as_of` when given."""
    statement = statement_at(q.SOURCE, as_of)
    body = await conn.scalar(statement, {"slug": ref, "as_of": as_of})
    if body is None:
        body = await conn.scalar(statement, {"slug": await canonical(conn, "source", ref), "as_of": as_of})
    if body is None:
        raise NotFound(f"Source '{ref}' was not recorded yet at {as_of}.")
    return str(body)


async def sources_json(conn: AsyncConnection, *, as_of: datetime | None = None) -> str:
    """Every source, by slug (as recorded at `as_of` when given)."""
    return str(await conn.scalar(statement_at(q.SOURCES, as_of), {"as_of": as_of}))


async def create_source(conn: AsyncConnection, source: SourceIn, *, key: ApiKey) -> Written:
    """Store a new source; the same source again changes nothing."""
    source_id = await conn.scalar(q.INSERT_SOURCE, source.model_dump())
    created = source_id is not None
    if created:
        audit(key, "created", "source", source.slug)
    else:
        stored = (await conn.execute(q.STORED_SOURCE, {"slug": source.slug})).one()
        source_id = stored.id
        errors = differences(dict(stored._mapping), source.model_dump(exclude={"slug"}))
        if errors:
            raise already_stored(
                "The source", source.slug, errors, f"Correct it with PATCH /v1/sources/{source.slug}."
            )
    return Written(created, await source_body(conn, source_id, source), source.slug)


async def correct_source(conn: AsyncConnection, slug: str, patch: SourcePatch, *, key: ApiKey) -> Written:
    """Change a source's fields."""
    slug = await canonical(conn, "source", slug)
    stored = (await conn.execute(q.SOURCE_FOR_UPDATE, {"slug": slug})).one()
    source = merged(SourceIn, {k: v for k, v in stored._mapping.items() if k != "id"}, patch)
    await conn.execute(q.UPDATE_SOURCE, source.model_dump(exclude={"slug"}) | {"id": stored.id})
    audit(key, "corrected", "source", slug)
    return Written(False, await source_body(conn, stored.id, source), slug)


# --- Coalitions and memberships -----------------------------------------------------------------------------


def overlap(a: MembershipIn, b: MembershipIn) -> bool:
    """Whether two half-open [from, to) ranges share a day (a missing end is open)."""
    return (a.from_ is None or b.to is None or a.from_ < b.to) and (
        b.from_ is None or a.to is None or b.from_ < a.to
    )


def span(m: MembershipIn | dict[str, Any]) -> str:
    start, end = (m.from_, m.to) if isinstance(m, MembershipIn) else (m["from"], m["to"])
    return f"[{start or 'open'}, {end or 'open'})"


async def membership_rows(
    conn: AsyncConnection, members: list[MembershipIn], *, prefix: str = ""
) -> list[dict[str, Any]]:
    """The stored columns of memberships (actors and sources resolved; 422 naming each unknown one)."""
    wanted: list[tuple[Kind, str | None, str, int | None]] = []
    for index, m in enumerate(members):
        at = f"{prefix}{index}." if prefix else ""
        wanted += [("actor", m.actor, f"{at}actor", index if prefix else None)]
        wanted += [("source", m.source, f"{at}source", index if prefix else None)]
    ids = await resolved(conn, wanted)
    return [
        {
            "ord": index,
            "actor_id": ids[f"{prefix}{index}.actor" if prefix else "actor"],
            "valid_from": m.from_,
            "valid_to": m.to,
            "role": m.role,
            "note": m.note,
            "source_id": ids[f"{prefix}{index}.source" if prefix else "source"],
        }
        for index, m in enumerate(members)
    ]


def rows_json(rows: list[dict[str, Any]]) -> str:
    return orjson.dumps(rows).decode()


async def coalition_body(conn: AsyncConnection, slug: str) -> bytes:
    return str(await conn.scalar(read_q.COALITION, {"slug": slug, "at": None})).encode()


async def create_coalition(conn: AsyncConnection, coalition: CoalitionIn, *, key: ApiKey) -> Written:
    """Store a new coalition with its memberships; the same coalition again changes nothing (memberships added
    since then are kept: a resend only needs the ones it lists to be stored)."""
    rows = await membership_rows(conn, coalition.members, prefix="members.")
    # Refused here rather than by the exclusion constraint, to name both rows (actors compared once resolved,
    # so an alias and a slug of one actor are caught too).
    members = coalition.members
    errors = [
        {
            "index": j,
            "field": f"members.{j}",
            "reason": f"{members[j].actor} {span(members[j])} overlaps members.{i} ({members[i].actor} "
            f"{span(members[i])}): an actor is a member of a coalition once on any day",
        }
        for j in range(len(rows))
        for i in range(j)
        if rows[i]["actor_id"] == rows[j]["actor_id"] and overlap(members[i], members[j])
    ]
    if errors:
        raise Unprocessable(summary(errors), errors=errors)
    coalition_id = await conn.scalar(q.INSERT_COALITION, coalition.model_dump(exclude={"members"}))
    created = coalition_id is not None
    if created:
        if rows:
            await conn.execute(q.INSERT_MEMBERSHIPS, {"coalition_id": coalition_id, "rows": rows_json(rows)})
        audit(key, "created", "coalition", coalition.slug)
    else:
        stored = (await conn.execute(q.STORED_COALITION, {"slug": coalition.slug})).one()
        errors = differences(dict(stored._mapping), coalition.model_dump(exclude={"slug", "members"}))
        if rows:
            equal = await conn.execute(
                q.EQUAL_MEMBERSHIPS, {"coalition_id": stored.id, "rows": rows_json(rows)}
            )
            errors += [
                {
                    "index": ord_,
                    "field": f"members.{ord_}",
                    "reason": f"{coalition.members[ord_].actor} {span(coalition.members[ord_])} is not stored "
                    f"as sent: add it with POST /v1/coalitions/{coalition.slug}/members",
                }
                for ord_, found in equal
                if found is None
            ]
        if errors:
            raise already_stored(
                "The coalition",
                coalition.slug,
                errors,
                f"Correct it with PATCH /v1/coalitions/{coalition.slug}.",
            )
    return Written(created, await coalition_body(conn, coalition.slug), coalition.slug)


async def locked_coalition(conn: AsyncConnection, ref: str) -> Any:
    """The coalition a path names, locked: membership writes of one coalition run one after the other, so a
    resend finds what the first one stored."""
    slug = await canonical(conn, "coalition", ref)
    return (await conn.execute(q.COALITION_FOR_UPDATE, {"slug": slug})).one()


async def correct_coalition(
    conn: AsyncConnection, slug: str, patch: CoalitionPatch, *, key: ApiKey
) -> Written:
    """Change a coalition's name, description or colour."""
    stored = await locked_coalition(conn, slug)
    slug = stored.slug
    current = {k: getattr(stored, k) for k in ("slug", "name", "description", "color")}
    coalition = merged(CoalitionIn, current, patch)
    await conn.execute(
        q.UPDATE_COALITION, coalition.model_dump(exclude={"slug", "members"}) | {"id": stored.id}
    )
    audit(key, "corrected", "coalition", slug)
    return Written(False, await coalition_body(conn, slug), slug)


async def membership_json(
    conn: AsyncConnection, coalition: str, membership_id: int, *, as_of: datetime | None = None
) -> str:
    """One membership of the coalition a path names (by its slug, or at the cost of a lookup any reference);
    as recorded at `as_of` when given."""
    statement = statement_at(q.MEMBERSHIP, as_of)
    body = await conn.scalar(statement, {"id": membership_id, "coalition": coalition, "as_of": as_of})
    if body is None and (slug := await canonical(conn, "coalition", coalition)) != coalition:
        body = await conn.scalar(statement, {"id": membership_id, "coalition": slug, "as_of": as_of})
    if body is None:
        raise NotFound(f"Coalition '{coalition}' has no membership {membership_id}.")
    return str(body)


async def overlapping(
    conn: AsyncConnection, coalition_id: int, row: dict[str, Any], *, except_id: int | None = None
) -> Conflict:
    """The 409 for a membership the exclusion constraint refused: which stored ones it overlaps."""
    others = await conn.scalar(
        q.OVERLAPPING_MEMBERSHIPS,
        {
            "coalition_id": coalition_id,
            "actor_id": row["actor_id"],
            "from_": row["valid_from"],
            "to": row["valid_to"],
            "except_id": except_id,
        },
    )
    if not others:  # refused by a write that has since been rolled back: the client may retry
        return Conflict("The membership overlapped one being written concurrently; retry.", overlaps=[])
    listed = "; ".join(f"membership {o['id']} {span(o)} as {o['role']}" for o in others)
    first = others[0]
    return Conflict(
        f"{first['actor']['slug']} {span({'from': row['valid_from'], 'to': row['valid_to']})} overlaps {listed}: "
        "an actor is a member of a coalition once on any day. End or move the stored one first (PATCH "
        f"/v1/coalitions/{first['coalition']['slug']}/members/{first['id']}); nothing was recorded.",
        overlaps=others,
    )


async def write_membership(conn: AsyncConnection, statement: Any, params: dict[str, Any]) -> Any:
    """Run an insert or update of a membership in a savepoint, so an overlap refused by the database can be
    explained from what is stored; None when it was refused."""
    try:
        async with conn.begin_nested():
            return await conn.scalar(statement, params)
    except IntegrityError as exc:
        if sqlstate(exc) != EXCLUSION_VIOLATION:
            raise
        return None


async def add_membership(
    conn: AsyncConnection, slug: str, membership: MembershipIn, *, key: ApiKey
) -> Written:
    """Record an actor's membership of a coalition; the same membership again changes nothing."""
    stored = await locked_coalition(conn, slug)
    slug = stored.slug
    [row] = await membership_rows(conn, [membership])
    params = {"coalition_id": stored.id, "rows": rows_json([row])}
    existing = (await conn.execute(q.EQUAL_MEMBERSHIPS, params)).one().id
    if existing is not None:
        return Written(False, (await membership_json(conn, slug, existing)).encode(), slug, existing)
    membership_id = await write_membership(conn, q.INSERT_MEMBERSHIPS, params)
    if membership_id is None:
        raise await overlapping(conn, stored.id, row)
    audit(key, f"membership {membership_id} of {membership.actor} added", "coalition", slug)
    return Written(True, (await membership_json(conn, slug, membership_id)).encode(), slug, membership_id)


async def correct_membership(
    conn: AsyncConnection, slug: str, membership_id: int, patch: MembershipPatch, *, key: ApiKey
) -> Written:
    """Change a membership's dates (typically its end), role, note or source."""
    coalition = await locked_coalition(conn, slug)
    slug = coalition.slug
    current = (
        await conn.execute(q.MEMBERSHIP_FOR_UPDATE, {"id": membership_id, "coalition": slug})
    ).one_or_none()
    if current is None:
        raise NotFound(f"Coalition '{slug}' has no membership {membership_id}.")
    membership = merged(MembershipIn, dict(current.fields), patch)
    [row] = await membership_rows(conn, [membership])
    params = {
        "id": membership_id,
        "from_": row["valid_from"],
        "to": row["valid_to"],
        "role": row["role"],
        "note": row["note"],
        "source_id": row["source_id"],
    }
    if await write_membership(conn, q.UPDATE_MEMBERSHIP, params) is None:
        raise await overlapping(conn, coalition.id, row, except_id=membership_id)
    audit(key, f"membership {membership_id} corrected", "coalition", slug)
    return Written(False, (await membership_json(conn, slug, membership_id)).encode(), slug, membership_id)


async def remove_membership(conn: AsyncConnection, slug: str, membership_id: int, *, key: ApiKey) -> Written:
    """Delete a membership (to end one instead, PATCH its `to`)."""
    slug = (await locked_coalition(conn, slug)).slug
    if await conn.scalar(q.DELETE_MEMBERSHIP, {"id": membership_id, "coalition": slug}) is None:
        raise NotFound(f"Coalition '{slug}' has no membership {membership_id}.")
    audit(key, f"membership {membership_id} removed", "coalition", slug)
    return Written(False, await coalition_body(conn, slug), slug)
