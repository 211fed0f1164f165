"""The deployment (compose.yaml, deploy/): what can run without Docker does. The caching proxy's configuration runs
in a real nginx in front of a real server (ETag revalidation, keyed requests past the cache); compose's services
refer to files that exist and to settings the app has; PgBouncer's file pools transactions."""

from __future__ import annotations

import asyncio
import configparser
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncEngine

from app.localdb import SUPERUSER, free_loopback_port
from app.paths import PROJECT_ROOT
from app.settings import Settings
from tests.conftest import app_on, new_key
from tests.live_server import serving

COMPOSE = PROJECT_ROOT / "compose.yaml"
NGINX_CONF = PROJECT_ROOT / "deploy" / "nginx" / "territory.conf"
PGBOUNCER_INI = PROJECT_ROOT / "deploy" / "pgbouncer" / "pgbouncer.ini"
# Read by the `territory` command rather than the app (app/cli.py: --workers).
COMMAND_OPTIONS = {"workers"}


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def test_compose_services_refer_to_files_that_exist_and_services_that_are_defined() -> None:
    services = compose()["services"]
    assert {"db", "replica", "pgbouncer", "migrate", "api1", "api2", "proxy"} <= set(services)
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (PROJECT_ROOT / source).is_file(), f"{name}: {source} does not exist"
        build = service.get("build")
        if build:
            assert (PROJECT_ROOT / build / "Dockerfile").is_file(), f"{name}: no Dockerfile in {build}"
        assert set(service.get("depends_on", {})) <= set(services), name
    upstreams = re.findall(r"^\s*server (\w+):8000", NGINX_CONF.read_text(), re.MULTILINE)
    assert set(upstreams) == {"api1", "api2"}


def test_the_api_containers_settings_are_the_apps() -> None:
    environment = compose()["services"]["api1"]["environment"]
    fields = set(Settings.model_fields) | COMMAND_OPTIONS
    for name in environment:
        if name.startswith("TERRITORY_"):
            assert name.removeprefix("TERRITORY_").lower() in fields, f"{name} is no setting of the app"
    settings = Settings(
        **{
            k.removeprefix("TERRITORY_").lower(): v
            for k, v in environment.items()
            if k.startswith("TERRITORY_") and k.removeprefix("TERRITORY_").lower() in Settings.model_fields
        },
        database_url=environment["DATABASE_URL"],
    )
    assert settings.pgbouncer and "@db:5432/" in (settings.listen_database_url or "")
    assert "@pgbouncer:6432/" in environment["DATABASE_URL"]
    # The migration goes straight to the primary: DDL and the seed's transaction need no pooler.
    assert "@db:5432/" in compose()["services"]["migrate"]["environment"]["DATABASE_URL"]


def test_pgbouncer_pools_transactions_to_the_primary_and_the_replica() -> None:
    ini = configparser.ConfigParser()
    ini.read_string(PGBOUNCER_INI.read_text().replace(";", "#"))
    assert ini["pgbouncer"]["pool_mode"] == "transaction"
    assert (
        "host=db " in ini["databases"]["territory"]
        and "host=replica " in ini["databases"]["territory_replica"]
    )
    replica_urls = compose()["services"]["api1"]["environment"]["TERRITORY_READ_DATABASE_URLS"]
    assert replica_urls.endswith("@pgbouncer:6432/territory_replica")


@contextmanager
def nginx(upstream_port: int) -> Iterator[str]:
    """deploy/nginx/territory.conf under a real nginx on 127.0.0.1, its upstreams pointed at one local server."""
    if shutil.which("nginx") is None:
        raise RuntimeError("nginx is not installed: apt-get install nginx (listed in .ci/run)")
    folder = Path(tempfile.mkdtemp(prefix="territory-nginx-"))
    port = free_loopback_port()
    conf = NGINX_CONF.read_text()
    conf = re.sub(r"server (api\d):8000", f"server 127.0.0.1:{upstream_port}", conf)
    conf = conf.replace("/var/cache/nginx/territory", str(folder / "cache")).replace(
        "listen 80;", f"listen 127.0.0.1:{port};"
    )
    (folder / "territory.conf").write_text(conf)
    (folder / "nginx.conf").write_text(
        f"""daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{}}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/territory.conf;
}}
"""
    )
    as_root = os.geteuid() == 0
    if as_root:
        shutil.chown(folder, SUPERUSER, SUPERUSER)
        for path in folder.iterdir():
            shutil.chown(path, SUPERUSER, SUPERUSER)
    command = ["nginx", "-p", str(folder), "-c", str(folder / "nginx.conf")]
    run_as: dict[str, Any] = {"user": SUPERUSER, "group": SUPERUSER} if as_root else {}
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, **run_as)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **run_as)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((folder / "error.log").read_text(errors="replace")) from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(20)
        shutil.rmtree(folder, ignore_errors=True)


# Seconds the proxy may reuse an answer: the HIT and the 304 below come within it, even on a loaded machine.
MAX_AGE = 3


@pytest.fixture
async def proxied(write_engine: AsyncEngine) -> AsyncIterator[tuple[str, str]]:
    """The proxy in front of a live server whose answers may be reused for MAX_AGE seconds: (proxy URL, server URL)."""
    async with serving(app_on(write_engine, cache_max_age=MAX_AGE)) as server:
        with nginx(int(server.rsplit(":", 1)[1])) as proxy:
            yield proxy, server


async def test_the_proxy_keeps_answers_then_revalidates_them_by_etag(
    proxied: tuple[str, str], write_engine: AsyncEngine
) -> None:
    proxy, _ = proxied
    path = "/v1/control?at=2016-12-20"
    async with httpx.AsyncClient(base_url=proxy, timeout=20) as http:
        first = await http.get(path)
        assert (first.status_code, first.headers["x-cache-status"]) == (200, "MISS")
        again = await http.get(path)
        assert again.headers["x-cache-status"] == "HIT" and again.content == first.content
        # A dashboard that has the answer: 304 from the cache, no body.
        polled = await http.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert (polled.status_code, polled.headers["x-cache-status"]) == (304, "HIT")
        assert polled.content == b""
        # Past max-age the proxy asks the API with the ETag; unchanged, the API's 304 refreshes the copy. (nginx
        # keeps time in whole seconds: a copy of max-age=N may be fresh for up to N + 1.)
        await asyncio.sleep(MAX_AGE + 1.5)
        refreshed = await http.get(path)
        assert refreshed.headers["x-cache-status"] == "REVALIDATED" and refreshed.content == first.content
        # A request with a key goes past the cache, both ways.
        key = {"Authorization": f"Bearer {await new_key(write_engine, 'read')}"}
        keyed = await http.get(path, headers=key)
        assert keyed.status_code == 200 and keyed.headers["x-cache-status"] == "BYPASS"
