"""Instrument leases: one flow at a time per instrument, across processes, without stale locks.

A lease is a row in the campaigns database (beside the event log: an SQLite file, or PostgreSQL
for a lab on several machines, `orchestrator.database`) that says who may use a resource (an
instrument address, or one cycler channel) until when. It is *not* a lock held by a process:
nothing stays locked when a worker dies. Expiry does the clean-up instead: a holder keeps its
lease only while a live heartbeat renews it (`LeaseKeeper`). If the process is killed (kill -9,
power cut, reboot) its heartbeat thread dies with it, the lease runs out after `ttl` seconds and
the next flow takes over, learning from `Acquired.previous` that the instrument may have been
left mid-operation and must be reconciled with its reported state. Flows that must wait for a
busy resource take turns through `orchestrator.lease_queue`.

Every decision is one short write transaction that takes the table's lock first
(`Database.transaction`), so two processes racing for the same resource are serialised and
cannot both win; no transaction stays open between calls. Times are wall-clock
(`clocks.WallClock`, Unix seconds) because holders are different processes; pick a `ttl` well
above any clock step you expect, the heartbeat renews every `ttl / 3`.
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import threading
import uuid
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path

from electroloop.clocks import WallClock
from electroloop.errors import ConfigError, ElectroloopError
from electroloop.orchestrator.database import Database, Dialect, open_database
from electroloop.protocols import Clock

logger = logging.getLogger(__name__)

_TABLE = """
CREATE TABLE IF NOT EXISTS leases (
    resource     TEXT PRIMARY KEY,
    holder       TEXT NOT NULL,
    token        TEXT NOT NULL,
    acquired_at  DOUBLE PRECISION NOT NULL,
    expires_at   DOUBLE PRECISION NOT NULL,
    note         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS leases_by_holder ON leases (holder);
CREATE TABLE IF NOT EXISTS lease_waits (
    ticket       TEXT PRIMARY KEY,
    resources    TEXT NOT NULL,
    holder       TEXT NOT NULL,
    rank         DOUBLE PRECISION NOT NULL,
    priority     INTEGER NOT NULL,
    enqueued_at  DOUBLE PRECISION NOT NULL,
    expires_at   DOUBLE PRECISION NOT NULL,
    note         TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS lease_history (
    holder       TEXT NOT NULL,
    resources    TEXT NOT NULL,
    asked_at     DOUBLE PRECISION NOT NULL,
    granted_at   DOUBLE PRECISION NOT NULL,
    released_at  DOUBLE PRECISION NOT NULL
);
"""
# lease_history: each hold through the queue once it ended (`lease_queue.queued_hold`): who
# waited how long for which instruments, and held them how long.
# lease_waits: the fair queue of flows waiting for leases (`orchestrator.lease_queue`); in this
# schema so that queue decisions and grants share one write lock.
SCHEMAS: dict[Dialect, str] = {"sqlite": _TABLE, "postgresql": _TABLE}

_COLUMNS = "resource, holder, token, acquired_at, expires_at, note"


@dataclass(frozen=True)
class Lease:
    """The right of `holder` to use `resource` until `expires_at` (wall-clock seconds).

    `token` identifies one acquisition: renewing or releasing with a stale token fails, so a
    worker whose lease was taken over cannot extend or free the new holder's lease.
    """

    resource: str
    holder: str
    token: str
    acquired_at: float
    expires_at: float
    note: str = ""

    def remaining(self, now: float) -> float:
        """Seconds until expiry at `now` (the lease book's clock; 0 once expired)."""
        return max(0.0, self.expires_at - now)

    def is_expired(self, now: float) -> bool:
        """True once `expires_at` has passed at `now` (the lease book's clock); anyone may
        then take the resource over."""
        return self.expires_at <= now

    def describe(self) -> str:
        """`'campaign-7' (flow run abc)`: who holds it, for error messages."""
        return f"{self.holder!r}" + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class Acquired:
    """A new lease, and the lease it replaced if any.

    `previous` is set when an expired lease (any holder) or a lease of the same holder was
    taken over: its holder may have died mid-operation, so reconcile the instrument against
    its reported state before using it.
    """

    lease: Lease
    previous: Lease | None = None

    @property
    def took_over(self) -> bool:
        return self.previous is not None


class LeaseError(ElectroloopError):
    """Base of lease failures: the resource is, or may be, used by another flow."""


class LeaseHeld(LeaseError):
    """The resource is leased to another holder and the lease has not expired."""

    def __init__(self, lease: Lease, remaining: float) -> None:
        self.lease = lease
        self.remaining = remaining
        super().__init__(
            f"{lease.resource} is held by {lease.describe()} for another "
            f"{math.ceil(remaining)} s; wait for the lease to expire or stop that flow"
        )

    def __reduce__(self) -> tuple[type[LeaseHeld], tuple[Lease, float]]:
        return type(self), (self.lease, self.remaining)  # picklable across worker processes


class LeaseLost(LeaseError):
    """A lease we held was taken over, released or has lapsed; stop using the resource."""

    def __init__(self, lease: Lease, current: Lease | None, reason: str = "") -> None:
        self.lease = lease
        self.current = current
        if reason:
            what = reason
        elif current is None:
            what = "no longer exists (released or taken over and released)"
        else:
            what = f"was taken over by {current.describe()}"
        super().__init__(
            f"lease on {lease.resource} for {lease.describe()} {what}; "
            "stop using this resource, another flow may own it"
        )
        self.reason = reason

    def __reduce__(self) -> tuple[type[LeaseLost], tuple[Lease, Lease | None, str]]:
        return type(self), (self.lease, self.current, self.reason)


def _check_text(field: str, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{field} must be a non-empty string, got {value!r}")


def _check_ttl(ttl: float) -> None:
    if not isinstance(ttl, int | float) or not math.isfinite(ttl) or ttl <= 0:
        raise ConfigError(f"ttl must be a finite number of seconds > 0, got {ttl!r}")


_PROCESS = re.compile(r"^pid (\d+) on (\S+)$")


def process_note() -> str:
    """A lease note naming this process and host, so that a later process on the same host can
    prove the holder dead (`process_gone`) instead of waiting out its lease."""
    return f"pid {os.getpid()} on {socket.gethostname()}"


def process_gone(lease: Lease) -> bool:
    """True only when the lease's note (`process_note`) names a process on this host that has
    ended (gone, or a zombie nobody reaped). Any doubt (another host, no note, a PID taken by
    another process since) is False: then the lease is waited out."""
    match = _PROCESS.match(lease.note)
    if match is None or match.group(2) != socket.gethostname():
        return False
    pid = int(match.group(1))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state == "Z"


class LeaseBook:
    """Grant, renew and release leases stored in the campaigns database shared by all workers."""

    def __init__(
        self,
        target: str | Path,
        *,
        clock: Clock | None = None,
        busy_timeout: float = 10.0,
    ) -> None:
        """`target`: an SQLite path or a PostgreSQL URL (`Settings.store`)."""
        self.clock: Clock = clock or WallClock()
        # The busy timeout makes a racing process wait for the other's short transaction.
        self._db = open_database(target, SCHEMAS, busy_timeout=busy_timeout)

    def transaction(self) -> AbstractContextManager[Database]:
        """One write transaction on the leases' tables (for `LeaseQueue`'s decide-and-grant)."""
        return self._db.transaction()

    @staticmethod
    def _row(db: Database, resource: str) -> Lease | None:
        row = db.fetchone(f"SELECT {_COLUMNS} FROM leases WHERE resource = ?", (resource,))
        return Lease(*row) if row else None

    def grant(self, db: Database, resource: str, holder: str, ttl: float, note: str) -> Acquired:
        """Inside `transaction()`: lease `resource` to `holder`, or raise `LeaseHeld`."""
        now = self.clock.now()
        current = self._row(db, resource)
        if current is not None and current.holder != holder and not current.is_expired(now):
            raise LeaseHeld(current, current.expires_at - now)
        lease = Lease(resource, holder, uuid.uuid4().hex, now, now + ttl, note)
        db.execute(
            f"INSERT INTO leases ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (resource) DO UPDATE SET holder = excluded.holder, "
            "token = excluded.token, acquired_at = excluded.acquired_at, "
            "expires_at = excluded.expires_at, note = excluded.note",
            (lease.resource, lease.holder, lease.token, lease.acquired_at, lease.expires_at, note),
        )
        return Acquired(lease, current)

    def acquire(self, resource: str, holder: str, ttl: float, note: str = "") -> Acquired:
        """Lease `resource` to `holder` for `ttl` s, or raise `LeaseHeld`.

        Free or expired: taken. Held by the same holder (a resumed campaign whose worker died,
        or a re-attach): taken over at once. `Acquired.previous` reports what was replaced.
        """
        return self.acquire_all([resource], holder, ttl, note)[0]

    def acquire_all(
        self, resources: Iterable[str], holder: str, ttl: float, note: str = ""
    ) -> list[Acquired]:
        """Lease every resource or none (one transaction), so a flow never holds half a lab."""
        wanted = sorted(set(resources))
        for resource in wanted:
            _check_text("resource", resource)
        _check_text("holder", holder)
        _check_ttl(ttl)
        with self._db.transaction() as db:
            return [self.grant(db, resource, holder, ttl, note) for resource in wanted]

    def renew(self, lease: Lease, ttl: float) -> Lease:
        """Extend `lease` to now + `ttl` if it is still ours, else raise `LeaseLost`.

        A lease that lapsed but was not taken over is renewed: its unchanged token proves no
        one else acquired the resource in between.
        """
        _check_ttl(ttl)
        with self._db.transaction() as db:
            current = self._row(db, lease.resource)
            if current is None or current.token != lease.token:
                raise LeaseLost(lease, current)
            expires_at = self.clock.now() + ttl
            db.execute(
                "UPDATE leases SET expires_at = ? WHERE resource = ? AND token = ?",
                (expires_at, lease.resource, lease.token),
            )
        return replace(current, expires_at=expires_at)

    def release(self, lease: Lease) -> bool:
        """Free the resource if `lease` still owns it; False if it was already gone or taken."""
        with self._db.transaction() as db:
            cursor = db.execute(
                "DELETE FROM leases WHERE resource = ? AND token = ?",
                (lease.resource, lease.token),
            )
        return cursor.rowcount > 0

    def expire_holder(self, holder: str) -> int:
        """End every lease of `holder` now (a holder proven dead, `process_gone`): the next
        `acquire` takes them over as expired ones, with `previous` set. How many ended."""
        with self._db.transaction() as db:
            now = self.clock.now()
            cursor = db.execute(
                "UPDATE leases SET expires_at = ? WHERE holder = ? AND expires_at > ?",
                (now, holder, now),
            )
        return cursor.rowcount

    def release_holder(self, holder: str) -> list[Lease]:
        """Free every lease of `holder`, expired or not (a dead campaign resumed or finished),
        and take its tickets out of the queue (a run killed while it waited)."""
        with self._db.transaction() as db:
            rows = db.fetchall(
                f"SELECT {_COLUMNS} FROM leases WHERE holder = ? ORDER BY resource", (holder,)
            )
            db.execute("DELETE FROM leases WHERE holder = ?", (holder,))
            db.execute("DELETE FROM lease_waits WHERE holder = ?", (holder,))
        return [Lease(*row) for row in rows]

    def held(self, resource: str, *, include_expired: bool = False) -> Lease | None:
        """The lease on `resource`, or None if free (or expired, unless `include_expired`)."""
        lease = self._row(self._db, resource)
        if lease is None or (not include_expired and lease.is_expired(self.clock.now())):
            return None
        return lease

    def all(self) -> list[Lease]:
        """Every stored lease, expired ones included (see `Lease.is_expired`)."""
        rows = self._db.fetchall(f"SELECT {_COLUMNS} FROM leases ORDER BY resource")
        return [Lease(*row) for row in rows]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> LeaseBook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LeaseKeeper:
    """Keep one holder's leases alive with a heartbeat thread while the flow runs.

    The daemon thread renews every lease each `ttl / 3` s. It lives only as long as the process:
    if the worker is killed, renewals stop and the leases expire after at most `ttl`, which is
    exactly what frees the instruments of a dead worker. Call `check()` before moving an
    instrument: it raises `LeaseLost` if a lease was taken over or has lapsed, so a worker that
    lost its instrument stops instead of dosing. Use as a context manager: leases are released
    on exit, on failure too.
    """

    def __init__(self, book: LeaseBook, leases: Iterable[Lease], ttl: float) -> None:
        _check_ttl(ttl)
        self._leases = {lease.resource: lease for lease in leases}
        holders = {lease.holder for lease in self._leases.values()}
        if len(holders) > 1:
            raise ConfigError(f"a LeaseKeeper keeps one holder's leases, got {sorted(holders)}")
        self.book = book
        self.ttl = ttl
        self.previous: dict[str, Lease] = {}
        self._lost: dict[str, LeaseLost] = {}
        self._last_error: Exception | None = None
        self._state = threading.Lock()
        self._stop = threading.Event()
        self._released = False
        name = f"lease-heartbeat:{next(iter(holders), '-')}"
        self._thread = threading.Thread(target=self._beat, name=name, daemon=True)
        self._thread.start()

    @classmethod
    def acquire(
        cls, book: LeaseBook, resources: Iterable[str], holder: str, ttl: float, note: str = ""
    ) -> LeaseKeeper:
        """Acquire all `resources` (all or nothing) and start renewing them.

        `keeper.previous` maps each taken-over resource to the lease it replaced: reconcile
        those instruments before use.
        """
        return cls.keep(book, book.acquire_all(resources, holder, ttl, note), ttl)

    @classmethod
    def keep(cls, book: LeaseBook, acquired: Iterable[Acquired], ttl: float) -> LeaseKeeper:
        """Start renewing leases just acquired; `previous` maps each taken-over resource to the
        lease it replaced."""
        acquired = list(acquired)
        keeper = cls(book, [a.lease for a in acquired], ttl)
        keeper.previous = {a.lease.resource: a.previous for a in acquired if a.previous}
        return keeper

    @property
    def leases(self) -> list[Lease]:
        """The leases as last renewed."""
        with self._state:
            return list(self._leases.values())

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            self._renew_all()

    def _renew_all(self) -> None:
        for lease in self.leases:
            if lease.resource in self._lost or self._stop.is_set():
                continue
            try:
                renewed = self.book.renew(lease, self.ttl)
            except LeaseLost as lost:
                logger.warning("%s", lost)
                with self._state:
                    self._lost[lease.resource] = lost
            except Exception as error:  # busy/IO error: retried next beat; check() sees a lapse
                logger.warning("could not renew lease on %s: %s", lease.resource, error)
                with self._state:
                    self._last_error = error
            else:
                with self._state:
                    self._leases[lease.resource] = renewed

    def check(self) -> None:
        """Raise `LeaseLost` unless every lease is still ours and unexpired, per the database."""
        with self._state:
            if self._released:
                raise LeaseError("this LeaseKeeper was released; acquire the leases again")
            if self._lost:
                raise next(iter(self._lost.values()))
            leases = list(self._leases.values())
            last_error = self._last_error
        for lease in leases:
            current = self.book.held(lease.resource, include_expired=True)
            if current is None or current.token != lease.token:
                lost = LeaseLost(lease, current)
                with self._state:
                    self._lost[lease.resource] = lost
                raise lost
            if current.is_expired(self.book.clock.now()):
                cause = f" (last renewal error: {last_error})" if last_error else ""
                raise LeaseLost(
                    lease, current, reason=f"has lapsed: the heartbeat did not renew it{cause}"
                )

    def release(self) -> None:
        """Stop the heartbeat and release every lease still ours; safe to call twice."""
        with self._state:
            if self._released:
                return
            self._released = True
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        errors: list[Exception] = []
        for lease in self.leases:
            try:
                self.book.release(lease)
            except Exception as error:  # keep freeing the others; the rest expire on their own
                errors.append(error)
        if errors:
            raise errors[0]

    def __enter__(self) -> LeaseKeeper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
