"""Finding what a reference names: a place, an actor, a coalition or a source, and the closest names when it
names nothing.

What a reference may be, by kind (a key match wins over a name match, so a slug is never ambiguous):
- place: its id, its slug, or any of its spellings;
- actor: its slug, its name or any alias;
- coalition: its slug or its name;
- source: its slug or its URL.
Names are compared as `territory_normalize` reads them: case, accents, apostrophes and hyphens do not matter.
A place reference that is no key and no spelling is tried, in this order, without the Arabic article
(`territory_name_key`: "Bab", "Deir Zor", "Dayr az-Zawr" are then spellings of al-Bab and Deir ez-Zor), then as
an airport or base designation (`territory_facility_base`): "<X> airport/airbase/air base/airfield/military
airport/base", "مطار X" names the airbases and military bases that X (any spelling, with or without the
article) names, or whose parent X names ("Deir ez-Zour airport", "Tabqa airbase", "Kweires air base"). Several
such places are ambiguous (409), as for any spelling.
Actor, coalition and source ids appear in no answer, so they are no reference.

Each kind's rule is written once, as a SELECT of (id, slug, name) over a reference given as an SQL expression,
and used three ways: embedded as a CTE in a one-statement read (`resolved_cte`), many references of one kind in
one statement (`RESOLVE`), and the first step of the suggestions for the ones that name nothing (`SUGGEST`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.errors import NOT_FOUND, AmbiguousReference, ReferenceLocation, ReferenceNotFound
from app.vocabulary import MAX_REFERENCE

Kind = Literal["place", "actor", "coalition", "source"]
KINDS: tuple[Kind, ...] = ("place", "actor", "coalition", "source")

# A reference that is an id, as a number the primary key's index can look up (`id::text = ref` cannot: it read
# every place once per reference, 38 s for a batch of 1,000 at 100,000 places); NULL for anything else.
ID_PATTERN = "^[1-9][0-9]{0,17}$"


def id_of(ref: str) -> str:
    """The reference `ref` (an SQL expression) as a place id, or NULL when it is not written as one."""
    return f"CASE WHEN {ref} ~ '{ID_PATTERN}' THEN CAST({ref} AS bigint) END"


def actor_named(actor: str, ref: str) -> str:
    """Whether the actor row `actor` has `ref` as its name or one of its aliases (compared normalised)."""
    return f"territory_normalize({ref}) IN (SELECT territory_normalize(x) FROM unnest({actor}.aliases || {actor}.name) AS x)"


def matching(kind: Kind, ref: str, ref_id: str | None = None, *, forms: bool = True) -> str:
    """SELECT id, slug, name of every row `ref` (an SQL expression) may name; each branch is an index probe,
    except the actor names and source URLs of those small tables. `ref_id` is the reference as an id, when the
    caller has it as a parameter. `forms=False` leaves out the place name forms of revision 0007 (for a
    database before it)."""
    if kind == "place" and not forms:
        key = f"k.slug = {ref} OR k.id = {ref_id or id_of(ref)}"
        return f"""
            SELECT k.id, k.slug, k.name FROM place AS k WHERE {key}
            UNION
            SELECT p.id, p.slug, p.name FROM place_name AS n JOIN place AS p ON p.id = n.place_id
            WHERE n.name_norm = territory_normalize({ref}) AND NOT EXISTS (SELECT 1 FROM place AS k WHERE {key})"""
    if kind == "place":
        key = f"k.slug = {ref} OR k.id = {ref_id or id_of(ref)}"
        no_key = f"NOT EXISTS (SELECT 1 FROM place AS k WHERE {key})"
        no_spelling = (
            f"NOT EXISTS (SELECT 1 FROM place_name AS x WHERE x.name_norm = territory_normalize({ref}))"
        )
        # The name forms only when the reference is no key and no spelling (conditions on `ref` alone: evaluated
        # once, as one-time filters). Written out here, over `place_name` and `place`, so that an as_of read
        # (app/db/queries/as_of.py) compares the spellings recorded then.
        no_form = f"NOT EXISTS (SELECT 1 FROM place_name AS y WHERE y.name_key = territory_name_key({ref}))"
        base = f"territory_facility_base({ref})"
        return f"""
            SELECT k.id, k.slug, k.name FROM place AS k WHERE {key}
            UNION
            SELECT p.id, p.slug, p.name FROM place_name AS n JOIN place AS p ON p.id = n.place_id
            WHERE n.name_norm = territory_normalize({ref}) AND {no_key}
            UNION
            SELECT p.id, p.slug, p.name FROM place_name AS n JOIN place AS p ON p.id = n.place_id
            WHERE n.name_key = territory_name_key({ref}) AND {no_key} AND {no_spelling}
            UNION
            SELECT p.id, p.slug, p.name FROM place_name AS n JOIN place AS p ON p.id = n.place_id
            WHERE (n.name_key = {base} OR n.name_base = {base}) AND p.kind IN ('airbase', 'military_base')
              AND {no_key} AND {no_spelling} AND {no_form}
            UNION
            SELECT p.id, p.slug, p.name FROM place_name AS n JOIN place AS p ON p.parent_id = n.place_id
            WHERE n.name_key = {base} AND p.kind IN ('airbase', 'military_base')
              AND {no_key} AND {no_spelling} AND {no_form}"""
    if kind == "actor":
        return f"""
            SELECT k.id, k.slug, k.name FROM actor AS k WHERE k.slug = {ref}
            UNION ALL
            SELECT a.id, a.slug, a.name FROM actor AS a
            WHERE NOT EXISTS (SELECT 1 FROM actor AS k WHERE k.slug = {ref}) AND {actor_named("a", ref)}"""
    if kind == "coalition":
        return f"""
            SELECT k.id, k.slug, k.name FROM coalition AS k WHERE k.slug = {ref}
            UNION ALL
            SELECT c.id, c.slug, c.name FROM coalition AS c
            WHERE NOT EXISTS (SELECT 1 FROM coalition AS k WHERE k.slug = {ref})
              AND territory_normalize(c.name) = territory_normalize({ref})"""
    return f"""
            SELECT k.id, k.slug, k.title AS name FROM source AS k WHERE k.slug = {ref}
            UNION ALL
            SELECT s.id, s.slug, s.title FROM source AS s
            WHERE {ref} LIKE 'http%' AND s.url = {ref} AND NOT EXISTS (SELECT 1 FROM source AS k WHERE k.slug = {ref})"""


# The closest names to a reference that names nothing: one trigram ranking per kind, over the names a reference
# may use (pg_trgm's `%`: similarity above its threshold, 0.3), best first, five at most. A place's spellings
# are served by their trigram index; the other kinds are small tables.
_SUGGESTIONS: dict[Kind, str] = {
    "place": """
        SELECT p.id, p.slug, p.name, max(similarity(n.name_norm, territory_normalize({ref}))) AS score
        FROM place_name AS n JOIN place AS p ON p.id = n.place_id
        WHERE n.name_norm % territory_normalize({ref})
        GROUP BY p.id""",
    "actor": """
        SELECT a.slug, a.name, max(similarity(territory_normalize(x), territory_normalize({ref}))) AS score
        FROM actor AS a CROSS JOIN LATERAL unnest(ARRAY[a.slug, a.name] || a.aliases) AS x
        WHERE territory_normalize(x) % territory_normalize({ref})
        GROUP BY a.id""",
    "coalition": """
        SELECT c.slug, c.name, max(similarity(territory_normalize(x), territory_normalize({ref}))) AS score
        FROM coalition AS c CROSS JOIN LATERAL unnest(ARRAY[c.slug, c.name]) AS x
        WHERE territory_normalize(x) % territory_normalize({ref})
        GROUP BY c.id""",
    "source": """
        SELECT s.slug, s.title AS name, max(similarity(territory_normalize(x), territory_normalize({ref}))) AS score
        FROM source AS s CROSS JOIN LATERAL unnest(ARRAY[s.slug, s.title]) AS x
        WHERE territory_normalize(x) % territory_normalize({ref})
        GROUP BY s.id""",
}
_SUGGESTION_FIELDS: dict[Kind, str] = {
    "place": "'id', x.id, 'slug', x.slug, 'name', x.name",
    **dict.fromkeys(("actor", "coalition", "source"), "'slug', x.slug, 'name', x.name"),
}


def suggestions_json(kind: Kind, ref: str) -> str:
    """The suggestions for `ref` (an SQL expression) as one JSON array, never NULL. A reference longer than any
    spelling may be (MAX_REFERENCE) gets none, without a search: a trigram search of megabytes runs for minutes."""
    return f"""CASE WHEN char_length({ref}) > {MAX_REFERENCE} THEN '[]'::json ELSE coalesce((
        SELECT json_agg(json_build_object({_SUGGESTION_FIELDS[kind]}, 'score', round(x.score::numeric, 2)::float)
                        ORDER BY x.score DESC, x.name)
        FROM (SELECT s.* FROM ({_SUGGESTIONS[kind].format(ref=ref)}) AS s ORDER BY s.score DESC, s.name LIMIT 5) AS x
    ), '[]'::json) END"""


def resolved_cte(kind: Kind, ref: str = ":ref", *, name: str = "resolved", ref_id: str | None = None) -> str:
    """`name AS (SELECT id, slug, name ...)`: what the reference parameter names, to embed in a read that answers
    in one statement (it counts the rows: 1 is found, 0 unknown, more ambiguous)."""
    return f"{name} AS ({matching(kind, ref, ref_id)})"


# A place reference as two parameters (`ref_params`): the text, and the id when it is written as one. The CTE
# the one-statement place reads embed (`resolved`: the ids the reference names).
RESOLVED_PLACES_CTE = resolved_cte("place", ":ref", ref_id=":ref_id")


def ref_params(ref: str) -> dict[str, Any]:
    ref = ref.strip()
    return {"ref": ref, "ref_id": int(ref) if ref.isdigit() and len(ref) < 10 else None}


# Suggestions are worked out for the first references that name nothing, not for all: a batch of typos stays
# as cheap as a batch of hits.
MAX_SUGGESTED = 20


# Many references of one kind -> (ref, matches [{id, slug, name}]) in one statement, in the order given; then,
# only when some named nothing, their suggestions in a second one. So a batch of hits runs the plain lookups
# (1,000 place references: 20-30 ms, as before), and on a connection with JIT on (psql, not the app's engines)
# the suggestions' estimated cost does not push it past jit_above_cost (+100 ms of compiling when it did).
def resolve_statement(kind: Kind, *, forms: bool = True) -> TextClause:
    return text(f"""
        SELECT r.ref, m.matches
        FROM unnest(CAST(:refs AS text[])) WITH ORDINALITY AS r(ref, n)
        CROSS JOIN LATERAL (
            SELECT coalesce(json_agg(json_build_object('id', k.id, 'slug', k.slug, 'name', k.name) ORDER BY k.id),
                            '[]'::json) AS matches
            FROM ({matching(kind, "r.ref", forms=forms)}) AS k
        ) AS m
        ORDER BY r.n
    """)


RESOLVE = {kind: resolve_statement(kind) for kind in KINDS}
SUGGEST = {
    kind: text(
        f"SELECT r.ref, {suggestions_json(kind, 'r.ref')} FROM unnest(CAST(:refs AS text[])) AS r(ref)"
    )
    for kind in KINDS
}


# --- Running them -------------------------------------------------------------------------------------------
# The Python side lives here too, not in app/services: the read layer (app/db/queries) raises the same problem
# after a one-statement read whose embedded CTE found nothing, and the database layer does not import services.


@dataclass(frozen=True)
class Wanted:
    """Where a reference was met: its field, the row of a batch, and whether the path, a query filter or a body
    carried it (404/409 for the first two, an entry of a 422 for a body)."""

    field: str
    index: int | None = None
    location: ReferenceLocation = "body"


@dataclass
class References:
    """The references of a request, resolved in one statement per kind (and one more for the suggestions of a
    kind with unknown ones).

    `id()` answers each field and collects the problem of a reference that names nothing or several, so one
    422 can name them all; `problems` holds those errors entries."""

    conn: AsyncConnection
    found: dict[tuple[Kind, str], tuple[list[dict[str, Any]], list[dict[str, Any]]]] = field(
        default_factory=dict
    )
    problems: list[dict[str, Any]] = field(default_factory=list)

    async def load(self, wanted: Mapping[Kind, Iterable[str | None]]) -> References:
        for kind, refs in wanted.items():
            refs = sorted({r for r in refs if r is not None} - {r for k, r in self.found if k == kind})
            if not refs:
                continue
            unknown = []
            for ref, matches in await self.conn.execute(RESOLVE[kind], {"refs": refs}):
                self.found[kind, ref] = (matches, [])
                if not matches:
                    unknown.append(ref)
            if unknown:
                for ref, suggestions in await self.conn.execute(
                    SUGGEST[kind], {"refs": unknown[:MAX_SUGGESTED]}
                ):
                    self.found[kind, ref] = ([], suggestions)
        return self

    def match(self, kind: Kind, ref: str, at: Wanted) -> dict[str, Any]:
        """The row `ref` names ({id, slug, name}); a reference never loaded is a programming error."""
        matches, suggestions = self.found[kind, ref]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise AmbiguousReference(kind, ref, matches, field=at.field, location=at.location, index=at.index)
        raise NOT_FOUND[kind](ref, suggestions, field=at.field, location=at.location, index=at.index)

    def id(self, kind: Kind, ref: str | None, *, field: str, index: int | None = None) -> int | None:
        """The id of the row a body's `ref` names; None (the problem collected) when it names none or several."""
        if ref is None:
            return None
        try:
            return int(self.match(kind, ref, Wanted(field, index))["id"])
        except (ReferenceNotFound, AmbiguousReference) as problem:
            self.problems.append(problem.error)
            return None


async def resolve(
    conn: AsyncConnection,
    kind: Kind,
    ref: str,
    *,
    field: str | None = None,
    location: ReferenceLocation = "path",
) -> dict[str, Any]:
    """The one row `ref` names ({id, slug, name}): 404 with suggestions when none does, 409 listing the
    candidates when several do (`location` "body": the same problems, for the caller to turn into a 422)."""
    references = await References(conn).load({kind: [ref]})
    return references.match(kind, ref, Wanted(field or kind, location=location))


async def refuse(
    conn: AsyncConnection,
    kind: Kind,
    ref: str,
    *,
    field: str | None = None,
    location: ReferenceLocation = "path",
) -> NoReturn:
    """A statement embedding `resolved_cte` found that `ref` names no row, or several: raise the problem that
    says which."""
    await resolve(conn, kind, ref, field=field, location=location)
    # Written since that statement read: its answer was made without the row, so it stays unknown to it.
    raise NOT_FOUND[kind](ref, [], field=field, location=location)


# Places by name, as the read layer calls them.


async def resolve_place(conn: AsyncConnection, ref: str) -> dict[str, Any]:
    """The one place `ref` names: 404 with suggestions when none does, 409 listing them when several do."""
    return await resolve(conn, "place", ref.strip())


async def refuse_place(conn: AsyncConnection, ref: str) -> NoReturn:
    """A statement on RESOLVED_PLACES_CTE found that `ref` names no place, or several: raise the problem."""
    await refuse(conn, "place", ref.strip())


async def suggestions(conn: AsyncConnection, kind: Kind, ref: str) -> list[dict[str, Any]]:
    """The closest names to `ref` (none when it names something)."""
    references = await References(conn).load({kind: [ref]})
    return references.found[kind, ref][1]


# --- Filters of a read --------------------------------------------------------------------------------------
# A read filtered by an actor or a coalition resolves the reference in its own statement: the filter parameter
# `:actor` becomes the CTE `wanted_actor` (the ids it names, which the read filters by) and the column
# `actor_matches`; a count other than 1 is refused after the read, at no cost to the common path.


def wanted(param: str) -> str:
    """The CTE of the ids a filter parameter names (`wanted_actor` for `:actor`), for the read's SQL."""
    return f"wanted_{param}"


def filter_kinds(*, actor: bool = False, coalition: bool = False) -> dict[str, Kind]:
    """The reference filters a read was given, each parameter named for its kind."""
    kinds: dict[str, Kind] = {}
    if actor:
        kinds["actor"] = "actor"
    if coalition:
        kinds["coalition"] = "coalition"
    return kinds


def resolving_filters(sql: str, filters: Mapping[str, Kind]) -> str:
    """`sql` with its reference filters resolved first: one value (`body`) -> the columns `<param>_matches`
    then `body`. `sql` reads the ids from the `wanted_<param>` CTEs."""
    if not filters:
        return f"SELECT ({sql}) AS body"
    ctes = ", ".join(resolved_cte(kind, f":{param}", name=wanted(param)) for param, kind in filters.items())
    counts = "".join(f"(SELECT count(*) FROM {wanted(param)}) AS {param}_matches, " for param in filters)
    return f"WITH {ctes}\nSELECT {counts}({sql}) AS body"


def resolving_filters_rows(sql: str, filters: Mapping[str, Kind], order: str) -> str:
    """As `resolving_filters` for a statement of rows `page`: always at least one row (NULLs when `sql` has
    none), in `order`."""
    if not filters:
        return sql
    ctes = ", ".join(resolved_cte(kind, f":{param}", name=wanted(param)) for param, kind in filters.items())
    counts = ", ".join(f"(SELECT count(*) FROM {wanted(param)}) AS {param}_matches" for param in filters)
    return f"WITH {ctes}\nSELECT {counts}, page.* FROM (SELECT 1) AS one LEFT JOIN ({sql}) AS page ON true ORDER BY {order}"


async def refuse_unmatched(
    conn: AsyncConnection, row: Any, filters: Mapping[str, tuple[Kind, str | None]]
) -> None:
    """After a read through `resolving_filters`: a 404 with suggestions (409 if ambiguous) for each filter given
    whose reference named no row, or several."""
    for param, (kind, ref) in filters.items():
        if ref is not None and getattr(row, f"{param}_matches") != 1:
            await refuse(conn, kind, ref, field=param, location="query")
