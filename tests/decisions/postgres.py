"""A throwaway PostgreSQL cluster for tests: ``initdb`` and ``pg_ctl`` in a temporary folder,
listening on loopback at a free port, run as an unprivileged user when we are root (initdb
refuses root). Debian's ``postgresql`` package provides the binaries (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from testkit import free_port

#: Where Debian puts each major version's server binaries.
DEBIAN_BINS = Path("/usr/lib/postgresql")
#: The role that owns the service's databases (as a deployment would create it).
OWNER = "decisions"


def server_bin() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: ``PG_BIN``, else the newest Debian version,
    else the PATH's; None when there is none."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    versions = sorted((p for p in DEBIAN_BINS.glob("*/bin") if (p / "initdb").exists()),
                      key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    if versions:
        return versions[-1]
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


@dataclass
class Cluster:
    """A running cluster: connect as the superuser ``postgres`` over TCP (trust auth)."""

    port: int
    folder: Path

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres", user: str = "postgres") -> str:
        """The libpq form (for psycopg itself, as an operator with psql would connect)."""
        return f"host=127.0.0.1 port={self.port} dbname={database} user={user}"

    def create_database(self, name: str) -> str:
        """A new database owned by OWNER; its SQLAlchemy URL (connecting as OWNER)."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (OWNER,)).fetchone():
                conn.execute(f"CREATE ROLE {OWNER} LOGIN")
            conn.execute(f'CREATE DATABASE "{name}" OWNER {OWNER}')
        return self.url(name, OWNER)


def _account() -> dict:
    """subprocess arguments that drop root for an unprivileged account (none when not root)."""
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' account "
                       "exists to run initdb as (it refuses root)")


@contextmanager
def cluster(bin_dir: Path) -> Iterator[Cluster]:
    """Start a cluster in a fresh temporary folder; stop it and remove the folder after."""
    account = _account()
    folder = Path(tempfile.mkdtemp(prefix="decisions-pg-"))
    if account:
        os.chown(folder, account["user"], account["group"])
    data, log, port = folder / "data", folder / "server.log", free_port()

    def run(*command: str) -> None:
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, **account)
        if done.returncode:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(command[:2])} failed ({done.returncode}): "
                               f"{done.stderr.strip()} {done.stdout.strip()[-500:]}\n{tail}")

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
        "--no-locale", "-E", "UTF8", "--no-sync")
    # a throwaway: no durability needed, so no fsync (the machine's disk is shared)
    options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off "
               "-c full_page_writes=off -c synchronous_commit=off -c shared_buffers=16MB")
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "120",
        "-o", options, "start")
    try:
        yield Cluster(port, folder)
    finally:
        subprocess.run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                        "stop"], cwd=folder, capture_output=True, **account)
        shutil.rmtree(folder, ignore_errors=True)
