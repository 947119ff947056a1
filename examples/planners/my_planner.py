"""A scientist's own planner: random search in a shrinking region around the best so far.

Use it from a campaign file (a relative path is taken from the campaign file's folder)::

    planner = "../planners/my_planner.py:LocalSearchPlanner"

or as ``"my_package.my_module:LocalSearchPlanner"`` once it lives in an installed package.
It needs only numpy and electroloop's models: `MixtureMap` turns any point of the unit cube
into a formulation that satisfies the search space (solvent bounds, fractions summing to 1,
max_components, extra parameters, linear constraints), so the planner can think in a plain box.

The strategy: the first `initial` candidates are uniform in the cube; after that each
candidate is the best point so far plus Gaussian noise of standard deviation `radius` (in cube
units). Three improvements in a row double the radius, five misses in a row halve it (a
trust-region random search).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from electroloop.models import Candidate, Formulation, Goal, Observation, SearchSpace
from electroloop.planners.mixture import MixtureMap, same_formulation


class LocalSearchPlanner:
    """Trust-region random search around the best measured formulation."""

    name = "local-search"  # recorded with every candidate and in the campaign log

    def __init__(
        self, space: SearchSpace, goal: Goal, seed: int, initial: int = 8, radius: float = 0.2
    ) -> None:
        """Called by electroloop as ``LocalSearchPlanner(space, goal, seed)``.

        `goal.primary` is the objective this planner follows (its direction says whether
        higher is better); the seed must make the planner reproducible.
        """
        self.space, self.goal, self.seed = space, goal, int(seed)
        self.initial, self.radius = int(initial), float(radius)
        self.map = MixtureMap(space)
        self.rng = np.random.default_rng(self.seed)
        self.next_id = 0
        self.told = 0
        self.best: list[float] | None = None  # cube point of the best result so far
        self.best_score = -math.inf  # its objective, sign-flipped so that higher is better
        self.streak = 0  # > 0: improvements in a row; < 0: misses in a row
        self.pending: dict[str, list[float]] = {}  # asked, not yet told/failed/abandoned
        self.retry: list[list[float]] = []  # failed points, proposed again first
        self.vetoed: list[Formulation] = []  # abandoned formulations, never proposed again

    def ask(self, n: int) -> list[Candidate]:
        """Return `n` new candidates, each valid in the space, with ids never used before.

        The orchestrator may call `ask` again before earlier candidates are told (a batch in
        flight); candidates must then still be new.
        """
        candidates = []
        while len(candidates) < n:
            point = self.retry.pop(0) if self.retry else self._propose()
            formulation = self.map.to_formulation(point)
            if any(same_formulation(formulation, f) for f in self.vetoed):
                continue  # a veto holds forever
            cid = f"ls{self.next_id:04d}"
            self.next_id += 1
            self.pending[cid] = point
            candidates.append(Candidate(id=cid, formulation=formulation, planner=self.name))
        return candidates

    def _propose(self) -> list[float]:
        if self.best is None or self.told < self.initial:
            return self.rng.random(self.map.dimension).tolist()
        step = self.rng.normal(0.0, self.radius, self.map.dimension)
        return np.clip(np.asarray(self.best) + step, 0.0, 1.0).tolist()

    def tell(self, observations: Sequence[Observation]) -> None:
        """Learn from measured candidates; each id was returned by `ask` and is told once.

        `Observation.values` holds every metric of the goal. A result that breaks an outcome
        constraint (e.g. cost above its limit) never becomes the centre of the search.
        """
        unknown = [o.candidate_id for o in observations if o.candidate_id not in self.pending]
        if unknown:
            raise ValueError(f"candidates {unknown} are not awaiting a result")
        objective = self.goal.primary
        for observation in observations:
            point = self.pending.pop(observation.candidate_id)
            self.told += 1
            value = observation.values.get(objective.name, math.nan)
            allowed = all(
                c.satisfied(observation.values.get(c.metric, math.nan))
                for c in self.goal.outcome_constraints
            )
            score = value if objective.direction == "maximize" else -value
            if math.isfinite(score) and allowed and score > self.best_score:
                self.best, self.best_score = point, score
                self.streak = max(self.streak, 0) + 1
            else:
                self.streak = min(self.streak, 0) - 1
            if self.streak >= 3:
                self.radius, self.streak = min(0.5, 2 * self.radius), 0
            elif self.streak <= -5:
                self.radius, self.streak = max(0.01, self.radius / 2), 0

    def mark_failed(self, candidate_id: str, reason: str) -> None:
        """The candidate could not be measured (an instrument fault): propose it again."""
        self.retry.append(self.pending.pop(candidate_id))

    def mark_abandoned(self, candidate_id: str, reason: str) -> None:
        """A human or safety veto: never propose this formulation again."""
        self.vetoed.append(self.map.to_formulation(self.pending.pop(candidate_id)))

    def state(self) -> dict[str, Any]:
        """Everything `from_state` needs to continue exactly, as JSON-serialisable data.

        Saved by the orchestrator after every `tell`; a restarted campaign resumes from it.
        """
        return {
            "space": self.space.model_dump(mode="json"),
            "goal": self.goal.model_dump(mode="json"),
            "seed": self.seed,
            "initial": self.initial,
            "radius": self.radius,
            "next_id": self.next_id,
            "told": self.told,
            "best": self.best,
            "best_score": self.best_score if math.isfinite(self.best_score) else None,
            "streak": self.streak,
            "pending": self.pending,
            "retry": self.retry,
            "vetoed": [f.model_dump(mode="json") for f in self.vetoed],
            "rng": self.rng.bit_generator.state,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LocalSearchPlanner:
        """Rebuild a planner saved with `state()`; it proposes what the original would have."""
        planner = cls(
            SearchSpace.model_validate(state["space"]),
            Goal.model_validate(state["goal"]),
            state["seed"],
            initial=state["initial"],
            radius=state["radius"],
        )
        planner.next_id, planner.told, planner.streak = (
            state["next_id"],
            state["told"],
            state["streak"],
        )
        planner.best = state["best"]
        planner.best_score = -math.inf if state["best_score"] is None else state["best_score"]
        planner.pending = {k: list(v) for k, v in state["pending"].items()}
        planner.retry = [list(p) for p in state["retry"]]
        planner.vetoed = [Formulation.model_validate(f) for f in state["vetoed"]]
        planner.rng.bit_generator.state = state["rng"]
        return planner
