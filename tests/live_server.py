"""A real uvicorn for the tests that need HTTP itself (streams, browsers, GIS clients, faults): the ASGI transport
cannot stream Server-Sent Events, and outside clients cannot reach it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal


@asynccontextmanager
async def serving(
    app: Any, *, lifespan: Literal["on", "off"] = "off", timeout: float = 20
) -> AsyncIterator[str]:
    """`app` under uvicorn on 127.0.0.1 and a free port, in this event loop; its base URL while it runs.

    With lifespan "off" the app keeps the engine a test gave it (tests.conftest.app_on); "on" lets it make its
    own pools. A server that does not start or stop within `timeout` fails the test instead of hanging it."""
    import uvicorn

    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    from app.http import HTTP

    # The HTTP protocol `territory serve` runs (app/http.py).
    config = uvicorn.Config(
        app, lifespan=lifespan, log_level="warning", timeout_graceful_shutdown=2, http=HTTP
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listening]))
    async with asyncio.timeout(timeout):
        while not server.started:
            await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{listening.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout)
        listening.close()
