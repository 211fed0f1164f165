"""Pieces every schema module uses: the strict input base, slugs, and references to other records."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Slug = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=120)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def examples(*items: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": list(items)})


class Ref(BaseModel):
    slug: str
    name: str


class PlaceRef(BaseModel):
    id: int
    slug: str
    name: str


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
