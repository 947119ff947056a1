"""A planner whose first proposals are a surrogate's best guesses, then any other planner's.

Space-filling initial designs spend the first experiments where nothing is expected; a surrogate
trained on earlier data (e.g. the CALiSol mixture model) already knows roughly where the good
region is. This wrapper scores a Sobol' pool with the surrogate, proposes the `picks` points with
the highest upper confidence bound (mean + kappa·std; Srinivas et al., ICML 2010) that are not
too close to one another, each recording the surrogate's prediction and name, and hands every
later `ask` to the wrapped planner. The wrapped planner learns from the picks through
`tell_unplanned` (the Ax planner attaches them as completed trials), so its model starts from
them as it would from a warm start.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from electroloop.errors import PlannerError
from electroloop.models import Candidate, Estimate, Formulation, Observation
from electroloop.planners.capabilities import PlannerPort
from electroloop.planners.sobol import SobolPlanner
from electroloop.protocols import Planner

Score = Callable[[list[Formulation]], tuple[np.ndarray, np.ndarray]]
"""Formulations -> (predicted mean, std) of the goal's primary objective."""


def _coordinates(formulation: Formulation, scale: float) -> np.ndarray:
    fractions = [formulation.fractions[k] for k in sorted(formulation.fractions)]
    return np.array([*fractions, formulation.molality / scale])


def pick(
    pool: Sequence[Formulation],
    mean: np.ndarray,
    std: np.ndarray,
    n: int,
    *,
    maximize: bool = True,
    kappa: float = 1.0,
    min_distance: float = 0.05,
) -> list[int]:
    """Indices of `n` pool points by descending UCB (LCB when minimising), skipping points
    within `min_distance` (fractions and molality/its range) of one already picked."""
    score = (mean if maximize else -mean) + kappa * std
    scale = max(f.molality for f in pool) or 1.0
    points = [_coordinates(f, scale) for f in pool]
    chosen: list[int] = []
    for index in np.argsort(-score):
        if all(np.linalg.norm(points[index] - points[c]) >= min_distance for c in chosen):
            chosen.append(int(index))
        if len(chosen) == n:
            break
    return chosen


class SurrogateGuided:
    """Wraps `inner`: the first `picks` candidates come from the surrogate, then `inner`'s."""

    def __init__(
        self,
        inner: Planner,
        score: Score | None,
        scored_by: str,
        picks: int,
        *,
        pool: int = 512,
        kappa: float = 1.0,
    ) -> None:
        if picks < 0 or pool < picks:
            raise PlannerError(f"picks {picks}, pool {pool}; allowed: 0 <= picks <= pool")
        self.inner = inner
        self._inner_port = PlannerPort(inner)
        self.name = f"surrogate+{inner.name}"
        self.scored_by = scored_by
        self._queue: list[Candidate] = []
        self._pending: list[str] = []
        if picks and score is not None:
            self._queue = self._picks(inner, score, picks, pool, kappa)

    def _picks(
        self, inner: Planner, score: Score, picks: int, pool: int, kappa: float
    ) -> list[Candidate]:
        space, goal = getattr(inner, "space", None), getattr(inner, "goal", None)
        seed = int(getattr(inner, "seed", 0))
        if space is None or goal is None:
            raise PlannerError(f"{inner.name} has no space/goal; cannot draw a pool for it")
        drawn = [c.formulation for c in SobolPlanner(space, goal, seed + 7919).ask(pool)]
        mean, std = score(drawn)
        maximize = goal.primary.direction == "maximize"
        chosen = pick(drawn, mean, std, picks, maximize=maximize, kappa=kappa)
        return [
            Candidate(
                id=f"s{i:04d}",
                design=drawn[j],
                planner=self.name,
                predicted=Estimate(mean=float(mean[j]), std=float(std[j])),
                scored_by=self.scored_by,
            )
            for i, j in enumerate(chosen)
        ]

    def ask(self, n: int) -> list[Candidate]:
        ours = self._queue[:n]
        self._queue = self._queue[len(ours) :]
        self._pending += [c.id for c in ours]
        return ours + (self.inner.ask(n - len(ours)) if n > len(ours) else [])

    def tell(self, observations: Sequence[Observation]) -> None:
        ours = [o for o in observations if o.candidate_id in self._pending]
        theirs = [o for o in observations if o.candidate_id not in self._pending]
        for observation in ours:
            self._pending.remove(observation.candidate_id)
        if ours:
            self.tell_unplanned(ours)
        if theirs:
            self.inner.tell(theirs)

    def tell_interim(self, candidate_id: str, values: Mapping[str, Estimate]) -> None:
        """Interim estimates reach the wrapped planner for its own candidates; the surrogate's
        picks are attached to it only once measured (`tell_unplanned`)."""
        if candidate_id not in self._pending:
            self._inner_port.tell_interim(candidate_id, values)

    def mark_failed(self, candidate_id: str, reason: str) -> None:
        if candidate_id in self._pending:
            self._pending.remove(candidate_id)
        else:
            self.inner.mark_failed(candidate_id, reason)

    def mark_abandoned(self, candidate_id: str, reason: str) -> None:
        if candidate_id in self._pending:
            self._pending.remove(candidate_id)
            return
        self._inner_port.mark_abandoned(candidate_id, reason)

    def tell_unplanned(self, observations: Sequence[Observation]) -> None:
        self._inner_port.tell_unplanned(observations)

    def state(self) -> dict[str, Any]:
        return {
            "planner": "surrogate-guided",
            "scored_by": self.scored_by,
            "queue": [c.model_dump(mode="json") for c in self._queue],
            "pending": list(self._pending),
            "inner": self.inner.state(),
        }

    @classmethod
    def restore(cls, state: dict[str, Any], inner_class: type) -> SurrogateGuided:
        """Rebuild from `state()` with the wrapped planner's class (the picks are in it)."""
        if state.get("planner") != "surrogate-guided":
            raise PlannerError("not a surrogate-guided planner state")
        planner = cls(inner_class.from_state(state["inner"]), None, state["scored_by"], 0)
        planner._queue = [Candidate.model_validate(c) for c in state["queue"]]
        planner._pending = [str(c) for c in state["pending"]]
        return planner
