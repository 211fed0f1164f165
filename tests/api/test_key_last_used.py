"""A key's last use is stamped when it is presented, at most once a minute, without moving the data version
(app/db/sql/admit_api_key.sql, app/db/sql/data_version.sql)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from app.cli import cli
from app.services.keys import split_key
from app.settings import get_settings
from tests.conftest import app_on, new_key

PLACE = "/v1/places/palmyra"


@pytest.fixture
async def http(write_engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """Reads need a key, so a read is a keyed request too."""
    transport = httpx.ASGITransport(app=app_on(write_engine, require_read_key=True))
    async with httpx.AsyncClient(transport=transport, base_url="http://territory.test") as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def last_used(engine: AsyncEngine, key: str) -> datetime | None:
    async with engine.connect() as connection:
        return await connection.scalar(
            text("SELECT last_used_at FROM api_key WHERE prefix = :prefix"), {"prefix": split_key(key)}
        )


async def version_of(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text("SELECT version FROM data_version")))


async def test_a_key_is_stamped_on_first_use_and_not_again_within_the_minute(
    write_engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    key = await new_key(write_engine, "read")
    assert await last_used(write_engine, key) is None
    async with write_engine.connect() as connection:
        before = await connection.scalar(text("SELECT clock_timestamp()"))
    assert (await http.get(PLACE, headers=bearer(key))).status_code == 200
    first = await last_used(write_engine, key)
    assert first is not None and first >= before
    for _ in range(3):
        assert (await http.get(PLACE, headers=bearer(key))).status_code == 200
    assert await last_used(write_engine, key) == first


async def test_a_stamp_over_a_minute_old_moves_on_the_next_use(
    write_engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    key = await new_key(write_engine, "read")
    assert (await http.get(PLACE, headers=bearer(key))).status_code == 200
    async with write_engine.begin() as connection:
        older = await connection.scalar(
            text(
                "UPDATE api_key SET last_used_at = last_used_at - interval '2 minutes' "
                "WHERE prefix = :prefix RETURNING last_used_at"
            ),
            {"prefix": split_key(key)},
        )
    assert (await http.get(PLACE, headers=bearer(key))).status_code == 200
    moved = await last_used(write_engine, key)
    assert moved is not None and (moved - older).total_seconds() >= 120


async def test_a_keyed_read_leaves_the_data_version_alone(
    write_engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    """The stamp is no data a read answers: it must not empty every process's cache nor change every ETag."""
    key = await new_key(write_engine, "read")
    before = await version_of(write_engine)
    assert (await http.get(PLACE, headers=bearer(key))).status_code == 200
    assert await last_used(write_engine, key) is not None, "stamped"
    assert await version_of(write_engine) == before
    async with write_engine.begin() as connection:  # the key's other columns still count
        await connection.execute(
            text("UPDATE api_key SET revoked_at = now() WHERE prefix = :p"), {"p": split_key(key)}
        )
    assert await version_of(write_engine) == before + 1


async def test_the_version_counts_every_column_of_api_key_but_the_stamp(write_engine: AsyncEngine) -> None:
    """A column added to api_key (a name a read shows, say) must be added to the trigger's list too."""
    async with write_engine.connect() as connection:
        counted = set(
            await connection.scalars(
                text(
                    "SELECT a.attname FROM pg_trigger AS t JOIN pg_attribute AS a "
                    "ON a.attrelid = t.tgrelid AND a.attnum = ANY (t.tgattr) "
                    "WHERE t.tgrelid = 'api_key'::regclass AND t.tgname = 'data_version'"
                )
            )
        )
        columns = set(
            await connection.scalars(
                text(
                    "SELECT attname FROM pg_attribute "
                    "WHERE attrelid = 'api_key'::regclass AND attnum > 0 AND NOT attisdropped"
                )
            )
        )
    assert counted == columns - {"last_used_at"}


async def test_wrong_and_revoked_keys_stamp_nothing(
    write_engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    key, revoked = await new_key(write_engine, "read"), await new_key(write_engine, "read")
    async with write_engine.begin() as connection:
        await connection.execute(
            text("UPDATE api_key SET revoked_at = now() WHERE prefix = :p"), {"p": split_key(revoked)}
        )
    wrong_secret = key[: key.rindex("_") + 1] + "not-the-secret"  # the key's prefix, another secret
    assert (await http.get(PLACE, headers=bearer(wrong_secret))).status_code == 401
    assert (await http.get(PLACE, headers=bearer(revoked))).status_code == 401
    assert await last_used(write_engine, key) is None
    assert await last_used(write_engine, revoked) is None


async def test_a_key_used_without_the_scope_is_still_a_used_key(
    write_engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    """Its client still sends it: revoking it as unused would break that client."""
    key = await new_key(write_engine, "read")
    assert (await http.post("/v1/events", json={}, headers=bearer(key))).status_code == 403
    assert await last_used(write_engine, key) is not None


async def test_keys_list_shows_the_last_use(
    write_engine: AsyncEngine, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    used, unused = await new_key(write_engine, "read", "used"), await new_key(write_engine, "read", "unused")
    assert (await http.get(PLACE, headers=bearer(used))).status_code == 200
    stamp = await last_used(write_engine, used)
    assert stamp is not None
    url = write_engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        # The command runs its own event loop (asyncio.run): in a thread of its own, beside this test's.
        result = await asyncio.to_thread(CliRunner().invoke, cli, ["keys", "list"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert f"last used {stamp:%Y-%m-%d %H:%M}" in lines[split_key(used)]
    assert "never used" in lines[split_key(unused)]
