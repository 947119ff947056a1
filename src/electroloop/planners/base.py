"""The `Planner` protocol: the seam between the campaign loop and any optimisation strategy.

A planner proposes candidates with `ask`, learns from `tell`, forgets nothing across
`state()`/`from_state()`, and distinguishes three ends of a candidate: measured (`tell`),
failed (`mark_failed`: an instrument fault; the same formulation may be proposed again) and
abandoned (`mark_abandoned`: a human or safety veto; the formulation is never proposed again).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, Self, runtime_checkable

from electroloop.models import Candidate, Observation


@runtime_checkable
class Planner(Protocol):
    """What the orchestrator needs of a planner; scientists implement it in a plain class.

    Construction: ``Planner(space, goal, seed)``. Candidate ids are unique for the
    planner's lifetime, including across a `state()` / `from_state()` round trip. Every
    candidate id returned by `ask` ends exactly once: in `tell`, `mark_failed` or
    `mark_abandoned`.

    `mark_abandoned` is optional for classes loaded by `resolve_planner`: a planner without it
    is told about an abandoned candidate through `mark_failed` (so it may propose it again).
    So is ``tell_unplanned(observations)``: measured formulations the planner did not propose
    (a reviewer's edits); a planner without it is not told about them. And so is
    ``tell_interim(candidate_id, values)``: estimates (`Estimate`, mean and std per goal
    metric) for a candidate still running, e.g. a cell part-way through a cycle-life test; a
    later call or `tell` supersedes them. A planner without it waits for `tell`.
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

    def mark_abandoned(self, candidate_id: str, reason: str) -> None:
        """Record a human or safety veto: the candidate's formulation is never proposed again."""
        ...

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state from which `from_state` rebuilds this planner exactly."""
        ...

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """Rebuild a planner saved with `state()`."""
        ...
