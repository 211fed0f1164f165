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
