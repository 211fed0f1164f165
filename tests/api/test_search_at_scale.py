"""Place search over a generated gazetteer: the pages it answers are those of scoring every close spelling, and a
prepared search is planned once (a generic plan), not at each request."""

from __future__ import annotations

import json
import random
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries.as_of import at_moment
from app.db.queries.places import search_sql
from app.db.reads import positional

# Names as the bench's generator makes them (articles, common first words, syllables), so prefixes are broad.
FIRST_WORDS = ("al-", "Jisr ", "Tall ", "Khirbat ", "Kafr ", "Deir ", "")
ONSETS = ("b", "d", "f", "gh", "h", "j", "k", "kh", "l", "m", "n", "q", "r", "s", "sh", "t", "th", "z", "")
VOWELS = ("a", "aa", "e", "ee", "i", "o", "oo", "u", "ay")
CODAS = ("", "b", "d", "f", "k", "l", "m", "n", "r", "s", "t", "h")
PLACES = 1_500


def generated_name(rng: random.Random) -> str:
    word = "".join(
        rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(rng.randint(1, 3))
    )
    second = f" {generated_name(rng)}" if rng.random() < 0.15 else ""
    return rng.choice(FIRST_WORDS) + word.capitalize() + second


@pytest.fixture
async def gazetteer(conn: AsyncConnection) -> list[str]:
    """PLACES generated places of 1-3 spellings each (in the test's transaction), analysed; their spellings."""
    rng = random.Random(12)
    names = [[generated_name(rng) for _ in range(rng.randint(1, 3))] for _ in range(PLACES)]
    await conn.execute(
        text("""
            WITH new AS (
                INSERT INTO place (slug, name, kind, geom, country_code)
                SELECT 'gen-' || i, 'Generated ' || i, 'village',
                       ST_SetSRID(ST_MakePoint(36 + (i % 50) * 0.1, 33 + (i / 50) * 0.1), 4326), 'SY'
                FROM generate_series(1, :n) AS i
                RETURNING id, slug)
            INSERT INTO place_name (place_id, name)
            SELECT DISTINCT new.id, s.name
            FROM new, jsonb_array_elements_text(CAST(:names AS jsonb) -> (substr(new.slug, 5)::int - 1)) AS s(name)
        """),
        {"n": PLACES, "names": json.dumps(names)},
    )
    await conn.execute(text("ANALYZE place_name"))
    await conn.execute(text("ANALYZE place"))
    return [name for spellings in names for name in spellings]


# The search's meaning written plainly (README, "Search on realistic names"): the places with a spelling close to
# q (its key starts with q's, one letter off, the same skeleton), else those loosely similar (pg_trgm's `%`, `<%`),
# each ranked by the similarity of its most similar such spelling (then the spelling's name), then by id.
EVERY_MATCH_SCORED = text("""
    WITH sought AS (SELECT territory_normalize(:q) AS norm, territory_name_key(:q) AS key,
                           territory_name_skeleton(:q) AS skeleton),
    close AS (
        SELECT n.place_id, n.name, n.name_norm FROM place_name AS n, sought AS s
        WHERE (s.key <> '' AND starts_with(n.name_key, s.key))
           OR territory_one_letter_off(n.name_norm) && territory_one_letter_off(s.norm)
           OR (s.skeleton <> '' AND territory_name_skeleton(n.name) = s.skeleton)),
    loose AS (
        SELECT n.place_id, n.name, n.name_norm FROM place_name AS n, sought AS s
        WHERE NOT EXISTS (SELECT FROM close) AND (n.name_norm % s.norm OR s.norm <% n.name_norm)),
    best AS (
        SELECT DISTINCT ON (m.place_id) m.place_id, m.name, similarity(m.name_norm, s.norm) AS score
        FROM (SELECT * FROM close UNION ALL SELECT * FROM loose) AS m, sought AS s
        ORDER BY m.place_id, score DESC, m.name)
    SELECT p.slug, b.name, round(b.score::numeric, 3)::float8 AS score
    FROM best AS b JOIN place AS p ON p.id = b.place_id
    ORDER BY round((-b.score)::numeric, 6), b.place_id
    LIMIT :limit
""")


def typed(rng: random.Random, spellings: list[str]) -> str:
    """What a user types: a few letters, the start of a spelling, a whole one, one with a letter dropped or
    changed, or something no spelling is close to."""
    name = rng.choice(spellings)
    shape = rng.randrange(6)
    if shape == 0:
        return name[: rng.randint(1, 3)]
    if shape == 1:
        return name[: rng.randint(4, len(name))]
    if shape == 2:
        return name
    cut = rng.randrange(len(name))
    if shape == 3:
        return name[:cut] + name[cut + 1 :] or name
    if shape == 4:
        return name[:cut] + rng.choice("aeioukrst") + name[cut + 1 :]
    return "".join(rng.choice("qxzvjw") for _ in range(rng.randint(4, 8)))


async def test_every_page_is_the_page_of_scoring_every_match(
    client: httpx.AsyncClient, conn: AsyncConnection, gazetteer: list[str]
) -> None:
    rng = random.Random(5)
    pages, per_page = 3, 4
    for q in [typed(rng, gazetteer) for _ in range(60)]:
        expected = [
            (row.slug, row.name, row.score)
            for row in await conn.execute(EVERY_MATCH_SCORED, {"q": q, "limit": pages * per_page})
        ]
        seen: list[tuple[str, str, float]] = []
        url: str | None = f"/v1/places?q={q}&limit={per_page}"
        for _ in range(pages):
            if not url:
                break
            response = await client.get(url)
            assert response.status_code == 200, (q, response.text)
            body = response.json()
            seen += [(i["slug"], i["matched_name"], i["score"]) for i in body["items"]]
            url = body["next"] and "{0.path}?{0.query}".format(urlsplit(body["next"]))
        assert seen == expected, q


async def test_a_prepared_search_is_planned_once_not_per_request(
    conn: AsyncConnection, gazetteer: list[str]
) -> None:
    # PostgreSQL plans a prepared statement's first five executions for their values, then keeps one generic
    # plan if it costs no more than those did. A search whose plan depended on the query's value (its forms
    # folded into constants, its page size known to the plan) kept being planned: 1-2 ms a request at 100,000
    # places, 4-6x what running most searches takes. The statement as the read connection prepares it
    # (app/db/reads.py), on a statement of its own, after the gazetteer's statistics.
    plan = positional(
        at_moment(search_sql(q=True, near=False, bbox=False, kinds=False, after=False), None), conn.dialect
    )
    assert plan is not None
    sql, names = plan
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    statement = await driver.prepare(sql)
    rng = random.Random(8)
    for _ in range(12):
        values = {"q": typed(rng, gazetteer), "limit": 11, "as_of": None, "kinds": None}
        await statement.fetch(*(values[name] for name in names))
    generic, custom = await driver.fetchrow(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = $1",
        statement._state.name,
    )
    assert (generic, custom) == (7, 5)
