"""The control map of a date and the changes between two dates."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel

from app.schemas.common import Ref
from app.schemas.events import EventRead


class FeatureCollection(BaseModel):
    type: Literal["FeatureCollection"]
    at: date
    features: list[dict[str, Any]]


class State(BaseModel):
    status: str
    controller: Ref | None
    parties: list[Ref]
    since: date | None


class ChangeRead(BaseModel):
    place: dict[str, Any]
    before: State
    after: State
    events: list[EventRead] | None


class ChangesRead(BaseModel):
    from_: date
    to: date
    changes: list[ChangeRead]
    next: str | None

    model_config = {"populate_by_name": True}
