"""Sources: what the source endpoints accept and answer."""

from __future__ import annotations

import datetime as dt
from datetime import date

from pydantic import Field

from app.schemas.common import Day, Read, Slug, Strict, Warning, examples


class SourceIn(Strict):
    slug: str = Slug
    title: str = Field(min_length=1)
    publisher: str | None = None
    url: str | None = None
    published_on: Day | None = None
    notes: str | None = None


class SourceCreate(SourceIn):
    """A source events and memberships cite: a report, an article, a dataset."""

    model_config = examples(
        {
            "slug": "reuters-2017-03-02-palmyra",
            "title": "Syrian army retakes Palmyra from Islamic State",
            "publisher": "Reuters",
            "url": "https://www.reuters.com/article/us-mideast-crisis-syria-palmyra-idUSKBN16911Y",
            "published_on": "2017-03-02",
        }
    )


class SourcePatch(Strict):
    """A correction of a source: the fields to change (the slug never changes)."""

    model_config = examples({"published_on": "2017-03-02"})

    title: str | None = None
    publisher: str | None = None
    url: str | None = None
    published_on: dt.date | None = None
    notes: str | None = None


class SourceRead(Read):
    slug: str
    title: str
    publisher: str | None
    url: str | None
    published_on: date | None


class SourceBrief(Read):
    slug: str
    title: str
    url: str | None


class SourceDetail(SourceRead):
    notes: str | None
    events: int = Field(description="How many events cite it")
    memberships: int = Field(description="How many coalition memberships cite it")


class SourceWritten(SourceDetail):
    warnings: list[Warning]
