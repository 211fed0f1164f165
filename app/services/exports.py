"""Writing exports: rows from a server-side cursor become CSV, NDJSON, GeoJSON Text Sequences, FlatGeobuf or
GeoPackage bytes, a batch at a time, so the app's memory stays flat whatever the export's size.

Text formats stream as they are read. The binary formats are written by GDAL's own drivers (pyogrio, whose
wheels bundle GDAL: the reference writers of both formats, with no system library to install), a batch at a
time appended to a temporary GeoPackage (an SQLite database, complete only when written), copied to FlatGeobuf
when that is asked, then streamed from the file. FlatGeobuf could be built by PostGIS (ST_AsFlatGeobuf), but
PostGIS 3.3 (Debian 12's) encodes a NULL property followed by other columns, and any date, in bytes GDAL
refuses to read; and GDAL rewrites a whole FlatGeobuf to append to it. Every table of one export
is read in one REPEATABLE READ transaction, so the tables of a dataset agree with each other.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import tempfile
from collections.abc import AsyncGenerator, Sequence
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import IO, Any

import anyio.to_thread
import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.api.formats import CSV, FLATGEOBUF, GEOJSON_SEQ, GEOPACKAGE, NDJSON
from app.db.queries.exports import Rows, features, table_with_wkb, table_with_wkt
from app.db.queries.streams import stream

# GeoPackage 1.2: what every GDAL since 2.2 (and so every QGIS in use) reads without a warning.
GEOPACKAGE_OPTIONS = {"VERSION": "1.2"}
# FlatGeobuf without a spatial index: written in one pass in fid order, and a reader streams it from the start.
FLATGEOBUF_OPTIONS = {"SPATIAL_INDEX": "NO"}
FILE_CHUNK = 1 << 16
# Rows per write into a spooled file: GDAL opens the file for each, so fewer, larger batches.
SPOOL_BATCH = 20_000
EXPORT_TIMEOUTS = text(
    """SELECT set_config('statement_timeout', :ms, true),
              set_config('idle_in_transaction_session_timeout', :ms, true)"""
)


@dataclass
class Export:
    """An export ready to send: its bytes (read once), and an ETag when one was cheap to know beforehand."""

    chunks: AsyncGenerator[bytes, None]
    etag: str | None = None


async def open_snapshot(engine: AsyncEngine, stack: AsyncExitStack, timeout: float) -> AsyncConnection:
    """A connection of the read pool in a read-only REPEATABLE READ transaction (a cursor lives only in a
    transaction; one snapshot for every table), closed with `stack`. The pool's timeouts are for one-shot
    reads: an export's statement runs, and its transaction idles while a client downloads, up to `timeout`."""
    conn = await stack.enter_async_context(engine.connect())
    conn = await conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    await stack.enter_async_context(conn.begin())
    await conn.execute(EXPORT_TIMEOUTS, {"ms": str(max(1, round(timeout * 1000)))})
    return conn


async def export(
    engine: AsyncEngine, media_type: str, tables: Sequence[Rows], *, timeout: float, batch: int
) -> Export:
    """The export of `tables` as `media_type`; one table except for a GeoPackage (one layer each); the text
    formats read `batch` rows per round trip."""
    stack = AsyncExitStack()
    try:
        conn = await open_snapshot(engine, stack, timeout)
        if media_type in (GEOPACKAGE, FLATGEOBUF):
            return await spooled(conn, tables, stack, flatgeobuf=media_type == FLATGEOBUF)
        (table,) = tables
        if media_type == CSV:
            return Export(closing(csv_chunks(conn, table, batch), stack))
        separator = b"\x1e" if media_type == GEOJSON_SEQ else b""
        assert media_type in (NDJSON, GEOJSON_SEQ)
        return Export(closing(feature_lines(conn, table, separator, batch), stack))
    except BaseException:
        await stack.aclose()
        raise


async def closing(chunks: AsyncGenerator[bytes, None], stack: AsyncExitStack) -> AsyncGenerator[bytes, None]:
    """The chunks, then the connection and files behind them released (also when the client goes away: the
    chunks, and the cursor they read, are closed first)."""
    try:
        async with aclosing(chunks):
            async for chunk in chunks:
                yield chunk
    finally:
        await stack.aclose()


async def feature_lines(
    conn: AsyncConnection, table: Rows, separator: bytes, batch: int
) -> AsyncGenerator[bytes, None]:
    """One GeoJSON Feature a line (NDJSON); with the RS separator, RFC 8142 GeoJSON Text Sequences."""
    async with aclosing(stream(conn, features(table), table.params, batch=batch)) as batches:
        async for rows in batches:
            yield b"".join(separator + row.feature.encode() + b"\n" for row in rows)


def csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return value


async def csv_chunks(conn: AsyncConnection, table: Rows, batch: int) -> AsyncGenerator[bytes, None]:
    """RFC 4180 CSV in UTF-8: one header row, CRLF line ends, fields quoted when they need it; NULL is empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    statement = table_with_wkt(table)
    header = [*table.columns, *(("lon", "lat") if table.collection.geometry == "Point" else ()), "wkt"]
    writer.writerow(header)
    async with aclosing(stream(conn, statement, table.params, batch=batch)) as batches:
        async for rows in batches:
            writer.writerows([csv_value(value) for value in row] for row in rows)
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


NUMPY_TYPES = {"integer": "int64", "number": "float64", "boolean": "bool", "date": "datetime64[D]"}


def gdal_columns(
    table: Rows, batch: Sequence[Any]
) -> tuple[np.ndarray[Any, Any], list[np.ndarray[Any, Any]], list[np.ndarray[Any, Any]]]:
    """A batch as pyogrio takes it: the WKB geometries, one typed array per column, and where they are NULL."""
    kinds = {"id": "integer", **table.collection.properties}
    columns = list(zip(*batch, strict=True)) if batch else [()] * (len(kinds) + 1)
    values, masks = [], []
    for name, column in zip(table.columns, columns, strict=False):
        mask = np.array([value is None for value in column], dtype=bool)
        kind = NUMPY_TYPES.get(kinds[name])
        if kind is None:
            values.append(np.array(column, dtype=object))
        else:
            filler: Any = {"int64": 0, "float64": 0.0, "bool": False}.get(kind, "NaT")
            values.append(np.array([filler if v is None else v for v in column], dtype=kind))
        masks.append(mask)
    return np.array(columns[-1], dtype=object), values, masks


def write_batch(path: str, table: Rows, batch: Sequence[Any], *, append: bool) -> None:
    """Rows appended to a layer of the GeoPackage at `path` (created with the first)."""
    # Imported on the first binary export, not at start-up: GDAL's libraries add ~130 MiB to a process's
    # resident memory, which a worker that never writes a file need not carry.
    import pyogrio.raw  # type: ignore[import-untyped]

    geometry, values, masks = gdal_columns(table, batch)
    pyogrio.raw.write(
        path,
        geometry,
        values,
        table.columns,
        field_mask=masks,
        layer=table.name,
        driver="GPKG",
        geometry_type=table.collection.geometry,
        crs="EPSG:4326",
        encoding="UTF-8",
        append=append,
        dataset_options=None if append else GEOPACKAGE_OPTIONS,
    )


def geopackage_to_flatgeobuf(source: str, target: str, table: Rows) -> None:
    """The GeoPackage's layer copied to FlatGeobuf through GDAL's Arrow stream, a batch at a time. GDAL cannot
    append to a FlatGeobuf without rewriting it, so the typed GeoPackage is the spool for both formats."""
    import pyogrio.raw

    with pyogrio.raw.open_arrow(source, layer=table.name, use_pyarrow=False, batch_size=SPOOL_BATCH) as (
        meta,
        batches,
    ):
        pyogrio.raw.write_arrow(
            batches,
            target,
            layer=table.name,
            driver="FlatGeobuf",
            geometry_name=meta["geometry_name"],
            geometry_type=table.collection.geometry,
            crs="EPSG:4326",
            layer_options=FLATGEOBUF_OPTIONS,
        )


async def spooled(
    conn: AsyncConnection, tables: Sequence[Rows], stack: AsyncExitStack, *, flatgeobuf: bool
) -> Export:
    """The tables (one layer each) written by GDAL into a temporary GeoPackage a batch at a time (in a worker
    thread, so the event loop goes on serving), copied to FlatGeobuf when asked, then streamed from the file.
    The ETag hashes the rows written: a GeoPackage records when it was written, so its bytes differ each time."""
    folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="territory-export-"))
    path = os.path.join(folder, "export.gpkg")
    digest = hashlib.blake2b(digest_size=16)
    for number, table in enumerate(tables):
        written = False
        async for batch in stream(conn, table_with_wkb(table), table.params, batch=SPOOL_BATCH):
            digest.update(repr([tuple(row) for row in batch]).encode())
            append = number > 0 or written
            await anyio.to_thread.run_sync(partial(write_batch, path, table, batch, append=append))
            written = True
        if not written:  # an empty layer is still a layer, with its fields
            await anyio.to_thread.run_sync(partial(write_batch, path, table, [], append=number > 0))
    if flatgeobuf:
        (table,) = tables
        source, path = path, os.path.join(folder, "export.fgb")
        await anyio.to_thread.run_sync(geopackage_to_flatgeobuf, source, path, table)
    file: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed by the stream
    os.unlink(path)  # the open handle keeps it readable; the disk space is freed when it closes
    # Done with the database and the folder: release the connection now, not when the download ends.
    await stack.aclose()
    return Export(file_chunks(file), etag=f'"{digest.hexdigest()}"')


async def file_chunks(file: IO[bytes]) -> AsyncGenerator[bytes, None]:
    try:
        while chunk := await anyio.to_thread.run_sync(file.read, FILE_CHUNK):
            yield chunk
    finally:
        file.close()
