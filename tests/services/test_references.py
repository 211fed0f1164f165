"""The references module: many references in one statement per kind, the same problem from every caller, and
the event-to-row rule the seed and the API share."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries.references import MAX_SUGGESTED, References, resolve
from app.errors import ActorNotFound, CoalitionNotFound, SourceNotFound
from app.paths import DATA_DIR
from app.schemas.events import EventCreate
from app.services.events import create_events
from app.services.keys import CommandLine
from app.services.seed import DatasetError, seed


@pytest.fixture
def statements(conn: AsyncConnection) -> Iterator[list[str]]:
    """Every statement the connection runs while the test does."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(conn.sync_connection, "before_cursor_execute", record)
    yield seen
    event.remove(conn.sync_connection, "before_cursor_execute", record)


async def test_a_thousand_references_of_each_kind_take_one_statement_per_kind(
    conn: AsyncConnection, statements: list[str]
) -> None:
    palmyra = await conn.scalar(text("SELECT id FROM place WHERE slug = 'palmyra'"))
    statements.clear()
    places = [str(palmyra), "Tadmur", "palmyra"] + [f"Nowhere {n}" for n in range(1000)]
    actors = ["islamic-state", "Daesh", "ISIS"] + [f"islamic-stat{n}" for n in range(1000)]
    refs = await References(conn).load(
        {"place": places, "actor": actors, "coalition": ["Pro-Assad coalition"], "source": ["bogus"]}
    )
    # One per kind, and one more for the suggestions of each kind with unknown ones (place, actor, source).
    assert len(statements) == 4 + 3
    assert {refs.id("place", r, field="place") for r in places[:3]} == {palmyra}
    assert len({refs.id("actor", r, field="actor") for r in actors[:3]}) == 1
    # Suggestions are worked out for the first unknown ones only, so a batch of typos stays cheap.
    suggested = [r for r in actors[3:] if refs.found["actor", r][1]]
    assert 0 < len(suggested) <= MAX_SUGGESTED
    assert refs.found["actor", "islamic-stat0"][1][0]["slug"] == "islamic-state"
    assert refs.id("actor", "islamic-stat999", field="actor", index=7) is None
    statements.clear()
    await References(conn).load({"place": places[:3], "actor": actors[:3]})
    assert len(statements) == 2  # all known: no suggestions asked for
    assert refs.problems[-1] == {
        "location": "body",
        "index": 7,
        "field": "actor",
        "reason": "no actor is known as 'islamic-stat999'",
        "suggestions": [],
    }


@pytest.mark.parametrize(
    ("kind", "ref", "error", "closest"),
    [
        ("actor", "hezbolah", ActorNotFound, "hezbollah"),
        ("coalition", "euphrates-shild", CoalitionNotFound, "euphrates-shield"),
        ("source", "wp-tiyas-airbse", SourceNotFound, "wp-tiyas-airbase"),
    ],
)
async def test_each_kind_has_its_not_found_with_suggestions(
    conn: AsyncConnection, kind: Any, ref: str, error: type[Exception], closest: str
) -> None:
    with pytest.raises(error) as caught:
        await resolve(conn, kind, ref, field="actor", location="query")
    problem: Any = caught.value
    assert problem.status == 404
    assert problem.members["suggestions"][0]["slug"] == closest
    assert problem.members["errors"][0]["location"] == "query"


async def test_names_and_aliases_resolve_the_kinds_that_have_them(conn: AsyncConnection) -> None:
    assert (await resolve(conn, "actor", "Hizbullah"))["slug"] == "hezbollah"
    assert (await resolve(conn, "actor", "SYRIAN ARMY"))["slug"] == "syrian-army"
    assert (await resolve(conn, "coalition", "pro assad coalition"))["slug"] == "pro-assad-coalition"
    url = await conn.scalar(text("SELECT url FROM source WHERE url IS NOT NULL ORDER BY slug LIMIT 1"))
    slug = await conn.scalar(
        text("SELECT slug FROM source WHERE url = :url ORDER BY slug LIMIT 1"), {"url": url}
    )
    assert (await resolve(conn, "source", url))["slug"] == slug


def contested(external_id: str, place: str) -> dict[str, Any]:
    """A contested place whose holder the writer did not list among the parties."""
    return {
        "external_id": external_id,
        "place": place,
        "date": "2017-08-01",
        "kind": "contested",
        "actor": "syrian-army",
        "status": "contested",
        "parties": ["islamic-state"],
        "sources": ["rferl-miller-2017-is-collapsing"],
    }


async def party_slugs(conn: AsyncConnection, external_id: str) -> list[str]:
    return list(
        await conn.scalars(
            text("""SELECT a.slug FROM control_event AS e JOIN actor AS a ON a.id = ANY(e.party_ids)
                    WHERE e.external_id = :x ORDER BY a.slug"""),
            {"x": external_id},
        )
    )


async def test_the_seed_and_the_api_store_a_contested_event_alike(
    conn: AsyncConnection, tmp_path: Path
) -> None:
    data = shutil.copytree(DATA_DIR, tmp_path / "data")
    events = yaml.safe_load((data / "events.yaml").read_text())
    # The seed's files may name places and actors by any reference too, as the API's bodies do.
    events.append(contested("test-seeded-contested", "Tadmur") | {"parties": ["ISIS"]})
    (data / "events.yaml").write_text(yaml.safe_dump(events, allow_unicode=True))
    await seed(conn, data)
    await create_events(
        conn, [EventCreate.model_validate(contested("test-api-contested", "palmyra"))], key=CommandLine()
    )
    seeded, written = (
        await party_slugs(conn, "test-seeded-contested"),
        await party_slugs(conn, "test-api-contested"),
    )
    assert seeded == written == ["islamic-state", "syrian-army"]  # the holder is one of the parties


async def test_the_seed_names_the_entry_of_an_unknown_reference(
    conn: AsyncConnection, tmp_path: Path
) -> None:
    data = shutil.copytree(DATA_DIR, tmp_path / "data")
    events = yaml.safe_load((data / "events.yaml").read_text())
    events.append(contested("test-typo", "Palmira"))
    (data / "events.yaml").write_text(yaml.safe_dump(events, allow_unicode=True))
    with pytest.raises(DatasetError) as caught:
        await seed(conn, data)
    assert "event test-typo: place: no place is known as 'Palmira'; did you mean palmyra?" in str(
        caught.value
    )
