"""A real uvicorn on 127.0.0.1 serving the seeded test database, for the real OGC clients (GDAL, OWSLib,
ogctests) that talk HTTP and cannot use the ASGI transport."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import app_on

TIMEOUT = 10  # seconds the server may take to start or stop


@pytest.fixture(scope="module")
async def live_server(engine: AsyncEngine) -> AsyncIterator[str]:
    """The app under uvicorn on 127.0.0.1 and a free port, reading the committed seeded database."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    # lifespan off: the app keeps the test's engine instead of creating its own.
    config = uvicorn.Config(app_on(engine), lifespan="off", log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listening]))
    async with asyncio.timeout(TIMEOUT):
        while not server.started:
            await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, TIMEOUT)
        listening.close()
