"""The fair lease queue: campaigns sharing instruments take turns by priority, then arrival;
none starves, none deadlocks, and a dead waiter drops out. On SQLite and on PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from electroloop.clocks import SteppedClock
from electroloop.errors import ConfigError
from electroloop.orchestrator.lease_queue import (
    HoldAndWait,
    LeaseQueue,
    Waiting,
    WaitTimedOut,
    keep_when_free,
)
from electroloop.orchestrator.leases import LeaseBook, LeaseKeeper
from tests.unit.orchestrator.test_leases import race


def wait_until(condition, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.01)


def test_a_free_instrument_is_granted_at_once_and_leaves_no_ticket(
    store_target: str | Path,
) -> None:
    with LeaseBook(store_target) as book:
        queue = LeaseQueue(book)
        (acquired,) = queue.acquire(["balance"], "c1/run", ttl=30)
        assert acquired.lease.holder == "c1/run" and book.held("balance") == acquired.lease
        assert queue.waiting() == []


def test_turns_follow_priority_then_arrival_and_waiting_ages_a_low_priority(
    store_target: str | Path,
) -> None:
    """A priority level is worth `aging` s of waiting: a step that arrived 200 s after a
    low-priority one but one level higher goes first; one that arrives 1000 s later does not
    (the first has waited longer than a level is worth)."""
    clock = SteppedClock(1_000.0)
    served: list[str] = []
    book = LeaseBook(store_target, clock=clock)
    held = book.acquire("meter", "c0/run", ttl=1e6).lease
    queue = LeaseQueue(book, aging=600.0)

    def step(holder: str, priority: int) -> None:
        with LeaseBook(store_target, clock=clock) as own:
            (got,) = LeaseQueue(own, aging=600.0).acquire(
                ["meter"], holder, ttl=1e5, priority=priority
            )
            served.append(holder)
            own.release(got.lease)

    threads = []
    for holder, priority, later in [
        ("low", 0, 200.0),
        ("early-high", 1, 800.0),
        ("late-high", 1, 0),
    ]:
        threads.append(threading.Thread(target=step, args=(holder, priority)))
        threads[-1].start()
        arrived = len(threads)
        wait_until(lambda: len(queue.waiting()) == arrived)  # noqa: B023  read before it changes
        clock.time += later
    assert [t.holder for t in queue.waiting()] == ["early-high", "low", "late-high"]
    book.release(held)
    for thread in threads:
        thread.join(timeout=20)
    assert served == ["early-high", "low", "late-high"]
    assert queue.waiting() == [] and book.all() == []
    book.close()


def test_a_two_instrument_step_is_not_overtaken_by_one_instrument_steps(
    store_target: str | Path,
) -> None:
    """Head of line: once a step waiting for balance and meter is first, a later step that
    wants only the (free) balance waits behind it instead of taking it."""
    with LeaseBook(store_target) as book:
        meter = book.acquire("meter", "c0/run", ttl=60).lease
        queue = LeaseQueue(book)
        served: list[str] = []

        def step(holder: str, resources: list[str]) -> None:
            with LeaseBook(store_target) as own:
                got = LeaseQueue(own).acquire(resources, holder, ttl=60)
                served.append(holder)
                for acquired in got:
                    own.release(acquired.lease)

        both = threading.Thread(target=step, args=("both", ["meter", "balance"]))
        both.start()
        wait_until(lambda: len(queue.waiting()) == 1)
        only = threading.Thread(target=step, args=("balance-only", ["balance"]))
        only.start()
        wait_until(lambda: len(queue.waiting()) == 2)
        time.sleep(0.3)  # several polls: the free balance stays free for the first in line
        assert served == [] and book.held("balance") is None
        book.release(meter)
        both.join(timeout=20)
        only.join(timeout=20)
        assert served == ["both", "balance-only"]


OPPOSITE = """
import os, sys, time
from electroloop.orchestrator.leases import LeaseBook
from electroloop.orchestrator.lease_queue import LeaseQueue
path, name, log, order = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
book = LeaseBook(path)
queue = LeaseQueue(book, poll=0.005)
print("ready", flush=True)
start = float(sys.stdin.readline())
time.sleep(max(0.0, start - time.time()))
fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
for _ in range(10):
    got = queue.acquire(order, name, ttl=30)
    os.write(fd, f"enter {name}\\n".encode())
    time.sleep(0.005)
    os.write(fd, f"exit {name}\\n".encode())
    for acquired in got:
        assert book.release(acquired.lease)
print("done", flush=True)
"""


def test_two_campaigns_listing_two_instruments_in_opposite_orders_never_deadlock(
    store_target: str | Path, tmp_path: Path
) -> None:
    LeaseBook(store_target).close()
    log = tmp_path / "critical-section.log"
    lines = race(
        OPPOSITE,
        [
            [str(store_target), "campaign-A", str(log), "balance,meter"],
            [str(store_target), "campaign-B", str(log), "meter,balance"],
        ],
    )
    assert lines == ["done", "done"]  # both finished: no deadlock
    entries = log.read_text().splitlines()
    assert sorted(entries[::2]) == ["enter campaign-A"] * 10 + ["enter campaign-B"] * 10
    for enter, leave in zip(entries[::2], entries[1::2], strict=True):  # never both inside
        assert leave == "exit " + enter.removeprefix("enter ")


def test_waiting_while_holding_an_instrument_is_refused(store_target: str | Path) -> None:
    with LeaseBook(store_target) as book:
        queue = LeaseQueue(book)
        book.acquire("campaign:c1", "c1/run", ttl=60)
        queue.acquire(["balance"], "c1/run", ttl=60, may_hold=["campaign:c1"])  # its own lease
        with pytest.raises(HoldAndWait, match="'c1/run' holds balance and asked for meter"):
            queue.acquire(["meter"], "c1/run", ttl=60, may_hold=["campaign:c1"])
        assert queue.waiting() == []


def test_a_waiter_hears_who_holds_what_and_gives_up_at_its_timeout(
    store_target: str | Path,
) -> None:
    with LeaseBook(store_target) as book:
        book.acquire("cycler#3", "c2/run", ttl=60, note="flow run 7")
        heard: list[Waiting] = []
        with pytest.raises(WaitTimedOut, match=r"for cycler#3 \(held by 'c2/run' \(flow run 7\)"):
            LeaseQueue(book).acquire(
                ["cycler#3"], "c1/run", ttl=60, timeout=0.3, on_wait=heard.append
            )
        assert len(heard) == 1 and heard[0].held_by[0].holder == "c2/run"
        assert LeaseQueue(book).waiting() == []  # a waiter that gave up left the queue


@pytest.mark.parametrize(
    ("resources", "priority", "field"),
    [([], 0, "resources"), (["meter"], 0.5, "priority")],
)
def test_bad_requests_name_the_field(
    store_target: str | Path, resources: list[str], priority: float, field: str
) -> None:
    with LeaseBook(store_target) as book, pytest.raises(ConfigError, match=field):
        LeaseQueue(book).acquire(resources, "c1/run", ttl=60, priority=priority)  # type: ignore[arg-type]


DEAD_WAITER = """
import sys
from electroloop.orchestrator.leases import LeaseBook
from electroloop.orchestrator.lease_queue import LeaseQueue
queue = LeaseQueue(LeaseBook(sys.argv[1]))
ttl = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
queue.acquire(["meter"], "doomed/run", ttl=ttl, on_wait=lambda w: print("waiting", flush=True))
"""


def test_a_waiter_killed_with_sigkill_drops_out_of_the_queue(store_target: str | Path) -> None:
    with LeaseBook(store_target) as book:
        meter = book.acquire("meter", "c0/run", ttl=60).lease
        queue = LeaseQueue(book)
        doomed = subprocess.Popen(
            [sys.executable, "-c", DEAD_WAITER, str(store_target)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert doomed.stdout is not None and doomed.stdout.readline().strip() == "waiting"
            assert [t.holder for t in queue.waiting()] == ["doomed/run"]
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(timeout=10)
        finally:
            if doomed.poll() is None:
                doomed.kill()
        wait_until(lambda: queue.waiting() == [], seconds=5.0)  # its ticket lapsed (ttl 1 s)
        book.release(meter)
        (got,) = queue.acquire(["meter"], "c1/run", ttl=60, timeout=5.0)
        assert got.lease.holder == "c1/run"


def test_a_campaign_waits_its_turn_at_instruments_another_holds_then_keeps_them(
    store_target: str | Path,
) -> None:
    """What a campaign flow does at start (`keep_when_free`): it waits, saying for whom, while
    another campaign holds one of its instruments, and keeps them alive once it has them."""
    with LeaseBook(store_target) as book:
        other = book.acquire("balance", "c2/run", ttl=60, note="flow run 9").lease
        book.acquire("campaign:c1", "c1/run", ttl=60)
        heard: list[str] = []
        kept: list[LeaseKeeper] = []

        def start() -> None:
            with LeaseBook(store_target) as own:
                keeper = keep_when_free(
                    LeaseQueue(own),
                    ["balance", "meter"],
                    "c1/run",
                    ttl=1.0,
                    may_hold=["campaign:c1"],
                    on_wait=lambda waiting: heard.append(waiting.describe()),
                )
                kept.append(keeper)
                time.sleep(1.5)  # past the ttl: the heartbeat keeps them
                keeper.check()
                keeper.release()

        waiter = threading.Thread(target=start)
        waiter.start()
        wait_until(lambda: bool(heard))
        assert "balance (held by 'c2/run' (flow run 9))" in heard[0] and not kept
        book.release(other)
        waiter.join(timeout=20)
        assert kept and sorted(lease.resource for lease in kept[0].leases) == ["balance", "meter"]
        assert [lease.resource for lease in book.all()] == ["campaign:c1"]  # released after


def test_releasing_a_dead_runs_leases_also_takes_its_tickets_out_of_the_queue(
    store_target: str | Path,
) -> None:
    """A resume frees the dead run's leases at once (`release_holder`): its queue tickets go
    too, instead of standing ahead of the resumed run until they lapse."""
    with LeaseBook(store_target) as book:
        meter = book.acquire("meter", "c0/run", ttl=60).lease
        queue = LeaseQueue(book)
        doomed = subprocess.Popen(
            [sys.executable, "-c", DEAD_WAITER, str(store_target), "600"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert doomed.stdout is not None and doomed.stdout.readline().strip() == "waiting"
        finally:
            doomed.kill()
            doomed.wait(timeout=10)
        assert [t.holder for t in queue.waiting()] == ["doomed/run"]  # a 600 s ticket
        book.release_holder("doomed/run")
        assert queue.waiting() == []
        book.release(meter)
