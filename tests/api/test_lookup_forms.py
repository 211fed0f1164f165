"""Places are found by the forms analysts type: with or without the article "al-", and airports and bases by
the place they are named after (in any of its spellings) or by the press's designations; several fits are 409."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def facility(
    conn: AsyncConnection,
    slug: str,
    names: tuple[str, ...],
    *,
    parent: str | None = None,
    kind: str = "airbase",
) -> None:
    """A place of the kind an airport or base is, with its spellings (the first is its name)."""
    place_id = await conn.scalar(
        text("""INSERT INTO place (slug, name, kind, geom, country_code, parent_id)
                VALUES (:slug, :name, :kind, ST_SetSRID(ST_MakePoint(38.5, 35.8), 4326), 'SY',
                        (SELECT id FROM place WHERE slug = :parent)) RETURNING id"""),
        {"slug": slug, "name": names[0], "kind": kind, "parent": parent},
    )
    for name in names:
        await conn.execute(
            text("INSERT INTO place_name (place_id, name) VALUES (:p, :n)"), {"p": place_id, "n": name}
        )


async def slug_of(client: httpx.AsyncClient, ref: str) -> str:
    response = await client.get(f"/v1/places/{ref}/control", params={"at": "2017-01-20"})
    assert response.status_code == 200, (ref, response.text)
    return str(response.json()["place"]["slug"])


@pytest.mark.parametrize(
    ("ref", "slug"),
    [
        # The airport named after its city, in the city's spellings, with or without the article.
        ("Deir ez-Zour airport", "deir-ez-zor-airport"),
        ("Dayr az-Zawr military airport", "deir-ez-zor-airport"),
        ("Deir al-Zor air base", "deir-ez-zor-airport"),
        ("Der Zor airfield", "deir-ez-zor-airport"),
        ("Deir Zor airport", "deir-ez-zor-airport"),
        ("مطار دير الزور العسكري", "deir-ez-zor-airport"),
        # The press's designations of T4, and its name with a designation word.
        ("T4", "tiyas-airbase"),
        ("t-4", "tiyas-airbase"),
        ("Tiyas airbase", "tiyas-airbase"),
        ("T4 air base", "tiyas-airbase"),
        ("al-Tiyas airbase", "tiyas-airbase"),
        # The article: left out, or added where the stored spelling has none.
        ("Bab", "al-bab"),
        ("Raqqah", "raqqa"),
        ("al-Raqqa", "raqqa"),
        ("ar-Raqqa", "raqqa"),
        ("Ramadi", "ramadi"),
        ("el-Mawsil", "mosul"),
        ("باب", "al-bab"),
    ],
)
async def test_a_place_is_found_by_the_forms_analysts_type(
    client: httpx.AsyncClient, ref: str, slug: str
) -> None:
    assert await slug_of(client, ref) == slug


async def test_a_base_is_found_by_its_town_and_by_the_designations_the_press_uses(
    client: httpx.AsyncClient, conn: AsyncConnection
) -> None:
    # Tabqa's airbase and Qayyarah's are in the dataset (children of their towns); Kuweires is not.
    await facility(conn, "kuweires-airbase", ("Kuweires Military Airbase", "Kweires", "Kuweires", "Kuwayris"))
    assert await slug_of(client, "Tabqa airbase") == "tabqa-airbase"
    assert await slug_of(client, "Tabqa airport") == "tabqa-airbase"
    assert await slug_of(client, "at-Tabqa military airbase") == "tabqa-airbase"
    assert await slug_of(client, "al-Thawrah airbase") == "tabqa-airbase"  # by another spelling of its town
    assert await slug_of(client, "Q-West") == "qayyarah-airfield-west"
    assert await slug_of(client, "Qayara air base") == "qayyarah-airfield-west"
    assert await slug_of(client, "Kweires") == "kuweires-airbase"
    assert await slug_of(client, "Kweires airbase") == "kuweires-airbase"
    assert await slug_of(client, "Kuwayris air base") == "kuweires-airbase"


async def test_a_designation_of_a_place_with_two_airbases_is_ambiguous(
    client: httpx.AsyncClient, conn: AsyncConnection
) -> None:
    await facility(conn, "aleppo-international-airport", ("Aleppo International Airport",), parent="aleppo")
    await facility(conn, "nayrab-airbase", ("Nayrab Military Airbase", "Nayrab"), parent="aleppo")
    response = await client.get("/v1/places/Aleppo airport/control", params={"at": "2016-12-20"})
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    candidates = {c["slug"] for c in response.json()["errors"][0]["candidates"]}
    assert candidates == {"aleppo-international-airport", "nayrab-airbase"}
    # The city itself, and the base by its own name, are still one place each.
    assert await slug_of(client, "Halab") == "aleppo"
    assert await slug_of(client, "Nayrab airbase") == "nayrab-airbase"


async def test_a_spelling_wins_over_the_same_name_without_its_article(
    client: httpx.AsyncClient, conn: AsyncConnection
) -> None:
    """A place whose spelling is exactly what was typed is the answer, even when another place reads the same
    without the article: the article rule only applies when nothing is named exactly."""
    place_id = await conn.scalar(
        text("""INSERT INTO place (slug, name, kind, geom, country_code)
                VALUES ('bab-village', 'Bab', 'village', ST_SetSRID(ST_MakePoint(37.0, 36.0), 4326), 'SY')
                RETURNING id""")
    )
    await conn.execute(text("INSERT INTO place_name (place_id, name) VALUES (:p, 'Bab')"), {"p": place_id})
    assert await slug_of(client, "Bab") == "bab-village"
    assert await slug_of(client, "al-Bab") == "al-bab"
    # "El Bab" is a stored spelling of al-Bab; "Il Bab" is no one's, and reads as both: ambiguous.
    assert await slug_of(client, "El Bab") == "al-bab"
    response = await client.get("/v1/places/Il Bab/control", params={"at": "2017-01-20"})
    assert response.status_code == 409, response.text


async def test_an_unknown_designation_is_a_404_with_suggestions(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/places/Palmira airport/control", params={"at": "2017-01-20"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
