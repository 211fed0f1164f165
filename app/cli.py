"""The `territory` command: database, dataset, server, and quick questions from the shell."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

# Only what the command signatures need is imported here, so `--help` and a quick `who-held` start fast;
# each command imports the rest of the app (SQLAlchemy, the ingest pipeline, uvicorn) when it runs.
from app.paths import DATA_DIR
from app.vocabulary import EventFileFormat, Scope

if TYPE_CHECKING:
    from app.ingest.run import Report
    from app.ingest.targets import Target
    from app.services.seed import SeedReport

T = TypeVar("T")

# The cores this process may run on (a container's cpuset too, unlike os.cpu_count()).
CORES = len(os.sched_getaffinity(0))
Workers = Annotated[
    int,
    typer.Option(
        min=1,
        envvar="TERRITORY_WORKERS",
        help="Server processes; each has its own database pool, rate limiter and event-stream listener",
    ),
]

cli = typer.Typer(
    help="Territory: who controls which place when.", no_args_is_help=True, pretty_exceptions_enable=False
)
db_cli = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
keys_cli = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
cli.add_typer(keys_cli, name="keys")
import_cli = typer.Typer(help="Import another dataset's export (ACLED).", no_args_is_help=True)
cli.add_typer(import_cli, name="import")


def database_url() -> str:
    from app.db.engine import resolve_database_url
    from app.localdb import LocalDatabaseError
    from app.settings import get_settings

    try:
        return resolve_database_url(get_settings())
    except LocalDatabaseError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc


def with_connection(work: Callable[[Any], Awaitable[T]], *, transaction: bool = False) -> T:
    """Run `work(connection)` on a fresh engine; in one transaction when asked."""
    import asyncio

    from app.db.engine import create_engine
    from app.settings import get_settings

    async def run() -> T:
        engine = create_engine(database_url(), pool_size=1, pgbouncer=get_settings().pgbouncer)
        try:
            if transaction:
                async with engine.begin() as connection:
                    return await work(connection)
            async with engine.connect() as connection:
                return await work(connection)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@db_cli.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate the database up to REVISION (default: the latest)."""
    from app.db import migrate

    migrate.upgrade(database_url(), revision)


@db_cli.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base")]) -> None:
    """Migrate the database down to REVISION."""
    from app.db import migrate

    migrate.downgrade(database_url(), revision)


@cli.command("seed")
def seed_command(
    data: Annotated[Path, typer.Option(help="Folder holding the dataset files")] = DATA_DIR,
) -> None:
    """Load the article's dataset (idempotent: a second run changes nothing)."""
    from app.services.seed import DatasetError, seed

    try:
        report: SeedReport = with_connection(lambda c: seed(c, data), transaction=True)
    except DatasetError as exc:
        typer.secho(f"dataset error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    for line in report.lines():
        typer.echo(line)
    typer.echo("seeded" if report.changed else "nothing to change")


@cli.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Workers = CORES,
) -> None:
    """Run the API with uvicorn."""
    import uvicorn

    from app.http import HTTP
    from app.settings import get_settings

    settings = get_settings()
    # Resolve once here, so worker processes find the database without each starting the local cluster.
    os.environ["DATABASE_URL"] = database_url()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        log_config=log_config(settings.log_level),
        access_log=False,
        http=HTTP,  # uvicorn's httptools protocol, writing an answer's head and body at once (app/http.py)
        # Event streams never end by themselves: on shutdown, uvicorn would wait for their clients forever.
        # After this many seconds it cancels them (they close their connections; clients resume elsewhere).
        timeout_graceful_shutdown=5,
    )


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus the app's own logger (writes with their key, retried transactions, errors),
    which would otherwise go nowhere below WARNING."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["territory"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config


@cli.command("up")
def up(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Workers = CORES,
    serve_after: Annotated[
        bool,
        typer.Option("--serve/--no-serve", help="Serve afterwards (--no-serve: a deployment's migrate step)"),
    ] = True,
) -> None:
    """Migrate, seed (a database with no places yet) and serve: the API with the article's dataset."""
    from app.db.queries.status import is_seeded

    db_upgrade()
    # Seeding again would revert corrections made through the API to the seeded rows: only a new database is
    # seeded here; `territory seed` reloads data/ on purpose.
    if with_connection(is_seeded):
        typer.echo("database already seeded (run `territory seed` to reload data/)")
    else:
        seed_command(DATA_DIR)
    if serve_after:
        serve(host=host, port=port, workers=workers)


@keys_cli.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what uses the key, e.g. 'nightly-ingest'")],
    scope: Annotated[Scope, typer.Option(help="read, ingest (read + write events) or admin (everything)")],
) -> None:
    """Create a key and print it once: only its SHA-256 digest is stored."""
    from app.services import keys

    api_key, secret = with_connection(lambda c: keys.create_key(c, name=name, scope=scope), transaction=True)
    typer.echo(secret)
    typer.secho(
        f"key {api_key.prefix} ({api_key.name}, {api_key.scope}) created; this is the only time it is shown",
        err=True,
    )


@keys_cli.command("list")
def keys_list() -> None:
    """List the keys: prefix, name, scope, created, last used, revoked (never the secrets, which are not stored)."""
    from app.services import keys

    for k in with_connection(keys.list_keys):
        revoked = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
        used = f"last used {k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never used"
        typer.echo(
            f"{k.prefix}  {k.scope:<6}  {k.name}  created {k.created_at:%Y-%m-%d %H:%M}  {used}  {revoked}"
        )


@keys_cli.command("revoke")
def keys_revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix (from `keys list`) or the key")],
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from app.services import keys

    api_key = with_connection(lambda c: keys.revoke_key(c, prefix=prefix), transaction=True)
    if api_key is None:
        typer.secho(f"no key has the prefix '{prefix}'", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(f"key {api_key.prefix} ({api_key.name}) revoked")


@cli.command("ingest")
def ingest_command(
    file: Annotated[Path, typer.Argument(help="Events: .csv, .jsonl or .geojson (see data/README.md)")],
    file_format: Annotated[
        EventFileFormat | None,
        typer.Option("--format", help="csv, jsonl or geojson (default: from the file's extension)"),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(help="Send to the API at this URL, e.g. http://127.0.0.1:8000 (default: the database)"),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(envvar="TERRITORY_API_KEY", help="An ingest key, for --url (or set TERRITORY_API_KEY)"),
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option(min=1, max=100_000, help="Events per batch; each batch is recorded whole or not at all"),
    ] = 1000,
    dry_run: Annotated[
        bool,
        typer.Option(help="Check everything and write nothing (with --url: parse only, nothing is sent)"),
    ] = False,
    all_or_nothing: Annotated[
        bool,
        typer.Option(
            help="Direct mode: the whole file in one transaction; one rejected row and nothing stays"
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object")] = False,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for the API's answer to a batch")
    ] = 120,
) -> None:
    """Record the events of FILE: exit 0 when all landed, 1 when rows were rejected (listed with their line)."""
    import asyncio

    import orjson

    from app.db.engine import create_engine
    from app.ingest import formats
    from app.ingest.run import ingest
    from app.ingest.targets import Aborted, Database, Service
    from app.settings import get_settings

    if url is None and key is not None and "TERRITORY_API_KEY" not in os.environ:
        raise typer.BadParameter(
            "a key is for --url; direct mode writes to the database itself", param_hint="--key"
        )
    if url is not None and key is None and not dry_run:
        raise typer.BadParameter("--url needs an ingest key (or TERRITORY_API_KEY)", param_hint="--key")
    if url is not None and all_or_nothing:
        raise typer.BadParameter(
            "the API records each batch on its own; use direct mode", param_hint="--all-or-nothing"
        )
    try:
        event_file = formats.open_events(file, file_format)
    except formats.FileError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc

    async def run() -> Report:
        def run_on(target: Target | None) -> Awaitable[Report]:
            return ingest(
                event_file, target, batch_size=batch_size, dry_run=dry_run, all_or_nothing=all_or_nothing
            )

        if url is not None:
            if dry_run:
                return await run_on(None)
            async with Service(url, key or "", timeout=timeout) as service:
                return await run_on(service)
        engine = create_engine(database_url(), pool_size=1, pgbouncer=get_settings().pgbouncer)
        try:
            async with Database(engine, whole_file=dry_run or all_or_nothing) as database:
                return await run_on(database)
        finally:
            await engine.dispose()

    try:
        report = asyncio.run(run())
    except Aborted as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(exc.exit_code) from exc
    if as_json:
        typer.echo(orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        for line in [*report.problem_lines(), *report.note_lines(), report.summary()]:
            typer.echo(line)
    raise typer.Exit(report.exit_code)


@import_cli.command("acled")
def import_acled_command(
    file: Annotated[
        Path, typer.Argument(help="An ACLED export, CSV (as acleddata.com and its API write it)")
    ],
    actors: Annotated[
        Path, typer.Option(help="The mapping of ACLED actor names to our actor slugs (YAML)")
    ] = DATA_DIR / "acled" / "actors.yaml",
    retract: Annotated[
        bool,
        typer.Option(
            help="Retract the events of earlier imports this export no longer has, within its countries and "
            "dates (--no-retract for an export that is not a full one)"
        ),
    ] = True,
    dry_run: Annotated[bool, typer.Option(help="Check and count everything, record nothing")] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000, help="Events per statement batch")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object")] = False,
) -> None:
    """Record ACLED's territory changes as control events (one transaction): exit 0, or 1 when rows were refused
    (unmapped actors: listed), 2 for a file that is no ACLED export or a refused import (nothing recorded)."""
    import orjson

    from app.db.engine import create_engine
    from app.db.transaction import in_transaction
    from app.ingest import acled
    from app.ingest.formats import FileError
    from app.services.imports import ImportRejected, ImportReport, import_acled
    from app.services.keys import CommandLine

    try:
        export = acled.read_export(file, acled.load_mapping(actors))
    except FileError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc

    class DryRun(Exception):
        def __init__(self, report: ImportReport) -> None:
            self.report = report

    async def work(conn: Any) -> ImportReport:
        report = await import_acled(conn, export, key=CommandLine(), retract=retract, batch_size=batch_size)
        if dry_run:
            report.dry_run = True
            raise DryRun(report)  # rolls the transaction back
        return report

    async def run() -> ImportReport:
        engine = create_engine(database_url(), pool_size=1)
        try:
            return await in_transaction(engine, work)
        except DryRun as done:
            return done.report
        finally:
            await engine.dispose()

    import asyncio

    try:
        report = asyncio.run(run())
    except ImportRejected as exc:
        for r in exc.refused:
            typer.echo(f"line {r['line']}: {r['field']}: {r['reason']} ({r['event_id']})")
        typer.secho(f"import refused, nothing was recorded: {exc.detail}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        for line in report.lines():
            typer.echo(line)
    raise typer.Exit(report.exit_code)


@cli.command("who-held")
def who_held(
    place: Annotated[str, typer.Argument(help="Id, slug or any spelling: Tadmur, 'Deir ez-Zour', الباب")],
    on: Annotated[str, typer.Argument(metavar="DATE", help="YYYY-MM-DD")],
) -> None:
    """Print who held PLACE on DATE, with the period and its source."""
    from datetime import date

    import orjson

    from app.db.queries.control import control_at_json
    from app.errors import DomainError

    try:
        at = date.fromisoformat(on)
    except ValueError as exc:
        typer.secho(f"DATE must be YYYY-MM-DD, got '{on}'", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    try:
        body = with_connection(lambda c: control_at_json(c, ref=place, at=at))
    except DomainError as exc:
        typer.secho(exc.detail, fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    typer.echo(describe_control(orjson.loads(body)))


def describe_control(answer: dict[str, Any]) -> str:
    """One line: `Palmyra on 2016-12-20: Islamic State (since 2016-12-11, controlled; source: ...)`."""
    head = f"{answer['place']['name']} on {answer['at']}"
    if answer["status"] == "unknown":
        return f"{head}: unknown (no record covers this date)"
    parties = [p["name"] for p in answer["parties"]]
    if answer["status"] == "contested":
        who = "contested between " + " and ".join(parties)
    elif answer["status"] == "besieged":
        who = f"{answer['controller']['name']}, besieged by {' and '.join(parties)}"
    else:
        who = answer["controller"]["name"]
    period = f"since {answer['since']}" + (f", until {answer['until']}" if answer["until"] else "")
    if answer["certainty"] == "possible":
        period += f", date known to the {answer['event']['precision']}"
    sources = answer["event"]["sources"]
    source = sources[0]["title"] + (f" ({sources[0]['publisher']})" if sources[0].get("publisher") else "")
    return f"{head}: {who} ({period}, {answer['status']}; source: {source})"


def main() -> None:
    cli()
