"""`territory import acled`: ACLED's territory changes become events; a re-import changes nothing; a newer export
updates what changed and retracts what ACLED deleted; unmapped actors are reported and their rows refused."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner, Result

from app.cli import cli
from app.ingest.acled import load_mapping, read_export
from app.paths import DATA_DIR
from app.settings import get_settings

SAMPLE = DATA_DIR / "examples" / "acled" / "acled-syria-2017.csv"
NEWER = DATA_DIR / "examples" / "acled" / "acled-syria-2017-newer.csv"
MAPPING = DATA_DIR / "acled" / "actors.yaml"


@pytest.fixture
def run(write_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`territory import acled ...` against the test's own committed database."""
    monkeypatch.setenv("DATABASE_URL", write_engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()

    async def invoke(*args: str) -> Result:
        # In a thread: the command runs its own event loop (asyncio.run), which ours cannot host.
        return await asyncio.to_thread(CliRunner().invoke, cli, ["import", "acled", *args])

    yield invoke
    get_settings.cache_clear()


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as connection:
        return list(await connection.execute(text(sql), params))


async def acled_events(engine: AsyncEngine) -> dict[str, Any]:
    found = await rows(
        engine,
        """SELECT e.external_id, p.slug AS place, e.occurred_on::text AS date, e.precision, e.kind, a.slug AS actor,
                  l.slug AS loses, e.confidence, e.retracted_at IS NOT NULL AS retracted,
                  (SELECT count(*) FROM control_event_version AS v WHERE v.control_event_id = e.id) AS versions,
                  ARRAY(SELECT s.slug FROM control_event_source AS es JOIN source AS s ON s.id = es.source_id
                        WHERE es.control_event_id = e.id ORDER BY s.slug) AS sources
           FROM control_event AS e JOIN place AS p ON p.id = e.place_id
           LEFT JOIN actor AS a ON a.id = e.actor_id LEFT JOIN actor AS l ON l.id = e.losing_actor_id
           WHERE e.external_id LIKE 'acled:%'""",
    )
    return {r.external_id.removeprefix("acled:"): r for r in found}


async def test_the_sample_imports_reimports_unchanged_and_a_newer_export_updates_and_retracts_exactly(
    run: Any, write_engine: AsyncEngine
) -> None:
    first = await run(str(SAMPLE))
    assert first.exit_code == 1, first.output  # one row refused: its actor is not in the mapping
    lines = first.output.splitlines()
    assert lines[0].startswith(
        "line 9: actor1: 'Unidentified Armed Group (Syria)' is not in the actor mapping"
    )
    assert (
        "10 rows, 7 territory changes: 7 created, 0 updated, 0 unchanged, 0 older than recorded; 0 retracted; 1 rows refused"
        in lines
    )
    assert "skipped (not a territory change): Air/drone strike 1, Armed clash 1" in lines
    assert (
        "unmapped actors (add them to the mapping file): 'Unidentified Armed Group (Syria)' (1 rows)" in lines
    )
    assert "places: 3 known, 4 created for review (/v1/places?review=true)" in lines

    events = await acled_events(write_engine)
    assert set(events) == {"SYR9001", "SYR9003", "SYR9005", "SYR9006", "SYR9007", "SYR9009", "SYR9010"}
    palmyra = events["SYR9001"]
    assert (palmyra.place, palmyra.date, palmyra.kind, palmyra.actor, palmyra.loses) == (
        "palmyra",
        "2017-03-02",
        "recaptured",
        "syrian-army",
        "islamic-state",
    )
    assert palmyra.confidence == "reported"
    assert palmyra.sources == ["acled", "acled-src-sana", "acled-src-syrian-observatory-for-human-rights"]
    assert events["SYR9003"].place == "deir-ez-zor-airport"
    assert (events["SYR9005"].place, events["SYR9005"].kind, events["SYR9005"].actor) == (
        "raqqa",
        "captured",
        "sdf",
    )
    # A week (time_precision 2) is stored as its month; a non-violent transfer as a withdrawal of actor2.
    arima = events["SYR9009"]
    assert (arima.date, arima.precision, arima.kind, arima.actor, arima.loses) == (
        "2017-03-01",
        "month",
        "withdrawn",
        "syrian-army",
        "sdf",
    )
    created = await rows(
        write_engine, "SELECT name, kind, country_code FROM place WHERE review IS NOT NULL ORDER BY name"
    )
    assert [tuple(r) for r in created] == [
        ("Al-Sukhnah", "town", "SY"),
        ("Arima", "town", "SY"),
        ("Maskana", "town", "SY"),
        ("Qabasin", "town", "SY"),
    ]

    again = await run(str(SAMPLE))
    assert again.exit_code == 1
    assert (
        "10 rows, 7 territory changes: 0 created, 0 updated, 7 unchanged, 0 older than recorded; 0 retracted; 1 rows refused"
        in again.output
    )
    assert "places: 7 known, 0 created for review" in again.output
    assert await acled_events(write_engine) == events

    newer = await run(str(NEWER))
    assert newer.exit_code == 1
    assert (
        "9 rows, 6 territory changes: 0 created, 1 updated, 5 unchanged, 0 older than recorded; 1 retracted; 1 rows refused"
        in newer.output
    )
    after = await acled_events(write_engine)
    changed = {k for k in events if after[k] != events[k]}
    assert changed == {"SYR9006", "SYR9007"}
    assert (after["SYR9006"].date, after["SYR9006"].versions, after["SYR9006"].retracted) == (
        "2017-06-03",
        2,
        False,
    )
    assert (after["SYR9007"].retracted, after["SYR9007"].versions) == (True, 2)
    holder = await rows(
        write_engine,
        """SELECT a.slug FROM control_period AS cp JOIN place AS p ON p.id = cp.place_id JOIN actor AS a ON a.id = cp.actor_id
           WHERE p.name = :name AND cp.valid @> CAST(:on AS date)""",
        name="Maskana",
        on=date(2017, 6, 3),
    )
    assert [r.slug for r in holder] == ["syrian-army"]
    assert (
        await rows(
            write_engine,
            "SELECT 1 FROM control_period AS cp JOIN place AS p ON p.id = cp.place_id WHERE p.name = 'Al-Sukhnah'",
        )
        == []
    )

    # The newer export again: nothing to do. The older one after it: older than recorded, it undoes nothing.
    assert (
        "0 created, 0 updated, 6 unchanged, 0 older than recorded; 0 retracted"
        in (await run(str(NEWER))).output
    )
    older = await run(str(SAMPLE))
    assert (
        "7 territory changes: 0 created, 0 updated, 5 unchanged, 2 older than recorded; 0 retracted"
        in older.output
    )
    assert await acled_events(write_engine) == after


async def test_unmapped_actors_are_reported_and_their_rows_refused_whole(
    run: Any, write_engine: AsyncEngine, tmp_path: Path
) -> None:
    mapping = tmp_path / "actors.yaml"
    mapping.write_text(
        MAPPING.read_text(encoding="utf-8").replace('"QSD: Syrian Democratic Forces": sdf\n', ""),
        encoding="utf-8",
    )
    result = await run(str(SAMPLE), "--actors", str(mapping), "--json")
    assert result.exit_code == 1, result.output
    import orjson

    report = orjson.loads(result.output)
    assert report["unmapped"] == {"QSD: Syrian Democratic Forces": 1, "Unidentified Armed Group (Syria)": 1}
    assert {(r["line"], r["event_id"], r["field"]) for r in report["refused"]} == {
        (6, "SYR9005", "actor1"),
        (9, "SYR9008", "actor1"),
    }
    assert report["created"] == 6
    assert "SYR9005" not in await acled_events(write_engine)  # not recorded with a holder left out


async def test_a_dry_run_records_nothing(run: Any, write_engine: AsyncEngine) -> None:
    result = await run(str(SAMPLE), "--dry-run")
    assert "7 would be created" in result.output
    assert "dry run: nothing was recorded" in result.output
    assert await acled_events(write_engine) == {}
    assert await rows(write_engine, "SELECT 1 FROM place WHERE review IS NOT NULL") == []


async def test_a_file_that_is_no_acled_export_is_refused_whole(run: Any) -> None:
    result = await run(str(DATA_DIR / "examples" / "events.csv"))
    assert result.exit_code == 2
    assert "not an ACLED export, the header lacks event_id_cnty" in result.output


def test_older_exports_dates_and_bad_rows_are_read(tmp_path: Path) -> None:
    """Exports before 2023 write "17 October 2017"; a bad date or coordinate refuses its row, naming the column."""
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    header, raqqa = lines[0], lines[5]
    assert raqqa.startswith("SYR9005,2017-10-17,")
    path = tmp_path / "old.csv"
    path.write_text(
        "\n".join(
            [
                header,
                raqqa.replace("2017-10-17", "17 October 2017"),
                raqqa.replace("SYR9005,2017-10-17", "SYR9105,2017-02-30"),
                raqqa.replace("SYR9005", "SYR9205").replace("35.9528", "135.9528"),
            ]
        ),
        encoding="utf-8",
    )
    old, bad_date, bad_point = read_export(path, load_mapping(MAPPING)).rows
    assert old.event is not None and str(old.event.date) == "2017-10-17"
    assert [p.field for p in bad_date.problems] == ["event_date"]
    assert [p.field for p in bad_point.problems] == ["latitude"]
