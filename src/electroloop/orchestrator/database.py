"""The campaigns database: an SQLite file on one PC, or a PostgreSQL server a lab shares.

The event log, the leases and the cell records are the same SQL on both. `open_database` takes
a path (SQLite, the embedded default) or a `postgresql://user:password@host:5432/db` URL
(psycopg 3, https://www.psycopg.org/psycopg3/docs/) and returns a `Database` whose `execute`
takes SQLite's `?` placeholders on both. What differs is kept here, in one place:

- **Write transactions that check, then write** (`Database.transaction`): SQLite's
  `BEGIN IMMEDIATE` takes the file's write lock up front; PostgreSQL has no such mode, so the
  transaction takes one transaction-scoped advisory lock (`pg_advisory_xact_lock`, released at
  COMMIT or ROLLBACK) that every such transaction of the same table takes. Either way two
  processes racing for one lease are serialised and cannot both win, and no lock outlives a
  killed process (PostgreSQL aborts a dead client's transaction).
- **Schemas**: each table owner gives its DDL per dialect (append-only triggers are written
  differently); schemas are applied under the same advisory lock, because PostgreSQL's
  `CREATE TABLE IF NOT EXISTS` is not safe against a concurrent twin.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from electroloop.errors import ConfigError

Dialect = Literal["sqlite", "postgresql"]
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SECRET_KEYS = {"password", "pass", "pwd", "secret", "token"}


def redact(url: str) -> str:
    """A database URL fit to print or store: its password (and secret query values) as ***."""
    parts = urlsplit(url)
    redacted = url
    if parts.password is not None:
        host = parts.netloc.rpartition("@")[2]
        redacted = redacted.replace(parts.netloc, f"{parts.username or ''}:***@{host}", 1)
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if k.lower() in SECRET_KEYS else v) for k, v in pairs], safe="*"
        )
        redacted = redacted.replace(f"?{parts.query}", f"?{query}", 1)
    return redacted


def is_postgres(target: str | Path) -> bool:
    """True when `target` names a PostgreSQL server rather than an SQLite file."""
    return isinstance(target, str) and target.startswith(POSTGRES_SCHEMES)


def private_file(path: Path) -> None:
    """Create `path` (and its folder) readable and writable by its owner only, unless it
    exists: a lab's records are nobody else's on a shared PC. SQLite gives its -wal and -shm
    files the database file's permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass


class Database:
    """One connection to the campaigns database, shared by a flow's threads.

    Use `execute` for single statements (each commits on its own) and `transaction()` for
    anything that reads, decides and writes. Every call holds the connection's lock.
    """

    def __init__(self, connection: Any, dialect: Dialect, location: str, lock_key: int) -> None:
        self._db = connection
        self.dialect: Dialect = dialect
        self.location = location
        """Where the data lie, fit to print (a path, or the URL with its password hidden)."""
        self._lock_key = lock_key
        self._lock = threading.RLock()

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        """Run one statement (with `?` placeholders); returns its cursor."""
        with self._lock:
            return self._db.execute(self._sql(sql), tuple(parameters))

    def fetchall(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(self._sql(sql), tuple(parameters)).fetchall())

    def fetchone(self, sql: str, parameters: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        with self._lock:
            return self._db.execute(self._sql(sql), tuple(parameters)).fetchone()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._lock:
            if self.dialect == "postgresql":
                with self._db.cursor() as cursor:
                    cursor.executemany(self._sql(sql), rows)
            else:
                self._db.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """A write transaction that holds the table's write lock from its first statement, so
        a check-then-write is atomic across processes; committed on exit, rolled back on error."""
        with self._lock:
            if self.dialect == "postgresql":
                with self._db.transaction():
                    self._db.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
                    yield self
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_database(
    target: str | Path,
    schemas: Mapping[Dialect, str],
    *,
    busy_timeout: float = 5.0,
) -> Database:
    """Open the campaigns database at `target` (an SQLite path or a PostgreSQL URL) as every
    writer of it does, with the table owner's schema for that dialect applied.

    SQLite: autocommit, WAL so readers never wait, fully synced commits, a new file readable by
    its owner only. PostgreSQL: autocommit, `busy_timeout` as the connect timeout.
    """
    schema = _schema_for(schemas, "postgresql" if is_postgres(target) else "sqlite")
    lock_key = zlib.crc32(schema.encode())  # one advisory lock per table owner's schema
    if is_postgres(target):
        return _open_postgres(str(target), schema, busy_timeout, lock_key)
    path = Path(target)
    private_file(path)
    db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    _write_ahead_log(db, busy_timeout)
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(schema)
    return Database(db, "sqlite", str(path), lock_key)


def _write_ahead_log(db: sqlite3.Connection, busy_timeout: float) -> None:
    """Put the file in WAL mode. Switching needs the file to itself and SQLite does not wait
    for that (no busy handler): two processes opening a new file at once would fail with
    'database is locked', so the switch is retried for `busy_timeout` seconds."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _schema_for(schemas: Mapping[Dialect, str], dialect: Dialect) -> str:
    if dialect not in schemas:
        raise ConfigError(f"no {dialect} schema for this table; known: {sorted(schemas)}")
    return schemas[dialect]


def _open_postgres(url: str, schema: str, busy_timeout: float, lock_key: int) -> Database:
    import psycopg  # only a lab that shares a server needs the driver loaded

    try:
        db = psycopg.connect(url, autocommit=True, connect_timeout=max(1, round(busy_timeout)))
    except psycopg.OperationalError as error:
        raise ConfigError(
            f"database_url: cannot reach PostgreSQL at {redact(url)}: {str(error).strip()}"
        ) from error
    database = Database(db, "postgresql", redact(url), lock_key)
    with database.transaction():
        db.execute(schema)
    return database
