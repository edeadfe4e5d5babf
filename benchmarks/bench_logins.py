"""What a person's login costs the decision service: argon2id once, then the cache.

    python benchmarks/bench_logins.py [--repeats 200]

1. ``Users.verify``: the first check of a name and password (argon2id, the service's
   default profile: RFC 9106's low-memory one, t=3, 64 MiB, p=4), a wrong password (argon2id
   every time), and the cached check of the same pair (an HMAC and a dict lookup).
2. Through the real app (FastAPI's TestClient, SQLite in a temporary folder): the open
   ``/health`` against ``GET /access?limit=1`` as a supervisor with basic credentials (cached
   after the first) and as the dashboard's key acting for them: what authentication, the role
   check and a small query add to a request.
Ratios within one run; the machine's load is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path


def _timed(call, repeats: int) -> float:
    """Median seconds of ``call()``."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    from decisions import users as module
    from decisions.app import create_app
    from decisions.config import Settings
    from decisions.users import ADVISOR, SUPERVISOR, add_api_key, add_user, load_users

    folder = Path(tempfile.mkdtemp(prefix="bench-auth-"))
    path = folder / "users.json"
    password = "a long enough password"
    add_user(path, "alice", ADVISOR, password)
    add_user(path, "sue", SUPERVISOR, password)
    key = add_api_key(path, "dashboard", act_for_users=True)
    users = load_users(path)
    def uncached() -> None:
        module._CACHE.clear()
        users.verify("alice", password)

    first = _timed(uncached, 10)
    wrong = _timed(lambda: users.verify("alice", "not the password"), 10)
    users.verify("alice", password)
    cached = _timed(lambda: users.verify("alice", password), args.repeats * 10)

    settings = Settings(db_url=f"sqlite:///{folder / 'decisions.db'}", users_file=str(path))
    with TestClient(create_app(settings)) as app:
        calls = {"health": lambda: app.get("/health"),
                 "basic": lambda: app.get("/access?limit=1", auth=("sue", password)),
                 "acting": lambda: app.get("/access?limit=1", headers={
                     "X-API-Key": key, "X-Acting-For": "sue"})}
        for call in calls.values():  # the first basic check hashes: out of the timings
            call()
        # interleaved, so a change of the machine's load touches the three alike
        samples: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(args.repeats):
            for name, call in calls.items():
                samples[name].append(_timed(call, 1))
        health, basic, acting = (statistics.median(samples[n]) for n in calls)
    ms = {"argon2id_first_check_ms": first * 1e3, "argon2id_wrong_password_ms": wrong * 1e3,
          "cached_check_ms": cached * 1e3, "health_ms": health * 1e3,
          "access_as_supervisor_basic_ms": basic * 1e3,
          "access_acting_for_supervisor_ms": acting * 1e3}
    out = {k: round(v, 4) for k, v in ms.items()}
    out["first_over_cached"] = round(first / cached)
    out["basic_over_health"] = round(basic / health, 2)
    out["load_average"] = os.getloadavg()[0]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
