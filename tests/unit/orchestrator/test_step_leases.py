"""Leases per step: a step holds only its own instruments, reconciles what a dead holder left
before its body runs, and each hold through the queue lands in the lab's lease history."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from electroloop.orchestrator.lease_queue import LeaseQueue, queued_hold
from electroloop.orchestrator.leases import Lease, LeaseBook
from electroloop.orchestrator.step_leases import DOSE, MEASURE, StepLeases


def test_a_step_holds_its_own_instruments_and_reconciles_a_dead_holders_first() -> None:
    dead = Lease("balance", "c/dead", "token", 0.0, 1.0)
    said: list[str] = []

    @contextmanager
    def hold(resources: Sequence[str]) -> Iterator[Mapping[str, Lease]]:
        said.append("hold " + ",".join(resources))
        yield {"balance": dead} if "balance" in resources else {}
        said.append("release")

    steps = StepLeases(
        hold,
        {DOSE: ["balance", "pump-EC"], MEASURE: ["meter"]},
        on_takeover=lambda left: said.append(f"reconcile {sorted(left)}"),
    )
    with steps.step(DOSE):
        said.append("dose")
    with steps.step(MEASURE):
        said.append("measure")
    with steps.step("cool"):  # a step that names no instrument holds none
        said.append("cool")
    assert said == [
        "hold balance,pump-EC",
        "reconcile ['balance']",
        "dose",
        "release",
        "hold meter",
        "measure",
        "release",
        "cool",
    ]


def test_each_hold_through_the_queue_is_written_to_the_lease_history(
    store_target: str | Path,
) -> None:
    with LeaseBook(store_target) as book:
        queue = LeaseQueue(book, poll=0.01)
        first = queued_hold(queue, "c1/run", 30.0)
        second = queued_hold(queue, "c2/run", 30.0)
        started = time.time()
        with first(["meter", "arm"]):
            time.sleep(0.05)
        with second(["meter"]):
            pass
        holds = queue.history(since=started)
        assert book.all() == []
    assert [(h.holder, h.resources) for h in holds] == [
        ("c1/run", ("arm", "meter")),
        ("c2/run", ("meter",)),
    ]
    assert holds[0].released_at - holds[0].granted_at >= 0.05
    assert holds[0].released_at <= holds[1].granted_at and all(h.wait >= 0 for h in holds)
