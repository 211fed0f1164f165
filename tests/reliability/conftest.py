"""Faults need a real server and, for stopping PostgreSQL or taking all its connections, a cluster of their own:
the session's shared cluster is never disturbed."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.db import migrate
from app.localdb import APP_ROLE, LocalCluster
from app.main import create_app
from app.settings import Settings

TIMEOUT = 20  # seconds any one wait may take: a broken server fails the test instead of hanging it
# Connection slots of the fault cluster: few, so that taking them all is quick.
FAULT_MAX_CONNECTIONS = 30


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
