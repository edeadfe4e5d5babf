"""Load from Debian's ``wrk`` (C, one thread: it leaves the server's cores to the server),
shared by the serving and decision benchmarks: a bounded run against a loopback URL, its
p50 / p99 and requests per second parsed from ``--latency``'s report."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

POST_SCRIPT = Path(__file__).with_name("post_body.lua")
PATHS_SCRIPT = Path(__file__).with_name("get_paths.lua")
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


@dataclass
class WrkResult:
    connections: int
    seconds: float
    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors and non-2xx/3xx answers


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * _UNITS[unit]


def run(url: str, connections: int, seconds: float, body: str | None = None,
        headers: dict[str, str] | None = None, timeout: float = 30.0,
        paths: list[str] | None = None) -> WrkResult:
    """``wrk`` on ``url`` (loopback only) with ``connections`` open connections for
    ``seconds``: GET (of each of ``paths`` in turn, when given), or POST of ``body``."""
    host = urlparse(url).hostname or ""
    if not host.startswith("127.") and host != "localhost":
        raise SystemExit(f"{url}: load runs against this machine only (loopback)")
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    command = [wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency",
               f"--timeout={timeout:g}s"]
    for key, value in (headers or {}).items():
        command += ["-H", f"{key}: {value}"]
    with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
        env = dict(os.environ)
        if body is not None:
            file.write(body)
            file.flush()
            env["WRK_BODY"] = file.name
            command += ["-s", str(POST_SCRIPT)]
        elif paths:
            file.write("\n".join(paths) + "\n")
            file.flush()
            env["WRK_PATHS"] = file.name
            command += ["-s", str(PATHS_SCRIPT)]
        out = subprocess.run([*command, url], capture_output=True, text=True, env=env,
                             timeout=seconds + timeout + 30, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    if "50" not in latency:
        raise RuntimeError(f"wrk gave no latencies: {out[-1500:]}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    return WrkResult(connections, seconds, requests,
                     float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
                     _ms(latency["50"]), _ms(latency["99"]), errors)
