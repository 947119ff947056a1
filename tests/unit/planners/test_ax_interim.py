"""Interim results (a cell still cycling) reach Ax's model before the trial completes."""

from __future__ import annotations

import json

import pytest

from electroloop.errors import PlannerError
from electroloop.models import Candidate, Estimate, Goal, Objective, Observation
from electroloop.planners.ax_planner import AxPlanner
from tests.unit.planners.conftest import STANDARD

GOAL = Goal(objectives=(Objective(name="retention"),))


def _retention(candidate: Candidate) -> float:
    return 0.9 + 0.05 * candidate.formulation.fractions["EC"]


def _interim_frame(planner: AxPlanner) -> dict[int, tuple[float, float]]:
    frame = planner.client._experiment.lookup_data().df
    return {int(r.trial_index): (float(r["mean"]), float(r["sem"])) for _, r in frame.iterrows()}


def test_interim_data_leaves_initialisation_and_survives_state() -> None:
    planner = AxPlanner(STANDARD, GOAL, seed=3, initialization_budget=2)
    first = planner.ask(2)
    for candidate in first:
        planner.tell_interim(
            candidate.id, {"retention": Estimate(mean=_retention(candidate), std=0.02)}
        )
    trials = planner.client._experiment.trials
    assert all(t.status.is_running for t in trials.values())  # nothing completed yet
    second = planner.ask(2)
    assert all(c.predicted is not None for c in second)  # the GP, fitted on interim data only
    nodes = {t.generator_runs[0]._generation_node_name for t in trials.values()}
    assert "MBM" in nodes

    restored = AxPlanner.from_state(json.loads(json.dumps(planner.state())))
    # Stored in the state and read back: copied values, exact (not rounded to Ax's 10 digits).
    assert _interim_frame(restored) == _interim_frame(planner)

    final = Observation(
        candidate_id=first[0].id,
        formulation=first[0].formulation,
        values={"retention": 0.5},
    )
    restored.tell([final])
    frame = _interim_frame(restored)
    index = restored._index[first[0].id]
    assert frame[index][0] == 0.5  # told, not computed: the final value replaced the interim one
    assert restored.client._experiment.trials[index].status.is_completed


def test_interim_values_are_checked() -> None:
    planner = AxPlanner(STANDARD, GOAL, seed=1, initialization_budget=2)
    (candidate,) = planner.ask(1)
    with pytest.raises(PlannerError, match="lack"):
        planner.tell_interim(candidate.id, {})
    with pytest.raises(PlannerError, match="not finite"):
        planner.tell_interim(candidate.id, {"retention": Estimate(mean=float("nan"), std=0.1)})
    with pytest.raises(PlannerError):
        planner.tell_interim("t9999", {"retention": Estimate(mean=0.9, std=0.1)})
