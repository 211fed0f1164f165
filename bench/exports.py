"""`python -m bench.exports`: the app's memory while it streams big exports, against their size.

Per scale: build (or reuse, --keep) the bench dataset, serve it with one uvicorn worker (the process itself),
download each export
to nowhere, and read the process's resident memory before (VmRSS) and its peak after (VmHWM, which only
grows: so the exports run smallest answer first, and the whole-map GeoJSON answer, streamed as exports are
since 2026-12-02, runs last). A flat export keeps the peak near the idle RSS whatever the size of the download.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from app.localdb import LocalCluster
from bench.generate import SCALES, prepare
from bench.run import RESULTS, machine, serving

AT = "2016-12-20"
# (label, path): the 1M-event NDJSON export is the one the issue asks about; the others for comparison.
EXPORTS = [
    ("events NDJSON", "/v1/events?f=ndjson"),
    ("events CSV", "/v1/events?f=csv"),
    ("places of a date NDJSON", f"/v1/export?format=ndjson&at={AT}"),
    ("events GeoPackage (spooled)", "/v1/events?f=gpkg"),
    ("events FlatGeobuf (spooled)", "/v1/events?f=fgb"),
    ("whole map GeoJSON (streamed)", f"/v1/control?at={AT}"),
]
MIB = 2**20


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes (from /proc/PID/status)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) * 1024
    return fields


def download(base: str, path: str) -> tuple[int, int, float]:
    """Bytes and line ends of the answer, and seconds; read in chunks and dropped."""
    size = lines = 0
    started = time.monotonic()
    with (
        httpx.Client(base_url=base, timeout=3600) as client,
        client.stream("GET", path) as response,
    ):
        if response.status_code != 200:
            sys.exit(f"GET {path} -> {response.status_code}: {response.read()[:500]!r}")
        for chunk in response.iter_bytes():
            size += len(chunk)
            lines += chunk.count(b"\n")
    return size, lines, time.monotonic() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.exports", description=__doc__)
    parser.add_argument("--scales", default="small", help="comma-separated: " + ",".join(SCALES))
    parser.add_argument("--database-url", help="server for the bench databases (default: the local cluster)")
    parser.add_argument("--keep", action="store_true", help="reuse a complete bench database of the scale")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server_url = args.database_url or LocalCluster.for_project().ensure_running()
    lines = [f"# Export memory, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", ""]
    with tempfile.TemporaryDirectory(prefix="territory-bench-") as tmp:
        for scale in [s.strip() for s in args.scales.split(",") if s.strip()]:
            dataset = prepare(server_url, scale, keep=args.keep)
            print(f"[bench] {scale}: {dataset.sizes}", flush=True)
            if len(lines) == 2:
                lines += [f"`python -m bench.exports {' '.join(argv)}`. Machine: {machine(dataset)}.", ""]
            lines += [
                f"## {scale}: " + ", ".join(f"{n:,} {t}" for t, n in dataset.sizes.items()),
                "",
                "| export | bytes | lines | seconds | RSS before MiB | peak RSS after MiB | peak − before MiB |",
                "|---|---:|---:|---:|---:|---:|---:|",
            ]
            gdal_loaded = False
            with serving(dataset.url, Path(tmp) / "uvicorn.log", workers=1) as (base, server):
                download(base, "/v1/control?at=2016-12-20&bbox=38,34,38.5,34.5")  # warm: imports, pool
                for label, path in EXPORTS:
                    if "spooled" in label and not gdal_loaded:
                        # GDAL is imported on the first binary export: load it first, measured on its own.
                        before = memory(server.pid)["VmRSS"]
                        download(base, "/v1/control?at=2016-12-20&bbox=38,34,38.5,34.5&f=gpkg")
                        after = memory(server.pid)["VmRSS"]
                        row = (
                            f"| (GDAL loaded by a small GeoPackage) | | | | {before / MIB:.0f} | {after / MIB:.0f} "
                            f"| {(after - before) / MIB:+.0f} |"
                        )
                        print(row, flush=True)
                        lines.append(row)
                        gdal_loaded = True
                    before = memory(server.pid)["VmRSS"]
                    size, count, seconds = download(base, path)
                    peak = memory(server.pid)["VmHWM"]
                    text_lines = f"{count:,}" if "spooled" not in label else ""
                    row = (
                        f"| {label} `{path}` | {size:,} | {text_lines} | {seconds:.1f} | {before / MIB:.0f} "
                        f"| {peak / MIB:.0f} | {(peak - before) / MIB:+.0f} |"
                    )
                    print(row, flush=True)
                    lines.append(row)
            lines.append("")
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"exports-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.md"
    path.write_text(text)
    print(f"\n{text}\n[bench] written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
