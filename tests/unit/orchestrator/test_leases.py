"""Leases give one flow at a time an instrument, across processes, and die with their worker."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from electroloop.clocks import SteppedClock
from electroloop.errors import ConfigError, ElectroloopError
from electroloop.orchestrator.leases import (
    LeaseBook,
    LeaseHeld,
    LeaseKeeper,
    LeaseLost,
)

SMU = "TCPIP::10.0.0.5::4001::SOCKET"
CHANNEL = "cycler@TCPIP::10.0.0.9::5025::SOCKET#3"

FAKE_CLOCK = 1e-9
"""Absolute tolerance, s, for times the leases compute on the fake clock (a reading near 1000 s
plus a ttl): only the additions' rounding (~1e-13 s) may differ, and leases last seconds."""


@pytest.fixture
def clock() -> SteppedClock:
    """Wall-clock seconds the test moves by hand, so expiry is tested without sleeping."""
    return SteppedClock(start=1_000.0)


@pytest.fixture
def db(store_target: str | Path) -> str | Path:
    """The campaigns database: every lease test runs on SQLite and on PostgreSQL."""
    return store_target


def test_acquire_release_and_reacquire(db: str | Path, clock: SteppedClock) -> None:
    with LeaseBook(db, clock=clock) as book:
        first = book.acquire(SMU, "campaign-A", ttl=60, note="flow run 1")
        assert first.previous is None and not first.took_over
        lease = first.lease
        assert (lease.resource, lease.holder, lease.note) == (SMU, "campaign-A", "flow run 1")
        assert lease.expires_at == pytest.approx(lease.acquired_at + 60, abs=FAKE_CLOCK)
        assert lease.acquired_at == clock.now()  # the clock's reading, copied
        assert len(lease.token) == 32
        assert book.held(SMU) == lease  # read back from the table: its times stored as they were
        assert book.release(lease) is True
        assert book.held(SMU) is None
        assert book.release(lease) is False  # already gone: no error
        again = book.acquire(SMU, "campaign-B", ttl=60)
        assert again.previous is None and again.lease.token != lease.token


def test_lease_held_names_resource_holder_note_and_remaining_seconds(
    db: str | Path, clock: SteppedClock
) -> None:
    with LeaseBook(db, clock=clock) as book:
        book.acquire(SMU, "campaign-A", ttl=60, note="flow run 7f3a")
        clock.sleep(17.5)
        with pytest.raises(LeaseHeld) as caught:
            book.acquire(SMU, "campaign-B", ttl=60)
    message = str(caught.value)
    assert SMU in message and "'campaign-A'" in message and "flow run 7f3a" in message
    assert "another 43 s" in message and "stop that flow" in message
    assert caught.value.lease.holder == "campaign-A"
    assert caught.value.remaining == pytest.approx(42.5, abs=FAKE_CLOCK)
    assert isinstance(caught.value, ElectroloopError)
    assert str(pickle.loads(pickle.dumps(caught.value))) == message


def test_expired_lease_is_taken_over_and_reported(db: str | Path, clock: SteppedClock) -> None:
    with LeaseBook(db, clock=clock) as book:
        dead = book.acquire(CHANNEL, "campaign-A", ttl=30, note="flow run 1").lease
        clock.sleep(29.9)
        with pytest.raises(LeaseHeld):
            book.acquire(CHANNEL, "campaign-B", ttl=30)
        clock.sleep(0.1)
        assert book.held(CHANNEL) is None  # expired leases are not reported as held
        assert book.held(CHANNEL, include_expired=True) == dead
        taken = book.acquire(CHANNEL, "campaign-B", ttl=30)
        assert taken.previous == dead and taken.took_over
        assert book.held(CHANNEL) == taken.lease


def test_same_holder_takes_over_unexpired_lease_and_reports_it(
    db: str | Path, clock: SteppedClock
) -> None:
    with LeaseBook(db, clock=clock) as book:
        before = book.acquire(SMU, "campaign-A", ttl=600, note="worker 1").lease
        resumed = book.acquire(SMU, "campaign-A", ttl=600, note="worker 2")
        assert resumed.previous == before
        assert resumed.lease.token != before.token and resumed.lease.note == "worker 2"


def test_acquire_all_is_all_or_nothing(db: str | Path, clock: SteppedClock) -> None:
    with LeaseBook(db, clock=clock) as book:
        other = book.acquire("balance", "campaign-B", ttl=60).lease
        with pytest.raises(LeaseHeld) as caught:
            book.acquire_all(["pump", "balance", "smu"], "campaign-A", ttl=60)
        assert caught.value.lease == other
        assert book.held("pump") is None and book.held("smu") is None
        assert [lease.resource for lease in book.all()] == ["balance"]

        book.release(other)
        granted = book.acquire_all(["smu", "pump", "balance", "pump"], "campaign-A", ttl=60)
        assert [a.lease.resource for a in granted] == ["balance", "pump", "smu"]
        assert {a.lease.holder for a in granted} == {"campaign-A"}


def test_renew_and_release_after_takeover(db: str | Path, clock: SteppedClock) -> None:
    with LeaseBook(db, clock=clock) as book:
        mine = book.acquire(SMU, "campaign-A", ttl=10).lease
        clock.sleep(5)
        renewed = book.renew(mine, ttl=10)
        assert renewed.token == mine.token
        assert renewed.expires_at == pytest.approx(clock.now() + 10, abs=FAKE_CLOCK)
        clock.sleep(11)
        theirs = book.acquire(SMU, "campaign-B", ttl=10, note="flow run 9").lease
        with pytest.raises(LeaseLost, match="taken over by 'campaign-B' \\(flow run 9\\)") as lost:
            book.renew(mine, ttl=10)
        assert lost.value.current == theirs
        assert book.release(mine) is False
        assert book.held(SMU) == theirs  # the stale token neither extended nor freed it
        book.release(theirs)
        with pytest.raises(LeaseLost, match="no longer exists"):
            book.renew(theirs, ttl=10)


def test_lapsed_lease_nobody_took_can_be_renewed(db: str | Path, clock: SteppedClock) -> None:
    with LeaseBook(db, clock=clock) as book:
        mine = book.acquire(SMU, "campaign-A", ttl=10).lease
        clock.sleep(15)
        assert book.renew(mine, ttl=10).expires_at == pytest.approx(
            clock.now() + 10, abs=FAKE_CLOCK
        )


def test_release_holder_and_all(db: str | Path, clock: SteppedClock) -> None:
    with LeaseBook(db, clock=clock) as book:
        book.acquire("pump", "campaign-A", ttl=5)
        book.acquire("smu", "campaign-A", ttl=50)
        book.acquire("balance", "campaign-B", ttl=50)
        clock.sleep(10)
        everything = book.all()
        assert [lease.resource for lease in everything] == ["balance", "pump", "smu"]
        assert [lease.is_expired(clock.now()) for lease in everything] == [False, True, False]
        remaining = [lease.remaining(clock.now()) for lease in everything]
        assert remaining == pytest.approx([40, 0, 40], abs=FAKE_CLOCK)
        released = book.release_holder("campaign-A")
        assert [lease.resource for lease in released] == ["pump", "smu"]
        assert [lease.holder for lease in book.all()] == ["campaign-B"]
        assert book.release_holder("campaign-A") == []


def test_table_lives_beside_the_event_log(db: str | Path) -> None:
    from electroloop.orchestrator.events import CampaignStarted
    from electroloop.orchestrator.store import CampaignStore

    with CampaignStore(db) as store, LeaseBook(db) as book:
        store.append("c1", CampaignStarted(spec={}, planner="sobol"))
        book.acquire(SMU, "c1", ttl=60)
        assert store.campaign_ids() == ["c1"] and book.held(SMU) is not None
    with LeaseBook(db) as reopened:
        assert reopened.held(SMU) is not None


@pytest.mark.parametrize(
    ("resource", "holder", "ttl", "field"),
    [
        ("", "campaign-A", 10, "resource"),
        (SMU, "", 10, "holder"),
        (SMU, "campaign-A", 0, "ttl"),
        (SMU, "campaign-A", -1, "ttl"),
        (SMU, "campaign-A", math.nan, "ttl"),
        (SMU, "campaign-A", math.inf, "ttl"),
    ],
)
def test_validation_errors_name_the_field(
    db: str | Path, resource: str, holder: str, ttl: float, field: str
) -> None:
    with LeaseBook(db) as book:
        with pytest.raises(ConfigError, match=f"^{field} must be"):
            book.acquire(resource, holder, ttl)
        assert book.all() == []


def test_renew_and_keeper_validate_ttl(db: str | Path) -> None:
    with LeaseBook(db) as book:
        lease = book.acquire(SMU, "campaign-A", ttl=10).lease
        with pytest.raises(ConfigError, match="ttl must be a finite number of seconds > 0"):
            book.renew(lease, ttl=0)
        with pytest.raises(ConfigError, match="ttl"):
            LeaseKeeper(book, [lease], ttl=-1)
        with pytest.raises(ConfigError, match="one holder"):
            other = book.acquire("pump", "campaign-B", ttl=10).lease
            LeaseKeeper(book, [lease, other], ttl=10)


def test_keeper_keeps_a_short_lease_alive_past_its_ttl(db: str | Path) -> None:
    with LeaseBook(db) as book, LeaseBook(db) as rival:
        with LeaseKeeper.acquire(book, [SMU, CHANNEL], "campaign-A", ttl=0.6) as keeper:
            assert keeper.previous == {}
            time.sleep(1.5)
            for resource in (SMU, CHANNEL):
                with pytest.raises(LeaseHeld):
                    rival.acquire(resource, "campaign-B", ttl=10)
            keeper.check()
            assert all(lease.expires_at > time.time() for lease in keeper.leases)
        assert not keeper._thread.is_alive()
        assert rival.all() == []  # released on exit
        assert rival.acquire(SMU, "campaign-B", ttl=10).previous is None


def test_keeper_releases_on_exception(db: str | Path) -> None:
    with LeaseBook(db) as book:
        with pytest.raises(RuntimeError, match="pump jammed"):
            with LeaseKeeper.acquire(book, ["pump", "balance"], "campaign-A", ttl=5) as keeper:
                raise RuntimeError("pump jammed")
        assert book.all() == []
        assert not keeper._thread.is_alive()
        keeper.release()  # idempotent


def test_keeper_reports_previous_and_check_raises_after_takeover(db: str | Path) -> None:
    with LeaseBook(db) as book:
        dead = book.acquire(SMU, "campaign-A", ttl=60, note="dead worker").lease
        keeper = LeaseKeeper.acquire(book, [SMU], "campaign-A", ttl=60, note="resumed")
        assert keeper.previous == {SMU: dead}  # reconcile the SMU before using it
        keeper.check()
        book.acquire(SMU, "campaign-A", ttl=60, note="re-attached elsewhere")
        with pytest.raises(LeaseLost, match="taken over by 'campaign-A' \\(re-attached"):
            keeper.check()
        keeper.release()  # does not free the new holder's lease
        held = book.held(SMU)
        assert held is not None and held.note == "re-attached elsewhere"


def test_keeper_check_raises_when_heartbeat_has_lapsed(db: str | Path, clock: SteppedClock) -> None:
    with LeaseBook(db, clock=clock) as book:
        with LeaseKeeper.acquire(book, [SMU], "campaign-A", ttl=30) as keeper:
            keeper.check()
            clock.sleep(31)  # the real-time heartbeat (every 10 s) has not run
            with pytest.raises(LeaseLost, match="has lapsed"):
                keeper.check()


RACER = """
import json, sys, time
from electroloop.orchestrator.leases import LeaseBook, LeaseHeld
path, name, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
book = LeaseBook(path)
print("ready", flush=True)
start = float(sys.stdin.readline())
wins = []
for r in range(rounds):
    time.sleep(max(0.0, start + r * 0.03 - time.time()))
    try:
        book.acquire(f"channel#{r}", name, ttl=60, note=f"round {r}")
    except LeaseHeld:
        continue
    wins.append(r)
print(json.dumps(wins), flush=True)
"""

EXCLUSIVE = """
import os, sys, time
from electroloop.orchestrator.leases import LeaseBook, LeaseHeld
path, name, log = sys.argv[1], sys.argv[2], sys.argv[3]
book = LeaseBook(path)
print("ready", flush=True)
start = float(sys.stdin.readline())
time.sleep(max(0.0, start - time.time()))
fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
entered = 0
while entered < 10:
    try:
        acquired = book.acquire("balance", name, ttl=30)
    except LeaseHeld:
        time.sleep(0.002)
        continue
    os.write(fd, f"enter {name}\\n".encode())
    time.sleep(0.005)
    os.write(fd, f"exit {name}\\n".encode())
    assert book.release(acquired.lease)
    entered += 1
    time.sleep(0.002)
print("done", flush=True)
"""


def race(script: str, argv: list[list[str]]) -> list[str]:
    """Start one process per argv, release them at the same instant, return their last lines."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for args in argv
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        start = f"{time.time() + 0.1}\n"
        for proc in procs:  # every process gets the start time before any is waited for
            assert proc.stdin is not None
            proc.stdin.write(start)
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=30)[0] for proc in procs]
        assert [proc.returncode for proc in procs] == [0] * len(procs)
        return [out.strip().splitlines()[-1] for out in outputs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_two_processes_racing_never_both_win(db: str | Path) -> None:
    import json

    LeaseBook(db).close()  # create the file and schema before the race
    lines = race(RACER, [[str(db), "campaign-A", "20"], [str(db), "campaign-B", "20"]])
    wins = dict(zip(["campaign-A", "campaign-B"], map(json.loads, lines), strict=True))
    assert sorted(wins["campaign-A"] + wins["campaign-B"]) == list(range(20))
    with LeaseBook(db) as book:
        for holder, rounds in wins.items():
            for r in rounds:
                lease = book.held(f"channel#{r}")
                assert lease is not None and lease.holder == holder


def test_two_processes_never_hold_the_same_resource_at_once(db: str | Path, tmp_path: Path) -> None:
    LeaseBook(db).close()
    log = tmp_path / "critical-section.log"
    race(EXCLUSIVE, [[str(db), "campaign-A", str(log)], [str(db), "campaign-B", str(log)]])
    lines = log.read_text().splitlines()
    assert sorted(lines[::2]) == ["enter campaign-A"] * 10 + ["enter campaign-B"] * 10
    for enter, leave in zip(lines[::2], lines[1::2], strict=True):
        assert enter.startswith("enter ") and leave == "exit " + enter.removeprefix("enter ")


DOOMED = """
import sys, time
from electroloop.orchestrator.leases import LeaseBook, LeaseKeeper
book = LeaseBook(sys.argv[1])
keeper = LeaseKeeper.acquire(book, [sys.argv[2]], "campaign-doomed", ttl=1.0, note="flow run 42")
print("held", flush=True)
time.sleep(60)
"""


def test_no_lock_survives_a_worker_killed_with_sigkill(db: str | Path) -> None:
    LeaseBook(db).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", DOOMED, str(db), CHANNEL], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with LeaseBook(db) as book:
            time.sleep(1.3)  # longer than the ttl: the worker's heartbeat keeps it alive
            with pytest.raises(LeaseHeld, match="campaign-doomed"):
                book.acquire(CHANNEL, "campaign-B", ttl=5)

            proc.kill()  # SIGKILL: no finally, no atexit, no release
            proc.wait()
            killed_at = time.time()
            assert proc.returncode == -9
            assert book.held(CHANNEL) is not None  # still leased right after the kill...
            with pytest.raises(LeaseHeld):
                book.acquire(CHANNEL, "campaign-B", ttl=5)

            while True:  # ...until it expires, at most one ttl later
                try:
                    taken = book.acquire(CHANNEL, "campaign-B", ttl=5)
                    break
                except LeaseHeld as held:
                    assert time.time() - killed_at < 3.0, "dead worker's lease never expired"
                    time.sleep(min(held.remaining, 0.05))
            assert time.time() - killed_at <= 1.0 + 0.5
            assert taken.previous is not None
            assert (taken.previous.holder, taken.previous.note) == (
                "campaign-doomed",
                "flow run 42",
            )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_holder_whose_process_is_gone_is_taken_over_without_waiting(db: str | Path) -> None:
    """A worker killed with SIGKILL leaves its campaign lease until it expires; a resume on the
    same host sees that the process named in the lease is gone and takes over at once."""
    import socket

    from electroloop.orchestrator.leases import process_gone, process_note
    from electroloop.workflows.flows import _take_over_campaign

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    host = socket.gethostname()
    with LeaseBook(db) as book:
        dead = book.acquire("campaign:c", "c/run-1", 300.0, note=f"pid {ended.pid} on {host}")
        assert process_gone(dead.lease)
        started = time.monotonic()
        taken = _take_over_campaign(book, "c", "c/run-2", 300.0)
        assert time.monotonic() - started < 5.0  # not the 300 s lease
        assert taken.previous is not None and taken.previous.holder == "c/run-1"
        assert taken.lease.holder == "c/run-2" and taken.lease.note == process_note()
        # a live holder, or one on another host, is never presumed dead
        assert not process_gone(taken.lease)
        elsewhere = replace(dead.lease, note=f"pid {ended.pid} on another-host")
        assert not process_gone(elsewhere) and not process_gone(replace(dead.lease, note=""))
