"""Campaign-level metrics after each trial: the numbers campaigns are compared by.

After every trial the campaign run in MLflow gets, at that trial's index:
- ``best_<objective>`` for each objective: the best value among observations that satisfy the
  outcome constraints (an infeasible electrolyte is not a result);
- ``hypervolume`` when there are several objectives: the volume the feasible observations
  dominate above the goal's reference point (Zitzler & Thiele, PPSN V, 1998), the usual single
  number for multi-objective progress;
- ``simple_regret`` when a simulator knows the optimum: how far the noise-free value of the
  best-measured sample (as dosed) is from it, i.e. the regret of what the campaign would
  recommend now.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from electroloop.models import Design, Goal, Objective, Observation
from electroloop.orchestrator.hypervolume import hypervolume


@dataclass(frozen=True)
class Oracle:
    """What a simulated lab knows and a real one does not: the noise-free response."""

    objective: str
    optimum: float
    optimum_at: Design
    true_value: Callable[[Design], float]
    model: str  # name and version of the model behind `true_value`, for provenance tags

    def applies_to(self, goal: Goal) -> bool:
        """Regret is defined when the goal is this objective alone, constrained only by it."""
        return [o.name for o in goal.objectives] == [self.objective] and all(
            c.metric == self.objective for c in goal.outcome_constraints
        )


def best_feasible(
    goal: Goal, objective: Objective, observations: Sequence[Observation]
) -> Observation | None:
    """The observation best in `objective` among those meeting the outcome constraints."""
    candidates = [o for o in observations if objective.name in o.values and goal.feasible(o.values)]
    if not candidates:
        return None
    pick = max if objective.direction == "maximize" else min
    return pick(candidates, key=lambda o: o.values[objective.name])


def progress_metrics(
    goal: Goal, observations: Sequence[Observation], oracle: Oracle | None = None
) -> dict[str, float]:
    """The campaign-level metrics after `observations` (in trial order); see the module doc."""
    metrics: dict[str, float] = {}
    for objective in goal.objectives:
        best = best_feasible(goal, objective, observations)
        if best is not None:
            metrics[f"best_{objective.name}"] = best.values[objective.name]
    reference = goal.reference_point()
    if len(goal.objectives) > 1 and reference is not None:
        names = [o.name for o in goal.objectives]
        sign = np.array([1.0 if o.direction == "maximize" else -1.0 for o in goal.objectives])
        points = np.array(
            [
                [o.values[n] for n in names]
                for o in observations
                if goal.feasible(o.values) and all(n in o.values for n in names)
            ],
            dtype=float,
        ).reshape(-1, len(names))
        metrics["hypervolume"] = hypervolume(
            points * sign, np.array([reference[n] for n in names]) * sign
        )
    if oracle is not None and oracle.applies_to(goal):
        best = best_feasible(goal, goal.primary, observations)
        if best is not None:
            truth = oracle.true_value(best.as_dosed or best.design)
            gap = oracle.optimum - truth
            metrics["simple_regret"] = gap if goal.primary.direction == "maximize" else -gap
    return metrics
