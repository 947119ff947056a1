"""A fair queue for instrument leases: campaigns that share a bench take turns, by priority and
then by arrival, and none waits forever.

A step of a trial (dose, measure, cycle a channel) leases the instruments it needs for as long
as it runs, not the campaign's life. When they are busy, the step takes a ticket in the
`lease_waits` table (beside the leases, in the campaigns database: every process of the lab
sees the same queue) and polls. Rules, each decided in one write transaction together with the
grant (`LeaseBook.transaction`), so two processes never both see themselves first:

- **Order**: a ticket's rank is its arrival time less `priority × aging` seconds: one priority
  level is worth `aging` seconds of waiting (default 10 min). All tickets age alike, so the
  order never changes after arrival, and an old low-priority ticket is served before a stream
  of newer high-priority ones once it has waited long enough: nobody starves.
- **Head of line**: a ticket is granted when every instrument it wants is free and no ticket
  ranked before it wants any of them. A step that needs the balance and the meter is therefore
  not overtaken forever by steps that need only one of them.
- **No deadlock**: a step asks for all its instruments at once and gets all or none, and a
  holder may not wait while it holds an instrument (`HoldAndWait`): no cycle of flows each
  holding what the next one waits for can form, in whatever order two campaigns list the same
  two instruments.
- **Dead waiters drop out**: a ticket lives only while its waiter polls (`ttl`), like a lease.

What a waiting step reports (`Waiting`: who holds what, how many are ahead, since when) goes
to `on_wait`, so a campaign can say in its log and the UI what it waits for.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from electroloop.errors import ConfigError
from electroloop.orchestrator.database import Database
from electroloop.orchestrator.leases import (
    Acquired,
    Lease,
    LeaseBook,
    LeaseError,
    LeaseHeld,
    LeaseKeeper,
)
from electroloop.orchestrator.step_leases import LeaseHook

AGING = 600.0
"""Seconds of waiting one priority level is worth; the same for every process of a lab."""

_TICKET = "ticket, resources, holder, rank, priority, enqueued_at, expires_at, note"


@dataclass(frozen=True)
class Ticket:
    """A place in the queue: who waits for which instruments, and its rank (lower goes first)."""

    ticket: str
    resources: tuple[str, ...]
    holder: str
    rank: float
    priority: int
    enqueued_at: float
    expires_at: float
    note: str = ""

    def before(self, other: Ticket) -> bool:
        """True when this ticket is served first (rank, then ticket id: a total order)."""
        return (self.rank, self.ticket) < (other.rank, other.ticket)


@dataclass(frozen=True)
class Hold:
    """One step's hold of instruments, once it ended (wall-clock seconds)."""

    holder: str
    resources: tuple[str, ...]
    asked_at: float
    granted_at: float
    released_at: float

    @property
    def wait(self) -> float:
        return self.granted_at - self.asked_at


@dataclass(frozen=True)
class Waiting:
    """Why a ticket is not served yet, at one poll."""

    resources: tuple[str, ...]
    holder: str
    held_by: tuple[Lease, ...]
    """The live leases of others on the wanted instruments."""
    ahead: tuple[Ticket, ...]
    """Tickets ranked before this one that want any of the same instruments."""
    waited: float
    """Seconds since the ticket was taken."""

    def describe(self) -> str:
        """`waiting 12 s for balance (held by 'c2/run-1'), 1 step ahead`: for logs and the UI.
        More than three instruments are counted, not listed."""
        by_holder: dict[str, list[str]] = {}
        for lease in self.held_by:
            by_holder.setdefault(lease.describe(), []).append(lease.resource)
        held = "; ".join(f"{_listed(r)} (held by {h})" for h, r in by_holder.items())
        wanted = held or _listed(self.resources)
        ahead = f", {len(self.ahead)} step(s) ahead" if self.ahead else ""
        return f"waiting {self.waited:.0f} s for {wanted}{ahead}"


def _listed(resources: Sequence[str]) -> str:
    return ", ".join(resources) if len(resources) <= 3 else f"{len(resources)} instruments"


class HoldAndWait(LeaseError):
    """A holder asked to wait for instruments while it holds others: refused, since two such
    holders can wait for each other forever."""


class WaitTimedOut(LeaseError):
    """The instruments did not come free within the caller's timeout."""

    def __init__(self, waiting: Waiting) -> None:
        self.waiting = waiting
        super().__init__(f"gave up {waiting.describe()}")


class LeaseQueue:
    """Acquire leases through the lab's fair queue (see the module docstring)."""

    def __init__(self, book: LeaseBook, *, aging: float = AGING, poll: float = 0.05) -> None:
        if not aging > 0 or not poll > 0:
            raise ConfigError(f"aging and poll must be seconds > 0, got {aging!r}, {poll!r}")
        self.book = book
        self.aging = aging
        self.poll = poll

    def acquire(
        self,
        resources: Iterable[str],
        holder: str,
        ttl: float,
        *,
        priority: int = 0,
        note: str = "",
        timeout: float | None = None,
        may_hold: Collection[str] = (),
        on_wait: Callable[[Waiting], None] | None = None,
    ) -> list[Acquired]:
        """Lease every resource to `holder` once it is `holder`'s turn; blocks until then.

        `may_hold`: resources `holder` may keep while it waits (its campaign's own lease);
        holding any other raises `HoldAndWait`. `on_wait` hears each change of what the ticket
        waits for. `timeout`: raise `WaitTimedOut` after that many seconds (None: wait on).
        """
        wanted = tuple(sorted(set(resources)))
        if not wanted:
            raise ConfigError("resources: give at least one instrument to lease")
        if not isinstance(priority, int):
            raise ConfigError(f"priority must be an integer, got {priority!r}")
        clock = self.book.clock
        held = [
            lease
            for lease in self.book.all()
            if lease.holder == holder
            and lease.resource not in wanted
            and lease.resource not in may_hold
            and not lease.is_expired(clock.now())
        ]
        if held:
            raise HoldAndWait(
                f"{holder!r} holds {', '.join(lease.resource for lease in held)} and asked for "
                f"{', '.join(wanted)}: release what a step holds before the next step leases"
            )
        now = clock.now()
        ticket = Ticket(
            uuid.uuid4().hex, wanted, holder, now - priority * self.aging, priority, now,
            now + ttl, note,
        )  # fmt: skip
        last: tuple[tuple[str, ...], int] | None = None
        try:
            while True:
                granted, waiting = self._try(ticket, ttl)
                if granted is not None:
                    return granted
                assert waiting is not None
                seen = (tuple(lease.holder for lease in waiting.held_by), len(waiting.ahead))
                if on_wait is not None and seen != last:
                    on_wait(waiting)
                last = seen
                if timeout is not None and waiting.waited >= timeout:
                    raise WaitTimedOut(waiting)
                time.sleep(self.poll)
        except BaseException:
            self._leave(ticket)  # a waiter that gives up (or is interrupted) leaves the queue
            raise

    def waiting(self) -> list[Ticket]:
        """Every live ticket, in the order they will be served."""
        with self.book.transaction() as db:
            return self._tickets(db, self.book.clock.now())

    def history(self, since: float = 0.0) -> list[Hold]:
        """Every hold through `queued_hold` that ended, granted at or after `since`, in the
        order they were granted."""
        with self.book.transaction() as db:
            rows = db.fetchall(
                "SELECT holder, resources, asked_at, granted_at, released_at FROM lease_history "
                "WHERE granted_at >= ? ORDER BY granted_at",
                (since,),
            )
        return [Hold(h, tuple(r.split("\n")), *times) for h, r, *times in rows]

    def _try(self, ticket: Ticket, ttl: float) -> tuple[list[Acquired] | None, Waiting | None]:
        """One poll, one transaction: grant if it is the ticket's turn, else renew it."""
        try:
            with self.book.transaction() as db:
                now = self.book.clock.now()
                tickets = self._tickets(db, now)
                mine = set(ticket.resources)
                ahead = tuple(
                    t
                    for t in tickets
                    if t.ticket != ticket.ticket and t.before(ticket) and mine & set(t.resources)
                )
                held_by = tuple(
                    lease
                    for resource in ticket.resources
                    if (lease := self.book.held(resource)) is not None
                    and lease.holder != ticket.holder
                )
                if not ahead and not held_by:
                    db.execute("DELETE FROM lease_waits WHERE ticket = ?", (ticket.ticket,))
                    granted = [
                        self.book.grant(db, r, ticket.holder, ttl, ticket.note)
                        for r in ticket.resources
                    ]
                    return granted, None
                self._renew(db, ticket, now + ttl)
        except LeaseHeld:  # a lease changed hands between our read and grant: poll again
            return None, Waiting(ticket.resources, ticket.holder, (), (), 0.0)
        waited = self.book.clock.now() - ticket.enqueued_at
        return None, Waiting(ticket.resources, ticket.holder, held_by, ahead, waited)

    def _tickets(self, db: Database, now: float) -> list[Ticket]:
        db.execute("DELETE FROM lease_waits WHERE expires_at < ?", (now,))
        rows = db.fetchall(f"SELECT {_TICKET} FROM lease_waits ORDER BY rank, ticket")
        return [Ticket(t, tuple(r.split("\n")), *rest) for t, r, *rest in rows]

    @staticmethod
    def _renew(db: Database, ticket: Ticket, expires_at: float) -> None:
        """Keep the ticket alive; put it back with its first rank if it lapsed meanwhile."""
        db.execute(
            f"INSERT INTO lease_waits ({_TICKET}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (ticket) DO UPDATE SET expires_at = excluded.expires_at",
            (
                ticket.ticket,
                "\n".join(ticket.resources),
                ticket.holder,
                ticket.rank,
                ticket.priority,
                ticket.enqueued_at,
                expires_at,
                ticket.note,
            ),
        )

    def _leave(self, ticket: Ticket) -> None:
        with self.book.transaction() as db:
            db.execute("DELETE FROM lease_waits WHERE ticket = ?", (ticket.ticket,))


def keep_when_free(
    queue: LeaseQueue,
    resources: Iterable[str],
    holder: str,
    ttl: float,
    *,
    note: str = "",
    priority: int = 0,
    may_hold: Collection[str] = (),
    on_wait: Callable[[Waiting], None] | None = None,
) -> LeaseKeeper:
    """Wait for `holder`'s turn at `resources` (`LeaseQueue.acquire`), then keep the leases
    alive with a heartbeat (`LeaseKeeper`; its `previous` names what a dead holder left)."""
    acquired = queue.acquire(
        resources, holder, ttl, priority=priority, note=note, may_hold=may_hold, on_wait=on_wait
    )
    return LeaseKeeper.keep(queue.book, acquired, ttl)


def queued_hold(
    queue: LeaseQueue,
    holder: str,
    ttl: float,
    *,
    note: str = "",
    may_hold: Collection[str] = (),
    on_wait: Callable[[Waiting], None] | None = None,
    kept: list[LeaseKeeper] | None = None,
) -> LeaseHook:
    """A `LeaseHook` that waits for `holder`'s turn (`keep_when_free`) and keeps
    the instruments for the `with` block, then writes the hold into the lab's lease history
    (`LeaseQueue.history`); `kept` lists the keepers while they hold (a flow checks them before
    it moves anything)."""

    @contextmanager
    def hold(resources: Sequence[str]) -> Iterator[dict[str, Lease]]:
        clock = queue.book.clock
        asked = clock.now()
        with keep_when_free(
            queue, resources, holder, ttl, note=note, may_hold=may_hold, on_wait=on_wait
        ) as keeper:
            granted = clock.now()
            if kept is not None:
                kept.append(keeper)
            try:
                yield dict(keeper.previous)
            finally:
                if kept is not None:
                    kept.remove(keeper)
                released = clock.now()  # before the release: holds never seem to overlap
        with queue.book.transaction() as db:
            db.execute(
                "INSERT INTO lease_history (holder, resources, asked_at, granted_at, released_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (holder, "\n".join(sorted(set(resources))), asked, granted, released),
            )

    return hold
