"""Places are found by id, slug or any spelling, whatever the case, accents or punctuation."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries.references import resolve_place
from app.errors import AmbiguousReference, PlaceNotFound
from tests.factories import make_place

SPELLINGS = {
    "palmyra": ["Palmyra", "Tadmur", "tadmor", "TUDMUR", "تدمر"],
    "deir-ez-zor": ["Deir ez-Zor", "Deir ez-Zour", "Dayr az-Zawr", "deir el-zour", "Deir Ezzor", "دير الزور"],
    "al-bab": ["al-Bab", "Al Bab", "AL-BAB", "El Bab", "الباب"],
    "mare": ["Mare'", "Mare", "Marea", "Mari", "مارع"],
    "dabiq": ["Dabiq", "Dabık", "DABIK"],
    "azaz": ["Azaz", "A'zaz", "A`zaz"],
}


@pytest.mark.parametrize(("slug", "spelling"), [(s, n) for s, names in SPELLINGS.items() for n in names])
async def test_every_spelling_resolves_to_the_same_place(
    conn: AsyncConnection, slug: str, spelling: str
) -> None:
    assert (await resolve_place(conn, spelling))["slug"] == slug


async def test_numeric_id_and_slug_resolve(conn: AsyncConnection) -> None:
    place_id = await conn.scalar(text("SELECT id FROM place WHERE slug = 'raqqa'"))
    assert (await resolve_place(conn, str(place_id)))["slug"] == "raqqa"
    assert (await resolve_place(conn, "raqqa"))["id"] == place_id


async def test_unknown_place_suggests_the_closest_names(conn: AsyncConnection) -> None:
    with pytest.raises(PlaceNotFound) as caught:
        await resolve_place(conn, "Palmira")
    assert caught.value.members["suggestions"][0]["slug"] == "palmyra"


async def test_bab_alone_is_al_bab_without_its_article_but_bab_al_salam_is_not(conn: AsyncConnection) -> None:
    """ "Bab" is no stored spelling; without the article it reads as al-Bab (the lookup forms of issue 11). Names
    that merely contain "Bab" (Bab al-Salam, Tariq al-Bab) are other names, and find nothing."""
    assert (await resolve_place(conn, "Bab"))["slug"] == "al-bab"
    for other in ("Bab al-Salam", "Tariq al-Bab"):
        with pytest.raises(PlaceNotFound):
            await resolve_place(conn, other)


async def test_a_spelling_shared_by_two_places_is_ambiguous(conn: AsyncConnection) -> None:
    await make_place(conn, "test-springfield-north", names=("Springfield",))
    await make_place(conn, "test-springfield-south", names=("Springfield",))
    with pytest.raises(AmbiguousReference) as caught:
        await resolve_place(conn, "springfield")
    assert {c["slug"] for c in caught.value.members["candidates"]} == {
        "test-springfield-north",
        "test-springfield-south",
    }
