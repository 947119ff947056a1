"""Ax as it comes: ``ax.api.Client`` with its own default generation strategy, as a planner.

Why: "the default planner is never worse than off-the-shelf Ax" (issue 20) needs off-the-shelf
Ax in the same run. This planner searches the same unit cube as `AxPlanner` (``x0 … x{d-1}``
through `cube_map`, so both see the same map) but configures nothing else: Ax's "fast"
strategy with its default initialisation (the centre, then Sobol' to 5 points), its default
model and acquisition. It is a yardstick for `electroloop bench planners`, not a campaign
planner (no time budget, no warm start, no interim data).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from ax.api import Client, RangeParameterConfig

from electroloop.errors import PlannerError
from electroloop.models import AnySpace, Candidate, Goal, Observation
from electroloop.planners.ax_support import (
    ax_calls,
    client_snapshot,
    goal_values,
    load_client,
    objective_string,
    parameter_names,
    quiet_ax_logs,
)
from electroloop.planners.cube_map import cube_map
from electroloop.planners.mixture import check_pending, pack_common_state, unpack_common_state


class StockAxPlanner:
    """``Client(random_seed=seed)`` over the cube; every Ax default left as it is."""

    name: ClassVar[str] = "ax-stock"

    def __init__(self, space: AnySpace, goal: Goal, seed: int) -> None:
        quiet_ax_logs()
        self.space, self.goal, self.seed = space, goal, int(seed)
        self.map = cube_map(space)
        self._names = parameter_names(self.map.dimension)
        self._pending: dict[str, int] = {}  # candidate id -> Ax trial index
        self._next_id = 0
        self.client = Client(random_seed=self.seed)
        with ax_calls("configure the experiment"):
            self.client.configure_experiment(
                name="electroloop-stock",
                parameters=[
                    RangeParameterConfig(name=n, bounds=(0.0, 1.0), parameter_type="float")
                    for n in self._names
                ],
            )
            self.client.configure_optimization(
                objective=objective_string(goal),
                outcome_constraints=[str(c) for c in goal.outcome_constraints] or None,
            )

    def ask(self, n: int) -> list[Candidate]:
        """`n` trials from Ax (asked again while its initialisation hands out fewer)."""
        candidates: list[Candidate] = []
        while len(candidates) < n:
            with ax_calls("generate trials"):
                trials = self.client.get_next_trials(max_trials=n - len(candidates))
            if not trials:
                raise PlannerError(f"{self.name}: Ax proposed no trial; allowed: a live space")
            for index, parameters in trials.items():
                point = [float(parameters[name]) for name in self._names]
                cid = f"t{self._next_id:04d}"
                self._next_id += 1
                self._pending[cid] = index
                candidates.append(
                    Candidate(id=cid, design=self.map.to_design(point), planner=self.name)
                )
        return candidates

    def tell(self, observations: Sequence[Observation]) -> None:
        check_pending(self.name, self._pending, [o.candidate_id for o in observations])
        for o in observations:
            with ax_calls("complete a trial"):
                self.client.complete_trial(
                    trial_index=self._pending.pop(o.candidate_id),
                    raw_data=goal_values(self.goal, o),
                )

    def mark_failed(self, candidate_id: str, reason: str) -> None:
        check_pending(self.name, self._pending, [candidate_id])
        with ax_calls("fail a trial"):
            self.client.mark_trial_failed(
                trial_index=self._pending.pop(candidate_id), failed_reason=reason
            )

    def state(self) -> dict[str, Any]:
        return {
            **pack_common_state(self.name, self.space, self.goal, self.seed),
            "next_id": self._next_id,
            "pending": dict(self._pending),
            "client": client_snapshot(self.client),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> StockAxPlanner:
        space, goal, seed = unpack_common_state(state, cls.name)
        planner = cls(space, goal, seed)
        planner.client = load_client(state["client"], seed)
        planner._next_id = int(state["next_id"])
        planner._pending = {str(k): int(v) for k, v in state["pending"].items()}
        return planner
