"""Pieces every schema module uses: the strict input base, slugs, and references to other records."""

from __future__ import annotations

import re
from datetime import date  # noqa: TC003 (pydantic reads the annotation at run time)
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from app.vocabulary import FIRST_DATE, LAST_DATE, MAX_NAME, MAX_REFERENCE

Slug = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=120)

# The bounds of app/vocabulary.py on the fields, so the OpenAPI document shows them and a request past one is
# a 422 naming the field, not a failed statement. `lang` is varchar(20), counts are int4.
# What PostgreSQL cannot store in text: NUL, and halves of a UTF-16 surrogate pair (JSON may escape either).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (or member name) in a parsed JSON value that PostgreSQL cannot
    store, or None. Checked for the whole request (app/api/limits.py) and for each row of a file to ingest."""
    if isinstance(value, str):
        return (path or "body") if UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        for name, member in value.items():
            inner = f"{path}.{name}" if path else str(name)
            if UNSTORABLE.search(str(name)):
                return inner
            if (found := unstorable(member, inner)) is not None:
                return found
    if isinstance(value, list):
        for index, member in enumerate(value):
            if (found := unstorable(member, f"{path}.{index}" if path else str(index))) is not None:
                return found
    return None


Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
Reference = Annotated[str, Field(min_length=1, max_length=MAX_REFERENCE)]
# A source is named by its slug or its URL.
SourceReference = Annotated[str, Field(min_length=1, max_length=2000)]
Lang = Annotated[str, Field(max_length=20, description="A BCP 47 tag such as ar, ar-Latn, fr")]
Count = Annotated[int, Field(ge=0, le=2**31 - 1)]
Day = Annotated[date, Field(ge=FIRST_DATE, le=LAST_DATE)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def examples(*items: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": list(items)})


class Read(BaseModel):
    """An answer's shape. A member the model does not name is an error, so the contract test (every GET route's
    body validated against its declared model) fails when a query and its model drift apart."""

    model_config = ConfigDict(extra="forbid")


class Ref(Read):
    slug: str
    name: str


class ColoredRef(Ref):
    color: str = Field(description="Map colour, #rrggbb")


class PlaceRef(Read):
    id: int
    slug: str
    name: str


class Warning(BaseModel):
    """Stored, but worth knowing: e.g. a spelling that also names another place."""

    model_config = ConfigDict(extra="allow")

    field: str
    reason: str
    kind: str | None = None


class Suggestion(BaseModel):
    """A known record close to a name that matched none."""

    model_config = ConfigDict(extra="allow")

    id: int | None = None
    slug: str
    name: str
    score: float | None = None


class FieldError(BaseModel):
    """One thing wrong with the request: where (query, path, header, body), which field, and why."""

    model_config = ConfigDict(extra="allow")

    location: str
    index: int | None = Field(default=None, description="The row of a batch the field is in")
    field: str
    reason: str
    suggestions: list[Suggestion] | None = None


class Problem(BaseModel):
    """An RFC 9457 problem detail (`application/problem+json`). Some problems add members: `candidates` (an
    ambiguous name), `known` or `layers` (the valid values), `overlaps`, `retry_after`, `max_batch`."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="A URI for the kind of problem")
    title: str
    status: int
    detail: str
    instance: str | None = Field(default=None, description="The path of the request")
    errors: list[FieldError] | None = None
    suggestions: list[Suggestion] | None = Field(default=None, description="Did you mean...")
