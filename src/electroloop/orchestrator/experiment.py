"""What a campaign kind provides the engine: an `Experiment` that runs one trial on the bench.

The engine (`closed_loop.Campaign`) proposes, reviews, records and tells; how a candidate
becomes numbers is the kind's. A kind's `run` stores each fact through the campaign as soon as
it exists (so a crash loses nothing and a resumed trial skips what is stored), and either
returns the trial's `Outcome` or raises `TrialFailed` with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from electroloop.models import Candidate, Design, DosingRecord, Measurement

if TYPE_CHECKING:
    from electroloop.orchestrator.closed_loop import Campaign


@dataclass(frozen=True)
class Outcome:
    """What a trial produced: the metrics told to the planner, and the records behind them."""

    values: Mapping[str, float]
    errors: Mapping[str, float] = field(default_factory=dict)
    """Standard errors of some `values` (metric -> error), told to the planner as noise."""
    as_dosed: Design | None = None
    """The design as actually made (weighed masses), when it differs from the proposal."""
    dosing: DosingRecord | None = None
    measurement: Measurement | None = None
    series: Mapping[str, Sequence[tuple[int, float]]] = field(default_factory=dict)
    """Per-step metrics, e.g. a cell's discharge capacity per cycle: name -> (step, value)."""
    artifacts: Sequence[Path] = ()
    """Files that belong to the trial, e.g. a cell's plots and exported records."""


class TrialFailed(Exception):  # noqa: N818  a trial's end, not a programming error
    """A trial ended without a result (an instrument fault, a lost vial, a tripped cell)."""

    def __init__(self, reason: str, dosing: DosingRecord | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.dosing = dosing


class Experiment(Protocol):
    """One campaign kind's trial on the bench, as the engine runs it."""

    def check(self, design: Design) -> None:
        """Raise ValueError naming the field if `design` lies outside the campaign's space."""
        ...

    def run(self, candidate: Candidate, campaign: Campaign) -> Outcome:
        """Run the candidate's trial, storing each fact through `campaign.record` as it exists;
        raise `TrialFailed` if it cannot end in a result."""
        ...
