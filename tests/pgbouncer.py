"""A real PgBouncer (Debian's `pgbouncer`, 1.18) for the tests, in transaction pooling, on 127.0.0.1 and a free port,
in front of a PostgreSQL server; as root it runs as the `postgres` user (PgBouncer refuses to run as root)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import make_url

from app.localdb import SUPERUSER, free_loopback_port

# Few server connections, so that the clients' transactions really take turns on them.
POOL_SIZE = 2


def ini(server_host: str, server_port: int, port: int, folder: Path) -> str:
    return f"""\
[databases]
; any database name goes to the same server, under the client's own user name
* = host={server_host} port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/userlist.txt
pool_mode = transaction
default_pool_size = {POOL_SIZE}
max_client_conn = 500
logfile = {folder}/pgbouncer.log
pidfile = {folder}/pgbouncer.pid
"""


@contextmanager
def pgbouncer(server_url: str, *, timeout: float = 20) -> Iterator[str]:
    """PgBouncer in front of the server of `server_url`; yields that URL with PgBouncer's host and port instead."""
    if shutil.which("pgbouncer") is None:
        raise RuntimeError("pgbouncer is not installed: apt-get install pgbouncer (listed in .ci/run)")
    server = make_url(server_url)
    folder = Path(tempfile.mkdtemp(prefix="territory-pgbouncer-"))
    port = free_loopback_port()
    (folder / "pgbouncer.ini").write_text(ini(server.host or "127.0.0.1", server.port or 5432, port, folder))
    (folder / "userlist.txt").write_text(f'"{server.username}" ""\n')
    as_root = os.geteuid() == 0
    if as_root:
        for path in (folder, *folder.iterdir()):
            shutil.chown(path, SUPERUSER, SUPERUSER)
    process = subprocess.Popen(
        ["pgbouncer", str(folder / "pgbouncer.ini")],
        user=SUPERUSER if as_root else None,
        group=SUPERUSER if as_root else None,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (
                        (folder / "pgbouncer.log").read_text(errors="replace")
                        if (folder / "pgbouncer.log").exists()
                        else ""
                    )
                    raise RuntimeError(f"pgbouncer did not start:\n{log[-2000:]}") from None
                time.sleep(0.05)
        yield server.set(port=port, host="127.0.0.1").render_as_string(hide_password=False)
    finally:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)
