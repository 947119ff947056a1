"""A planner with every optional ability, each decided once when the campaign wraps it.

`Planner` has three optional abilities (`protocols.AbandonsCandidates`, `LearnsUnplanned`,
`LearnsInterim`). Rather than asking at every call site whether a planner has a method, the
campaign wraps its planner in a `PlannerPort` once; the port says then, in one log line, what
the planner cannot do and what happens instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from electroloop.models import Estimate, Observation
from electroloop.protocols import AbandonsCandidates, LearnsInterim, LearnsUnplanned, Planner

logger = logging.getLogger(__name__)


class PlannerPort:
    """Calls a planner's optional methods, or their documented fallbacks.

    - no `mark_abandoned`: an abandoned candidate is marked failed (so it may come back; the
      event log still records the veto);
    - no `tell_unplanned`: reviewers' edits are not told (the event log keeps them);
    - no `tell_interim`: a running cell's estimates are not told; the planner waits for `tell`.
    """

    def __init__(self, planner: Planner) -> None:
        self.planner = planner
        self._abandon = planner.mark_abandoned if isinstance(planner, AbandonsCandidates) else None
        self._unplanned = planner.tell_unplanned if isinstance(planner, LearnsUnplanned) else None
        self._interim = planner.tell_interim if isinstance(planner, LearnsInterim) else None
        missing = [
            text
            for method, text in (
                (self._abandon, "tell a veto from a fault (vetoes are marked failed)"),
                (self._unplanned, "learn from reviewers' edits (not told)"),
                (self._interim, "take interim results (it waits for each cell's end)"),
            )
            if method is None
        ]
        if missing:
            logger.info("planner %s cannot %s", planner.name, "; cannot ".join(missing))

    def mark_abandoned(self, candidate_id: str, reason: str) -> None:
        if self._abandon is None:
            self.planner.mark_failed(candidate_id, f"abandoned: {reason}")
        else:
            self._abandon(candidate_id, reason)

    def tell_unplanned(self, observations: Sequence[Observation]) -> None:
        if observations and self._unplanned is not None:
            self._unplanned(observations)

    def tell_interim(self, candidate_id: str, values: Mapping[str, Estimate]) -> None:
        if self._interim is not None:
            self._interim(candidate_id, dict(values))
