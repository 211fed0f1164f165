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
# The app's own role: it owns the database and what the migrations create, and is no superuser, so that the
# connection slots PostgreSQL reserves for superusers stay free for an administrator when the app takes the rest.
APP_ROLE = "territory"
# Extensions the migrations need; PostGIS may only be created by a superuser, so it is created here beforehand
# (the migrations' CREATE EXTENSION IF NOT EXISTS then finds them).
EXTENSIONS = ("postgis", "btree_gist", "pg_trgm", "unaccent")
# A database created by the superuser before the app had a role of its own: what the migrations made (not what
# an extension owns) passes to the app's role, so that later migrations, run as that role, may alter it.
HAND_OVER = """
DO $$
DECLARE
    item record;
BEGIN
    FOR item IN
        SELECT c.oid::regclass AS name, c.relkind
        FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND NOT EXISTS (SELECT 1 FROM pg_depend AS d WHERE d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
        ORDER BY c.relkind = 'S'
    LOOP
        IF (SELECT relowner FROM pg_class WHERE oid = item.name) <> '{role}'::regrole THEN
            EXECUTE format('ALTER %s %s OWNER TO {role}',
                           CASE item.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                                             WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, item.name);
        END IF;
    END LOOP;
    FOR item IN
        SELECT p.oid::regprocedure AS name FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.proowner <> '{role}'::regrole
          AND NOT EXISTS (SELECT 1 FROM pg_depend AS d WHERE d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO {role}', item.name);
    END LOOP;
END $$
"""
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
        # As PostgreSQL binds: connections of a server just stopped, in TIME_WAIT, do not make the port taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
    role: str = APP_ROLE  # whom `url` connects as

    @property
    def url(self) -> str:
        """What the app connects with: its own role, no superuser."""
        return f"postgresql://{self.role}@127.0.0.1:{self.port}/{DATABASE_NAME}"

    @property
    def admin_url(self) -> str:
        """The superuser's: for creating roles, databases and extensions, and for an administrator."""
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
    def throwaway(cls, parent: Path, *, role: str = SUPERUSER) -> LocalCluster:
        """A cluster for one test session, in a folder the caller deletes afterwards. Its `url` is the
        superuser's unless told otherwise: the tests create a database per test, and extensions in each."""
        return cls(parent / "pg", free_loopback_port(), dict(THROWAWAY_SETTINGS), role)

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

    def ensure_running_as_admin(self) -> str:
        """As `ensure_running`, answering the superuser's URL (for tools that create databases)."""
        self.ensure_running()
        return self.admin_url

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
            server_log = self.datadir / "server.log"
            log = server_log.read_text(errors="replace")[-2000:] if server_log.exists() else ""
            raise LocalDatabaseError(f"PostgreSQL did not start:\n{result.stderr}\n{log}")
        _log(f"PostgreSQL is running on 127.0.0.1:{self.port} ({self.datadir})")

    def _psql(self, bindir: Path, database: str, sql: str) -> subprocess.CompletedProcess[str]:
        return self._run(
            [
                str(bindir / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-tAc",
                sql,
            ]
        )

    def _create_database(self, bindir: Path) -> None:
        """The app's role and its database, with the extensions the migrations need (idempotent)."""
        role = self._psql(bindir, "postgres", f"SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}'")
        if role.stdout.strip() != "1":
            self._check(self._psql(bindir, "postgres", f"CREATE ROLE {APP_ROLE} LOGIN"), "CREATE ROLE")
        exists = self._psql(
            bindir, "postgres", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'"
        )
        if exists.stdout.strip() != "1":
            self._check(
                self._psql(bindir, "postgres", f"CREATE DATABASE {DATABASE_NAME} OWNER {APP_ROLE}"),
                "CREATE DATABASE",
            )
        owned = self._psql(
            bindir,
            "postgres",
            f"SELECT pg_get_userbyid(datdba) = '{APP_ROLE}' FROM pg_database WHERE datname = '{DATABASE_NAME}'",
        )
        extensions = "; ".join(f"CREATE EXTENSION IF NOT EXISTS {name}" for name in EXTENSIONS)
        self._check(self._psql(bindir, DATABASE_NAME, extensions), "CREATE EXTENSION")
        if owned.stdout.strip() != "t":
            _log(f"handing the database {DATABASE_NAME} over to the role {APP_ROLE}")
            handover = (
                f"ALTER DATABASE {DATABASE_NAME} OWNER TO {APP_ROLE}; "
                f"ALTER SCHEMA public OWNER TO {APP_ROLE}; " + HAND_OVER.format(role=APP_ROLE)
            )
            self._check(self._psql(bindir, DATABASE_NAME, handover), "handing the database over")

    @staticmethod
    def _check(result: subprocess.CompletedProcess[str], what: str) -> None:
        if result.returncode != 0:
            raise LocalDatabaseError(f"{what} failed: {result.stderr}")

    def start(self) -> None:
        """Start the server of a cluster that exists (a stopped one, or a standby made by `standby`)."""
        if not (self.datadir / "PG_VERSION").exists():
            raise LocalDatabaseError(
                f"No PostgreSQL cluster in {self.datadir}: ensure_running() (`territory up`) creates one."
            )
        if not self.is_running():
            self._start(postgres_bindir())

    def standby(self, parent: Path, **settings: str) -> LocalCluster:
        """A streaming replica of this running cluster, in `parent`/replica on a port of its own, started:
        `pg_basebackup -R` copies the cluster and writes how to follow it (the trust rules of initdb let the
        superuser replicate over the loopback). `settings` go to the replica's server (recovery_min_apply_delay)."""
        replica = LocalCluster(
            parent / "replica", free_loopback_port(), {**self.settings, **settings}, self.role
        )
        parent.mkdir(parents=True, exist_ok=True)
        if _is_root():
            shutil.chown(parent, SUPERUSER, SUPERUSER)
        command = ["pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER]
        command += ["-D", str(replica.datadir), "-R", "-X", "stream", "-c", "fast"]
        self._check(self._run([str(postgres_bindir() / command[0]), *command[1:]]), "pg_basebackup")
        replica.start()
        return replica

    def stop(self) -> None:
        if self.is_running():
            self._run(
                [str(postgres_bindir() / "pg_ctl"), "stop", "-D", str(self.datadir), "-m", "fast", "-w"]
            )
