"""Faults need a real server and, for stopping PostgreSQL or taking all its connections, a cluster of their own:
the session's shared cluster is never disturbed."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from app.db import migrate
from app.localdb import APP_ROLE, LocalCluster
from app.main import create_app
from app.settings import Settings

TIMEOUT = 20  # seconds any one wait may take: a broken server fails the test instead of hanging it
# Connection slots of the fault cluster: few, so that taking them all is quick.
FAULT_MAX_CONNECTIONS = 30


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """The app under uvicorn on 127.0.0.1 and a free port, with its lifespan (its own pools), in this loop."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="warning", timeout_graceful_shutdown=2)
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


def app_for(database_url: str, **settings: Any) -> Any:
    return create_app(Settings(database_url=database_url, **settings))


@pytest.fixture(scope="session")
def fault_cluster() -> Iterator[LocalCluster]:
    """A second throwaway cluster, migrated (no seed: the tests read the actors and events lists). As `territory
    up`'s: the app's role is no superuser, and runs the migrations too."""
    folder = Path(tempfile.mkdtemp(prefix="territory-faults-"))
    folder.chmod(0o755)
    cluster = LocalCluster.throwaway(folder, role=APP_ROLE)
    cluster.settings["max_connections"] = str(FAULT_MAX_CONNECTIONS)
    try:
        migrate.upgrade(cluster.ensure_running())
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
