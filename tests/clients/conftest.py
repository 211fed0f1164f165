"""A real uvicorn on 127.0.0.1 serving the seeded test database, for the real OGC clients (GDAL, OWSLib,
ogctests) that talk HTTP and cannot use the ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import app_on
from tests.live_server import serving

TIMEOUT = 10  # seconds the server may take to start or stop


@pytest.fixture(scope="module")
async def live_server(engine: AsyncEngine) -> AsyncIterator[str]:
    """The app under uvicorn on 127.0.0.1 and a free port, reading the committed seeded database."""
    async with serving(app_on(engine), timeout=TIMEOUT) as url:
        yield url
