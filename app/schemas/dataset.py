"""The shapes of the dataset files in `data/` that the API's own models do not cover (the rest are shared)."""

from __future__ import annotations

from pydantic import Field

from app.schemas.events import EventFields


class EventIn(EventFields):
    """An event of the dataset files: its external_id is its stable identity."""

    external_id: str = Field(min_length=1, max_length=200)
