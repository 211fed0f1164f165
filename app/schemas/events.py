"""What the event-writing endpoints accept."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import ConfigDict, Field

from app.schemas.dataset import EventFields, Strict
from app.vocabulary import Confidence, EventKind, Precision, Status

EXAMPLE: dict[str, Any] = {
    "external_id": "palmyra-2016-12-11-is",
    "place": "Tadmur",
    "date": "2016-12-11",
    "precision": "day",
    "kind": "recaptured",
    "actor": "islamic-state",
    "loses": "syrian-army",
    "status": "controlled",
    "confidence": "confirmed",
    "sources": ["wp-palmyra-offensive-2016-12"],
    "notes": "IS re-entered Palmyra after a week-long offensive.",
}


class EventCreate(EventFields):
    """A control event to record. Places, actors and sources are named by slug or any known spelling.

    `external_id` is the event's identity for retries: sending the same event again creates nothing. It may be
    left out when the request carries an `Idempotency-Key` header, from which it is then derived."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [EXAMPLE]}
    )

    external_id: str | None = Field(default=None, min_length=1, max_length=200)


class EventBatch(Strict):
    """Events recorded in one transaction: all of them, or none."""

    events: list[EventCreate] = Field(min_length=1)


class EventPatch(Strict):
    """A correction: the fields to change. The previous version stays in the event's history."""

    place: str | None = None
    date: dt.date | None = None
    precision: Precision | None = None
    seq: int | None = Field(default=None, ge=0, le=100)
    kind: EventKind | None = None
    actor: str | None = None
    loses: str | None = None
    status: Status | None = None
    parties: list[str] | None = None
    confidence: Confidence | None = None
    sources: list[str] | None = Field(default=None, min_length=1)
    notes: str | None = None
