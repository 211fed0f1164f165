"""The API target's retry rules: Retry-After in both its forms, and a bounded number of attempts."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

import pytest

from app.ingest.targets import ATTEMPTS, Aborted, Service, retry_after
from app.localdb import free_loopback_port
from app.schemas.events import EventCreate


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    assert retry_after("7", default=1) == 7
    assert retry_after(None, default=1.5) == 1.5
    assert retry_after("soon", default=2) == 2
    in_a_minute = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert 55 <= retry_after(in_a_minute, default=1) <= 60


async def test_an_unreachable_service_is_retried_a_bounded_number_of_times_then_exit_3() -> None:
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    event = EventCreate.model_validate(
        {
            "external_id": "x",
            "place": "p",
            "date": "2016-01-01",
            "kind": "held",
            "actor": "a",
            "status": "controlled",
            "sources": ["s"],
        }  # fmt: skip
    )
    # Nothing listens on a port just freed: every attempt is refused.
    async with Service(f"http://127.0.0.1:{free_loopback_port()}", "key", sleep=no_wait) as service:
        with pytest.raises(Aborted) as raised:
            await service.send([event])
    assert raised.value.exit_code == 3
    assert waits == [1.0, 2.0, 4.0, 8.0][: ATTEMPTS - 1]
