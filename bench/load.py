"""Load with wrk: each request takes a random path from a list, so requests spread over places and dates. A line may
carry an ETag after a tab: that request sends it as If-None-Match."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# Threads get different seeds so they do not replay the same sequence of paths.
LUA = """
local threads, paths = 0, {}
function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end
function init(args)
  math.randomseed(seed)
  for line in io.lines(args[1]) do
    local path, etag = line:match("^([^\t]*)\t?(.*)$")
    paths[#paths + 1] = {path, etag}
  end
end
function request()
  local p = paths[math.random(#paths)]
  if p[2] ~= "" then return wrk.format(nil, p[1], {["If-None-Match"] = p[2]}) end
  return wrk.format(nil, p[1])
end
"""
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors plus non-2xx/3xx answers


def require_wrk() -> str:
    """wrk's path, or exit: a Python load generator would measure itself rather than the API."""
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    return wrk


def run_wrk(
    wrk: str, base_url: str, paths: list[str], seconds: int, connections: int, workdir: Path
) -> WrkResult:
    (workdir / "paths.txt").write_text("\n".join(paths) + "\n")
    (workdir / "random_path.lua").write_text(LUA)
    threads = max(1, min(2, connections))
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency"]
    command += ["-s", str(workdir / "random_path.lua"), base_url, "--", str(workdir / "paths.txt")]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    return parse(out)


def parse(out: str) -> WrkResult:
    def latency(percent: str) -> float:
        match = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
        if not match:
            raise ValueError(f"no {percent}% latency in wrk output:\n{out}")
        return float(match[1]) * UNITS_MS[match[2]]

    rate = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.MULTILINE)
    if not rate:
        raise ValueError(f"no Requests/sec in wrk output:\n{out}")
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = sum(int(n) for n in socket.groups()) if socket else 0
    errors += int(non_2xx[1]) if non_2xx else 0
    return WrkResult(float(rate[1]), latency("50"), latency("99"), errors)
