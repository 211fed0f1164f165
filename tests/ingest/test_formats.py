"""Reading event files: every row parsed, every problem kept with its line; whole-file problems stop early."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.ingest.formats import FileError, open_events
from app.paths import DATA_DIR

EXAMPLES = DATA_DIR / "examples"


@pytest.mark.parametrize(
    ("name", "external_ids"),
    [
        (
            "events.csv",
            [
                "ramadi-2016-02-09-cleared",
                "fallujah-2016-06-17-contested",
                "mosul-2016-10-17-battle-begins",
                "mosul-2017-02-19-west-offensive",
            ],
        ),
        (
            "events.jsonl",
            [
                "tiyas-airbase-2016-12-12-attack-repelled",
                "palmyra-2017-01-13-counter-offensive",
                "deir-ez-zor-2017-02-14-offensive-ends",
                "aleppo-2016-11-15-offensive",
            ],
        ),
        (
            "events.geojson",
            ["al-bab-2017-02-24-secured", "mare-2016-10-16-linked-up", "raqqa-2017-10-20-declared"],
        ),
    ],
)
def test_examples_parse_without_problems(name: str, external_ids: list[str]) -> None:
    event_file = open_events(EXAMPLES / name)
    rows = list(event_file.rows)
    assert event_file.total == len(rows) == len(external_ids)
    assert [r.problems for r in rows] == [[]] * len(rows)
    assert [r.external_id for r in rows] == external_ids


def test_csv_lists_and_empty_cells() -> None:
    fallujah = list(open_events(EXAMPLES / "events.csv").rows)[1].event
    assert fallujah is not None
    assert fallujah.parties == ["iraqi-security-forces", "islamic-state"]
    assert fallujah.sources == ["wp-third-battle-of-fallujah", "voa-2016-06-26-isil-out-of-fallujah"]
    assert fallujah.actor is None and fallujah.loses is None and fallujah.seq == 0  # empty cells: no value


def test_geojson_feature_id_stands_for_the_external_id() -> None:
    first = list(open_events(EXAMPLES / "events.geojson").rows)[0]
    assert first.where == "feature 1" and first.external_id == "al-bab-2017-02-24-secured"


def test_csv_problems_carry_their_line() -> None:
    rows = list(open_events(EXAMPLES / "events-with-errors.csv").rows)
    problems = {r.line: [(p.field, p.reason) for p in r.problems] for r in rows if r.problems}
    assert sorted(problems) == [4, 5, 6, 8, 10]
    assert problems[4][0][0] == "date" and "2017-02-30" in problems[4][0][1]
    assert problems[5] == [("row", "a month-precision date must be the first of the month")]
    assert problems[6] == [("row", "a controlled place needs an 'actor' that holds it")]
    assert problems[8][0][0] == "kind" and "'retaken'" in problems[8][0][1]
    assert problems[10][0][0] == "external_id"
    # The rows whose problems only the database can see (unknown place, source, a conflict) parse here.
    assert [r.line for r in rows if not r.problems] == [2, 3, 7, 9, 11]


def test_csv_line_numbers_count_blank_lines_and_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text(
        "external_id,place,date,kind,actor,status,sources,notes\n"
        "\n"
        'a,palmyra,2016-01-01,held,syrian-army,controlled,x,"two\nlines"\n'
        "b,palmyra,2016-01-02,held,,controlled,x,\n"
    )
    rows = list(open_events(path).rows)
    assert [(r.line, bool(r.problems)) for r in rows] == [(3, False), (5, True)]


def test_jsonl_bad_lines_are_reported_and_the_rest_read(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(
        '{"external_id": "a", "place": "p", "date": "2016-01-01", "kind": "held", "actor": "x",'
        ' "status": "controlled", "sources": ["s"]}\n'
        "{not json\n"
        "\n"
        "[1, 2]\n"
        '{"external_id": "b", "place": "p", "date": "2016-01-01", "kind": "held", "actor": "x",'
        ' "status": "controlled", "sources": ["s"], "colour": "red"}\n'
    )
    rows = list(open_events(path).rows)
    assert [(r.line, [p.field for p in r.problems]) for r in rows] == [
        (1, []),
        (2, ["row"]),
        (4, ["row"]),
        (5, ["colour"]),
    ]


def test_geojson_geometry_must_be_a_lon_lat_point(tmp_path: Path) -> None:
    path = tmp_path / "e.geojson"
    props = '{"external_id": "a", "place": "p", "date": "2016-01-01", "kind": "held", "actor": "x", "status": "controlled", "sources": ["s"]}'
    path.write_text(
        '{"type": "FeatureCollection", "features": ['
        f'{{"type": "Feature", "geometry": null, "properties": {props}}},'
        f'{{"type": "Feature", "geometry": {{"type": "Point", "coordinates": [38.2, 134.5]}}, "properties": {props}}},'
        f'{{"type": "Feature", "geometry": {{"type": "LineString", "coordinates": [[0, 0], [1, 1]]}}, "properties": {props}}},'
        '{"type": "Feature", "geometry": null, "properties": null}]}'
    )
    rows = list(open_events(path).rows)
    assert [[p.field for p in r.problems] for r in rows] == [
        [],
        ["geometry.coordinates"],
        ["geometry"],
        ["properties"],
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("e.csv", "external_id,place,date,kind,status,sources,colour\n", "unknown column(s) 'colour'"),
        ("e.csv", "external_id,place,date,kind,status\n", "lacks the column(s) sources"),
        ("e.csv", "", "is empty"),
        ("e.geojson", '{"type": "Feature"}', "not a GeoJSON FeatureCollection"),
        ("e.geojson", "{", "not JSON"),
        ("e.txt", "", "give --format"),
    ],
)
def test_whole_file_problems_stop_before_any_row(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(FileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        open_events(path)


def test_a_missing_file_is_a_file_error(tmp_path: Path) -> None:
    with pytest.raises(FileError, match="no such file"):
        open_events(tmp_path / "missing.csv")


def test_csv_location_columns_give_the_place_by_name_and_coordinates(tmp_path: Path) -> None:
    """lat, lon, place_kind and country make the event's location, for the gazetteer; without them the place
    is a reference as before."""
    path = tmp_path / "located.csv"
    path.write_text(
        "external_id,place,date,kind,actor,status,sources,lat,lon,place_kind,country\n"
        "a,Tell Aswad,2017-06-01,captured,islamic-state,controlled,rferl-miller-2017-is-collapsing,36.0,38.0,village,SY\n"
        "b,Tadmur,2017-06-01,captured,islamic-state,controlled,rferl-miller-2017-is-collapsing,,,,\n"
        "c,Tell Aswad,2017-06-01,captured,islamic-state,controlled,rferl-miller-2017-is-collapsing,95,38.0,,\n",
        encoding="utf-8",
    )
    a, b, c = open_events(path).rows
    assert a.event is not None and a.event.location is not None
    assert (a.event.location.lat, a.event.location.lon, a.event.location.kind) == (36.0, 38.0, "village")
    assert b.event is not None and b.event.location is None
    assert [p.field for p in c.problems] == ["location.lat"]
