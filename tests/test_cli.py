"""The `territory` command against the seeded test database."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from app.cli import cli
from app.settings import get_settings


@pytest.fixture
def cli_env(engine: AsyncEngine, server_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", server_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("place", "on", "expected"),
    [
        (
            "Palmyra",
            "2016-12-10",
            "Palmyra on 2016-12-10: Syrian Arab Army (since 2016-03-27, until 2016-12-11, controlled; source: ",
        ),
        (
            "Tadmur",
            "2016-12-20",
            "Palmyra on 2016-12-20: Islamic State (since 2016-12-11, until 2017-03-02, controlled; source: ",
        ),
        ("Deir ez-Zour airport", "2017-01-20", None),
        (
            "deir-ez-zor-airport",
            "2017-01-20",
            "Deir ez-Zor Military Airport on 2017-01-20: Syrian Arab Army, besieged by Islamic State",
        ),
        (
            "Aleppo",
            "2016-12-21",
            "Aleppo on 2016-12-21: contested between Syrian Arab Army and Syrian rebels",
        ),
    ],
)
def test_who_held_prints_one_line(cli_env: CliRunner, place: str, on: str, expected: str | None) -> None:
    result = cli_env.invoke(cli, ["who-held", place, on])
    if expected is None:
        assert result.exit_code == 1  # not a known spelling
        return
    assert result.exit_code == 0, result.output
    assert result.output.startswith(expected)
    assert result.output.count("\n") == 1


def test_who_held_rejects_an_impossible_date(cli_env: CliRunner) -> None:
    result = cli_env.invoke(cli, ["who-held", "Palmyra", "2016-13-45"])
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output


def test_who_held_before_anything_is_known(cli_env: CliRunner) -> None:
    result = cli_env.invoke(cli, ["who-held", "Palmyra", "2001-01-01"])
    assert result.exit_code == 0
    assert "unknown" in result.output


def test_served_app_logs_its_own_messages(capsys: pytest.CaptureFixture[str]) -> None:
    # Writes are audited on the `territory` logger at INFO; uvicorn's default config would drop them.
    import logging
    import logging.config

    from app.cli import log_config

    logger = logging.getLogger("territory")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    try:
        logging.config.dictConfig(log_config("info"))
        logger.info("place test created by key abc (nightly)")
        logger.debug("not at info")
    finally:
        logger.handlers, logger.level, logger.propagate = saved
    err = capsys.readouterr().err
    assert "place test created by key abc (nightly)" in err
    assert "not at info" not in err


def test_who_held_an_unknown_place_prints_the_suggestions(cli_env: CliRunner) -> None:
    result = cli_env.invoke(cli, ["who-held", "Palmira", "2016-12-20"])
    assert result.exit_code == 1
    assert "No place is known as 'Palmira'. Did you mean Palmyra?" in result.output
