"""The one ask → evaluate → tell loop, batch after batch, shared by campaigns
(`orchestrator.closed_loop.drive`), planner benchmarks (`planners.benchmark.run_benchmark`)
and active learning (`surrogates.active_learning`).

What differs between them is only what each step does: a campaign evaluates by dosing and
measuring, a benchmark by calling a function, active learning by asking an oracle; and only a
campaign has batches left from before a crash, a person reviewing a batch, or a planner slow
enough to be worth asking for the next batch while this one runs.

A cycling campaign (`kinds.cycling.loop.drive_cells`) keeps a polling loop of its own: its
cells run for days and overlap across batches (the next batch is proposed from interim
estimates while the last cells still cycle), which a batch-after-batch loop cannot express. It
proposes and concludes through the same `Campaign` steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

__all__ = ["AskTell", "Later", "run_ask_tell"]

Item = TypeVar("Item")
Result = TypeVar("Result")
Item_co = TypeVar("Item_co", covariant=True)


class Later(Protocol[Item_co]):
    """A batch being asked for in another thread (a `Future`, a Prefect task's future)."""

    def result(self) -> list[Item_co]: ...


@dataclass(frozen=True)
class AskTell(Generic[Item, Result]):
    """The steps of one loop."""

    ask: Callable[[], list[Item]]
    """The next batch; an empty one ends the loop (the budget is spent)."""
    evaluate: Callable[[list[Item]], list[Result]]
    tell: Callable[[list[Item], list[Result]], None]
    ask_ahead: Callable[[], Later[Item] | None] = lambda: None
    """Start asking for the next batch before evaluating this one (None: ask after telling)."""
    before_evaluate: Callable[[list[Item]], None] | None = None
    """Called with each batch first, before anything is asked ahead (e.g. a person's review)."""
    stop: Callable[[], bool] = lambda: False
    """Checked after each tell: True ends the loop early (someone finished the campaign)."""


def run_ask_tell(steps: AskTell[Item, Result], queued: Sequence[list[Item]] = ()) -> int:
    """Evaluate and tell the `queued` batches (asked before, e.g. by a process that died),
    then batch after batch until `ask` returns none or `stop` says so; the batches told."""
    queue = list(queued)
    batch = queue.pop(0) if queue else steps.ask()
    told = 0
    while batch:
        if steps.before_evaluate is not None:
            steps.before_evaluate(batch)
        upcoming: list[Item] | Later[Item] | None = queue.pop(0) if queue else steps.ask_ahead()
        results = steps.evaluate(batch)
        if upcoming is not None and not isinstance(upcoming, list):
            upcoming = upcoming.result()  # asked ahead: wait for it only now
        steps.tell(batch, results)
        told += 1
        if steps.stop():
            break
        batch = upcoming or steps.ask()
    return told
