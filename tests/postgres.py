"""A throwaway PostgreSQL cluster for tests and benchmarks: Debian's `postgresql` server, a
new cluster under a temporary folder, listening on 127.0.0.1 at a free port only, and gone when
stopped.

PostgreSQL refuses to run as root; as root (CI) the cluster belongs to Debian's `postgres` user
and its commands run through `runuser`. The cluster skips fsync: it lives for one test session,
and durability across a power cut is PostgreSQL's to prove, not ours.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

SUPERUSER = "electroloop"


def server_binary(name: str) -> str:
    """`initdb`, `pg_ctl`: on PATH, else in Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(
            f"PostgreSQL's {name} not found: install Debian's postgresql (`make test` does)"
        )
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresCluster:
    """One throwaway cluster; `url(db)` names a database in it (see `create_database`)."""

    def __init__(self, max_connections: int = 200) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="electroloop-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.password = secrets.token_hex(8)
        self.max_connections = max_connections
        self._owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._owner else []
        done = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{command[0]} failed: {done.stderr.strip()}\n{tail}")

    def start(self) -> PostgresCluster:
        password_file = self.folder / "password"
        password_file.write_text(self.password)
        if self._owner:
            for path in (self.folder, password_file):
                os.chown(path, self._owner.pw_uid, self._owner.pw_gid)
        self._run(
            server_binary("initdb"),
            "-D", str(self.data),
            "-U", SUPERUSER,
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-instructions",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' "
            f"-c max_connections={self.max_connections} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            server_binary("pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip
        return self

    def url(self, database: str = "postgres", driver: str = "") -> str:
        """`postgresql://…` (`driver`: e.g. `asyncpg` for `postgresql+asyncpg://…`)."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; returns its `postgresql://` URL."""
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(server_binary("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
