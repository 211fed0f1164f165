"""The database's functions, triggers and views: one readable source each (`app/db/sql/<name>.sql`).

A source holds the definition a database at head must have, written so it can be run again over itself
(`CREATE OR REPLACE FUNCTION`, `CREATE OR REPLACE TRIGGER`, `CREATE OR REPLACE VIEW`); a function and the
triggers that call it share a file. `INSTALL_ORDER` lists them in the order they are installed.

The sources are never installed directly. A migration installs a *snapshot* of them, a copy kept with that
revision in `migrations/sql/<revision>/` and never edited afterwards, so an old revision always installs what
it installed then, and upgrade and downgrade stay exact. To change a function, trigger or view:

1. Edit (or add, and list in `INSTALL_ORDER`) its source here.
2. Make a revision whose `down_revision` is the current head: `migrations/versions/<date>_<NNNN>_<slug>.py`
   with `revision: str = "<NNNN>_<slug>"` (see the existing ones).
3. `python -m app.db.sql snapshot <NNNN>_<slug>` copies the sources into `migrations/sql/<NNNN>_<slug>/`
   (with a SHA256SUMS file giving their order and checksums) and prints the revision's lines: `upgrade()`
   calls `install_snapshot("<NNNN>_<slug>")`, `downgrade()` calls `install_snapshot(<the previous snapshot>)`.
4. Write out beside them what `CREATE OR REPLACE` cannot do. Tables, columns and indexes are ordinary Alembic
   operations, before the install when a source needs them (a trigger-maintained table: create it, install,
   then fill it). An object the sources no longer have, or a function whose arguments or result type change,
   is dropped (`DROP FUNCTION ...`, `DROP TRIGGER ... ON ...`) before the install; the downgrade installs the
   previous snapshot and then drops what the revision added (its triggers, functions, then tables).
5. Until the revision is on main you may re-take its snapshot (`snapshot --replace`); after that, never (once
   it lands, add the migration file's checksum to LANDED_MIGRATIONS in tests/db/test_sql_sources.py).

tests/db/test_sql_sources.py fails when a database at head holds anything other than these sources (a source
edited without a revision, a function written inline in a migration), when the newest snapshot differs from
them, or when a snapshot or a landed migration was edited; tests/db/test_upgrade_from_0004.py checks that an
upgraded database equals a fresh one. A source must be valid SQL for psql too: statements end with `;`.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

from sqlalchemy import Connection

from app.paths import MIGRATIONS_DIR

SOURCES_DIR = Path(__file__).resolve().parent
SNAPSHOTS_DIR = MIGRATIONS_DIR / "sql"
MANIFEST = "SHA256SUMS"

# Install order: a function before the triggers and views that use it. (plpgsql bodies are resolved when they
# run, SQL-language ones when they are created.)
INSTALL_ORDER: tuple[str, ...] = (
    "territory_normalize",
    "territory_name_forms",
    "territory_prepare_geometry",
    "places_recorded_since",
    "derive_control_periods",
    "recompute_control_periods",
    "derive_place_territories",
    "refresh_place_territories",
    "derive_place_states",
    "refresh_place_states",
    "control_period_changed",
    "control_event_precision_changed",
    "place_changed",
    "refresh_place_zooms",
    "territory_changed",
    "control_event_changed",
    "control_event_source_changed",
    "record_event_versions",
    "control_event_version_notify",
    "record_versions",
    "assign_feed_positions",
    "data_version",
    "admit_api_key",
)


class SnapshotError(RuntimeError):
    """A snapshot is missing, incomplete, or its files no longer match the checksums taken with it."""


def read_sources() -> dict[str, str]:
    """The current sources, name -> text, in install order."""
    on_disk = {path.stem for path in SOURCES_DIR.glob("*.sql")}
    if unlisted := on_disk - set(INSTALL_ORDER):
        raise SnapshotError(f"{sorted(unlisted)} in {SOURCES_DIR} are not listed in INSTALL_ORDER")
    if missing := set(INSTALL_ORDER) - on_disk:
        raise SnapshotError(f"INSTALL_ORDER lists {sorted(missing)}, which have no file in {SOURCES_DIR}")
    return {name: (SOURCES_DIR / f"{name}.sql").read_text(encoding="utf-8") for name in INSTALL_ORDER}


def snapshot_dir(revision: str) -> Path:
    return SNAPSHOTS_DIR / revision


def has_snapshot(revision: str) -> bool:
    return (snapshot_dir(revision) / MANIFEST).is_file()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def read_snapshot(revision: str) -> dict[str, str]:
    """A revision's snapshot, name -> text, in its install order (checked against its checksums)."""
    folder = snapshot_dir(revision)
    if not has_snapshot(revision):
        raise SnapshotError(f"revision {revision} has no snapshot ({folder / MANIFEST} is missing)")
    scripts: dict[str, str] = {}
    for line in (folder / MANIFEST).read_text(encoding="utf-8").splitlines():
        digest, file_name = line.split(maxsplit=1)
        text = (folder / file_name).read_text(encoding="utf-8")
        if _digest(text) != digest:
            raise SnapshotError(
                f"{folder / file_name} differs from the checksum taken with it: a snapshot is never edited; "
                "change app/db/sql and make a new revision"
            )
        scripts[Path(file_name).stem] = text
    return scripts


def take_snapshot(revision: str, *, replace: bool = False) -> Path:
    """Copy the current sources into migrations/sql/<revision>/, with their order and checksums."""
    folder = snapshot_dir(revision)
    if folder.exists():
        if not replace:
            raise SnapshotError(
                f"{folder} exists; a snapshot is never edited once its revision is on main "
                "(pass --replace only for a revision that has not landed yet)"
            )
        shutil.rmtree(folder)
    sources = read_sources()
    folder.mkdir(parents=True)
    for name, text in sources.items():
        (folder / f"{name}.sql").write_text(text, encoding="utf-8")
    # sha256sum's format, so `sha256sum -c SHA256SUMS` checks a snapshot by hand too.
    (folder / MANIFEST).write_text(
        "".join(f"{_digest(text)}  {name}.sql\n" for name, text in sources.items()), encoding="utf-8"
    )
    return folder


def newest_snapshot(*, excluding: str | None = None) -> str:
    """The newest revision of the chain that has a snapshot (the one a database at head installed last)."""
    from app.db.migrate import revisions_newest_first  # Alembic's script directory, only when asked

    for revision in revisions_newest_first():
        if revision != excluding and has_snapshot(revision):
            return revision
    raise SnapshotError(f"no revision of the chain has a snapshot under {SNAPSHOTS_DIR}")


# What a statement cannot end inside: comments, quoted strings and identifiers, dollar-quoted bodies.
_TOKEN = re.compile(
    r"""--[^\n]*
      | /\*.*?\*/
      | '(?:[^']|'')*'
      | "(?:[^"]|"")*"
      | \$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?\$(?P=tag)\$
      | ;
      | [^-/'"$;]+
      | .""",
    re.DOTALL | re.VERBOSE,
)


def statements(script: str) -> Iterator[str]:
    """The statements of a script, split at semicolons as psql splits them (comments-only remainders dropped)."""
    statement: list[str] = []
    has_code = False
    for match in _TOKEN.finditer(script):
        token = match.group()
        if token == ";":
            if has_code:
                yield "".join(statement).strip()
            statement, has_code = [], False
            continue
        statement.append(token)
        has_code = has_code or not (token.isspace() or token.startswith(("--", "/*")))
    if has_code:
        yield "".join(statement).strip()


def install(connection: Connection, scripts: Mapping[str, str]) -> None:
    """Run scripts statement by statement (asyncpg prepares each, and a prepared statement holds one)."""
    for script in scripts.values():
        for statement in statements(script):
            # exec_driver_sql: the text goes to the server as written, with no bind parameters parsed from it.
            connection.exec_driver_sql(statement)


def install_snapshot(revision: str) -> None:
    """From a migration's upgrade() or downgrade(): install the snapshot kept with `revision`."""
    from alembic import op  # only inside a migration; the rest of this module needs no Alembic context

    install(op.get_bind(), read_snapshot(revision))
