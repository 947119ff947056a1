"""The seams between layers, as small Protocols in one place (bluesky's `protocols.py` habit).

An implementation satisfies them structurally: it never imports this module to inherit. The
engine (`orchestrator`) sees planners, clocks and the lab only through these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

from electroloop.models import Candidate, Estimate, Observation, Transcript

__all__ = [
    "AbandonsCandidates",
    "BottleRack",
    "Clock",
    "ConductivityProbe",
    "DosingStation",
    "LearnsInterim",
    "LearnsUnplanned",
    "Planner",
    "SampleHandler",
    "TrafficLog",
]


class Clock(Protocol):
    """Time as an instrument or a lease sees it, in seconds: the wall clock on a bench, a
    `SimClock` running faster in a dry run, a `SteppedClock` that moves only when slept on
    (replayed transcripts), a hand-moved clock in tests."""

    def now(self) -> float:
        """Seconds on this clock (an arbitrary origin; only differences mean anything, except
        for the wall clock, whose origin is the Unix epoch)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let `seconds` pass on this clock."""
        ...


@runtime_checkable
class Planner(Protocol):
    """What the orchestrator needs of a planner; scientists implement it in a plain class.

    Construction: ``Planner(space, goal, seed)``. Candidate ids are unique for the planner's
    lifetime, including across a `state()` / `from_state()` round trip. Every candidate id
    returned by `ask` ends exactly once: in `tell`, `mark_failed`, or (for a planner that
    `AbandonsCandidates`) `mark_abandoned`.

    Three abilities are optional, each its own protocol below, and checked once when the
    campaign wraps its planner (`planners.capabilities.PlannerPort`).
    """

    name: str

    def ask(self, n: int) -> list[Candidate]:
        """Propose `n` new candidates, each valid in the search space."""
        ...

    def tell(self, observations: Sequence[Observation]) -> None:
        """Learn from measured candidates previously returned by `ask`."""
        ...

    def mark_failed(self, candidate_id: str, reason: str) -> None:
        """Record that a candidate could not be measured; it may be proposed again."""
        ...

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state from which `from_state` rebuilds this planner exactly."""
        ...

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """Rebuild a planner saved with `state()`."""
        ...


@runtime_checkable
class AbandonsCandidates(Protocol):
    """Can tell a veto from a fault: an abandoned candidate is never proposed again."""

    def mark_abandoned(self, candidate_id: str, reason: str) -> None:
        """Record a human or safety veto: the candidate's design is never proposed again."""
        ...


@runtime_checkable
class LearnsUnplanned(Protocol):
    """Can learn from measured designs it did not propose (a reviewer's edits, a warm start)."""

    def tell_unplanned(self, observations: Sequence[Observation]) -> None: ...


@runtime_checkable
class LearnsInterim(Protocol):
    """Can learn from estimates of a candidate still running (a cell part-way through its
    cycle-life test); a later call, or `tell`, supersedes them."""

    def tell_interim(self, candidate_id: str, values: Mapping[str, Estimate]) -> None: ...


# -- the lab, as a kind sees it: concrete drivers, a technician or a simulator fill these ---


class DosingStation(Protocol):
    """Doses stock masses into the current vial and reports what the balance weighed."""

    def dose(self, targets: Mapping[str, float]) -> dict[str, float]:
        """Stock name -> target grams in; stock name -> weighed grams out."""
        ...

    def shortfall(self, targets: Mapping[str, float]) -> dict[str, float]:
        """Stock name -> grams missing from its bottle to dose `targets` (only those short)."""
        ...

    def refill(self, stock: str, mass: float) -> None:
        """Book `mass` g poured into the bottle of `stock` by a person."""
        ...

    @property
    def remaining(self) -> dict[str, float]:
        """Stock name -> grams left in its bottle by the station's bookkeeping."""
        ...


class ConductivityProbe(Protocol):
    """Reads the conductivity (mS/cm) and temperature (°C) of the sample in the current vial."""

    PARSER_VERSION: ClassVar[str]
    """Version of the probe's reply parsing, recorded with every measurement."""

    def conductivity(self) -> float: ...

    def temperature(self) -> float: ...


class SampleHandler(Protocol):
    """Moves vials between places (`electroloop.samples`): the simulated bench, a technician
    confirming a manual step, a robot arm."""

    name: str
    """Who moves the vials, as the event log records it ("technician", "simulated bench")."""

    def move(self, vial: str, source: str, target: str) -> None:
        """Carry `vial` from `source` to `target`; raises `InstrumentError` if it could not."""
        ...

    def find(self, vial: str, place: str, masses: Mapping[str, float]) -> bool:
        """After a crash: bring `vial`, last recorded at `place` and dosed with `masses`
        (stock -> g), back to `place`. False if it is gone (its trial then fails; it is never
        dosed again)."""
        ...


class BottleRack(Protocol):
    """Where stock bottles stand; a person tops them up (a simulator mirrors that)."""

    def refill_bottle(self, stock: str, mass: float) -> None: ...


class TrafficLog(Protocol):
    """Raw traffic of one instrument, taken in pieces: each `take` returns what came since."""

    def take(self) -> Transcript: ...
