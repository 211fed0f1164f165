"""Who held a place on a date, through the HTTP API: the article's dates on both sides of each change."""

from __future__ import annotations

import httpx
import pytest

# (place reference, the day before a change, holder then, the day of the change, holder from then on).
CHANGES = [
    ("Palmyra", "2015-05-20", "syrian-army", "2015-05-21", "islamic-state"),
    ("Palmyra", "2016-03-26", "islamic-state", "2016-03-27", "syrian-army"),
    ("Palmyra", "2016-12-10", "syrian-army", "2016-12-11", "islamic-state"),
    ("Palmyra", "2017-03-01", "islamic-state", "2017-03-02", "syrian-army"),
    ("Jarabulus", "2016-08-23", "islamic-state", "2016-08-24", "turkish-backed-rebels"),
    ("Dabiq", "2016-10-15", "islamic-state", "2016-10-16", "turkish-backed-rebels"),
    ("al-Bab", "2017-02-22", "islamic-state", "2017-02-23", "turkish-backed-rebels"),
    ("Aleppo", "2016-12-21", None, "2016-12-22", "syrian-army"),
    ("Mosul", "2014-06-09", "iraqi-security-forces", "2014-06-10", "islamic-state"),
    ("Mosul", "2017-07-09", None, "2017-07-10", "iraqi-security-forces"),
    ("Raqqa", "2017-10-16", None, "2017-10-17", "sdf"),
    ("Fallujah", "2016-06-25", "islamic-state", "2016-06-26", "iraqi-security-forces"),
    ("Ramadi", "2015-05-16", None, "2015-05-17", "islamic-state"),
]


async def controller(client: httpx.AsyncClient, ref: str, at: str) -> dict:
    response = await client.get(f"/v1/places/{ref}/control", params={"at": at})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def holder(answer: dict) -> str | None:
    return answer["controller"]["slug"] if answer["controller"] else None


@pytest.mark.parametrize(("ref", "before", "held_before", "on", "held_after"), CHANGES)
async def test_control_on_both_sides_of_a_change(
    client: httpx.AsyncClient, ref: str, before: str, held_before: str | None, on: str, held_after: str
) -> None:
    assert holder(await controller(client, ref, before)) == held_before
    after = await controller(client, ref, on)
    assert holder(after) == held_after
    assert after["since"] == on  # half-open: the new holder holds it on the day of the capture
    assert after["event"]["date"] == on
    assert after["event"]["sources"], "every answer cites its sources"


async def test_control_answer_has_the_documented_shape(client: httpx.AsyncClient) -> None:
    answer = await controller(client, "Tadmur", "2016-12-20")
    assert answer["place"]["slug"] == "palmyra"
    assert answer["at"] == "2016-12-20"
    assert (answer["status"], answer["since"], answer["until"]) == ("controlled", "2016-12-11", "2017-03-02")
    assert answer["certainty"] == "definite"
    assert answer["parties"] == []
    assert {"slug", "title", "url", "publisher", "published_on"} <= set(answer["event"]["sources"][0])


async def test_contested_period_names_every_party(client: httpx.AsyncClient) -> None:
    answer = await controller(client, "Aleppo", "2015-06-01")
    assert (answer["status"], answer["controller"]) == ("contested", None)
    assert {p["slug"] for p in answer["parties"]} == {"syrian-army", "syrian-rebels"}


async def test_besieged_period_names_holder_and_besieger(client: httpx.AsyncClient) -> None:
    answer = await controller(client, "deir-ez-zor-airport", "2017-01-20")
    assert (answer["status"], holder(answer)) == ("besieged", "syrian-army")
    assert [p["slug"] for p in answer["parties"]] == ["islamic-state"]
    assert holder(await controller(client, "deir-ez-zor-airport", "2017-09-09")) == "syrian-army"
    assert (await controller(client, "deir-ez-zor-airport", "2017-09-09"))["status"] == "controlled"


async def test_controller_coalitions_are_those_of_that_date(client: httpx.AsyncClient) -> None:
    answer = await controller(client, "Jarabulus", "2016-09-01")
    assert [c["slug"] for c in answer["coalitions"]] == ["euphrates-shield"]
    later = await controller(client, "Jarabulus", "2017-06-01")  # Euphrates Shield ended 29 March 2017
    assert later["coalitions"] == []
    assert [c["slug"] for c in (await controller(client, "Palmyra", "2017-03-02"))["coalitions"]] == [
        "pro-assad-coalition"
    ]


async def test_a_claim_only_reported_is_possible_whatever_its_precision(client: httpx.AsyncClient) -> None:
    # The month-precision window itself is tested in tests/services/test_period_derivation.py.
    inside = await controller(client, "Deir ez-Zour", "2014-07-15")
    assert (inside["status"], inside["certainty"]) == ("contested", "possible")
    after = await controller(client, "Deir ez-Zour", "2014-08-15")  # past the month, but only reported
    assert (after["certainty"], after["event"]["confidence"]) == ("possible", "reported")
    confirmed = await controller(client, "Palmyra", "2016-12-20")
    assert (confirmed["certainty"], confirmed["event"]["confidence"]) == ("definite", "confirmed")


async def test_a_date_before_anything_is_known_is_unknown_not_an_error(client: httpx.AsyncClient) -> None:
    answer = await controller(client, "Palmyra", "1990-01-01")
    assert (answer["status"], answer["controller"], answer["event"], answer["since"]) == (
        "unknown",
        None,
        None,
        None,
    )


async def test_at_defaults_to_today(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/places/palmyra/control")
    assert response.status_code == 200
    assert response.json()["status"] == "controlled"
    assert response.headers["cache-control"] == "public, no-cache"


async def test_timeline_lists_periods_and_events_in_date_order(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/places/palmyra/timeline")
    assert response.status_code == 200
    body = response.json()
    since = [p["since"] for p in body["periods"]]
    assert since == sorted(since) and len(since) == 5
    assert [p["controller"]["slug"] for p in body["periods"]][-2:] == ["islamic-state", "syrian-army"]
    dates = [e["date"] for e in body["events"]]
    assert dates == sorted(dates)
    assert all(e["sources"] for e in body["events"])
