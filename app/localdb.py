"""A private PostGIS cluster for development and tests, used when no DATABASE_URL is configured.

The cluster lives under the project's `.data/pg` (git-ignored) and listens on a free loopback port. PostgreSQL
refuses to run as root, so as root every server binary runs as the `postgres` user through `runuser`. When that
user cannot reach the project folder (a checkout under /root, or a mode-700 temporary folder), the cluster moves
to a folder of its own under the postgres user's home instead, and `.data/cluster.json` records where it is.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.paths import PROJECT_ROOT

DATABASE_NAME = "territory"
SUPERUSER = "postgres"
# Settings for a throwaway test cluster: durability is worth nothing there, speed is.
THROWAWAY_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class LocalDatabaseError(RuntimeError):
    """The local cluster cannot be set up; the message says what to install or configure."""


def _log(message: str) -> None:
    print(f"[territory] {message}", flush=True)


def _is_root() -> bool:
    return os.geteuid() == 0


def postgres_bindir() -> Path:
    """The newest installed PostgreSQL server's bin folder (Debian layout), or the one on PATH."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if candidates:
        return candidates[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise LocalDatabaseError(
        "No PostgreSQL server is installed. Install one (Debian: apt-get install postgresql-15 "
        "postgresql-15-postgis-3) or set DATABASE_URL to a PostGIS database."
    )


def server_major_version(bindir: Path) -> str:
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split()[-1].split(".")[0]


def _postgis_installed(major: str) -> bool:
    return any(Path("/usr/share/postgresql", major, "extension").glob("postgis.control"))


def ensure_postgis(major: str) -> None:
    """Install the PostGIS package matching the server when it is missing and we may (root with apt)."""
    if _postgis_installed(major):
        return
    package = f"postgresql-{major}-postgis-3"
    if not (_is_root() and shutil.which("apt-get")):
        raise LocalDatabaseError(
            f"PostGIS is not installed for PostgreSQL {major}. Install it (Debian: sudo apt-get install "
            f"{package}) or set DATABASE_URL to a PostGIS database."
        )
    _log(f"installing {package} with apt-get (PostGIS is missing)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, env=env)
    except subprocess.CalledProcessError as exc:
        raise LocalDatabaseError(
            f"Installing {package} failed ({exc}). Install it by hand or set DATABASE_URL."
        ) from exc
    if not _postgis_installed(major):
        raise LocalDatabaseError(f"{package} installed but postgis.control is still missing.")


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _as_server_user(args: Sequence[str]) -> list[str]:
    return ["runuser", "-u", SUPERUSER, "--", *args] if _is_root() else list(args)


def _server_user_can_reach(path: Path) -> bool:
    """Whether the postgres user may traverse every folder down to `path` (which may not exist yet)."""
    if not _is_root():
        return True
    existing = path
    while not existing.exists():
        existing = existing.parent
    probe = subprocess.run(_as_server_user(["test", "-x", str(existing)]), capture_output=True)
    return probe.returncode == 0


@dataclass
class LocalCluster:
    """One private cluster: its data folder and port. Create with `LocalCluster.for_project()` or `throwaway()`."""

    datadir: Path
    port: int
    settings: dict[str, str]

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE_NAME}"

    @classmethod
    def for_project(cls, root: Path = PROJECT_ROOT) -> LocalCluster:
        """The project's own cluster, reused across runs; its location and port are kept in .data/cluster.json."""
        state_file = root / ".data" / "cluster.json"
        if state_file.exists():
            state = json.loads(state_file.read_text())
            return cls(Path(state["datadir"]), int(state["port"]), {})
        datadir = root / ".data" / "pg"
        if not _server_user_can_reach(datadir):
            digest = hashlib.sha1(str(root).encode()).hexdigest()[:12]
            home = Path(pwd.getpwnam(SUPERUSER).pw_dir)
            datadir = home / "territory" / digest
            _log(f"the postgres user cannot reach {root}; keeping the cluster in {datadir}")
        cluster = cls(datadir, free_loopback_port(), {})
        state_file.parent.mkdir(parents=True, exist_ok=True)
        state_file.write_text(json.dumps({"datadir": str(datadir), "port": cluster.port}, indent=2))
        return cluster

    @classmethod
    def throwaway(cls, parent: Path) -> LocalCluster:
        """A cluster for one test session, in a folder the caller deletes afterwards."""
        return cls(parent / "pg", free_loopback_port(), dict(THROWAWAY_SETTINGS))

    def _run(self, args: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(_as_server_user(args), text=True, capture_output=True, **kwargs)  # type: ignore[call-overload, no-any-return]

    def is_running(self) -> bool:
        if not (self.datadir / "PG_VERSION").exists():
            return False
        status = self._run([str(postgres_bindir() / "pg_ctl"), "status", "-D", str(self.datadir)])
        return status.returncode == 0

    def ensure_running(self) -> str:
        """Install PostGIS if needed, create the cluster on first use, start it, create the database."""
        bindir = postgres_bindir()
        ensure_postgis(server_major_version(bindir))
        if not (self.datadir / "PG_VERSION").exists():
            self._initdb(bindir)
        if not self.is_running():
            self._start(bindir)
        self._create_database(bindir)
        return self.url

    def _initdb(self, bindir: Path) -> None:
        _log(f"creating a PostgreSQL cluster in {self.datadir}")
        self.datadir.mkdir(parents=True, exist_ok=True)
        if _is_root():
            shutil.chown(self.datadir, SUPERUSER, SUPERUSER)
        self.datadir.chmod(0o700)
        result = self._run(
            [
                str(bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]
        )
        if result.returncode != 0:
            raise LocalDatabaseError(f"initdb failed:\n{result.stdout}\n{result.stderr}")

    def _start(self, bindir: Path) -> None:
        if not _port_is_free(self.port):
            raise LocalDatabaseError(
                f"Port {self.port} on 127.0.0.1 is taken by another program. Stop it, or delete "
                f"{PROJECT_ROOT / '.data' / 'cluster.json'} to let the project pick a new port."
            )
        options = [f"-p {self.port}", "-c listen_addresses=127.0.0.1", f"-k {self.datadir}"]
        options += [f"-c {name}={value}" for name, value in self.settings.items()]
        result = self._run(
            [
                str(bindir / "pg_ctl"),
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(self.datadir),
                "-l",
                str(self.datadir / "server.log"),
                "-o",
                " ".join(options),
            ]
        )
        if result.returncode != 0:
            log = (self.datadir / "server.log").read_text(errors="replace")[-2000:]
            raise LocalDatabaseError(f"PostgreSQL did not start:\n{result.stderr}\n{log}")
        _log(f"PostgreSQL is running on 127.0.0.1:{self.port} ({self.datadir})")

    def _create_database(self, bindir: Path) -> None:
        psql = [
            str(bindir / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-d",
            "postgres",
            "-tAc",
        ]
        exists = self._run([*psql, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'"])
        if exists.stdout.strip() != "1":
            created = self._run([*psql, f"CREATE DATABASE {DATABASE_NAME}"])
            if created.returncode != 0:
                raise LocalDatabaseError(f"CREATE DATABASE failed: {created.stderr}")

    def stop(self) -> None:
        if self.is_running():
            self._run(
                [str(postgres_bindir() / "pg_ctl"), "stop", "-D", str(self.datadir), "-m", "fast", "-w"]
            )
