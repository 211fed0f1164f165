"""Pieces every schema module uses: the strict input base, slugs, and references to other records."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Slug = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=120)


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
