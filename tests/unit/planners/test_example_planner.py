"""The worked example in examples/planners/ loads by file path and behaves as a planner."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from electroloop.models import Candidate, Goal, Objective, Observation, SearchSpace
from electroloop.planners import resolve_planner
from electroloop.planners.mixture import same_formulation
from tests.floats import SAME_COMPUTATION, assert_close

REPO_ROOT = Path(__file__).resolve().parents[3]
REFERENCE = "examples/planners/my_planner.py:LocalSearchPlanner"


def _objective(c: Candidate) -> float:
    """A smooth synthetic optimum at EC 0.3, EMC 0.5, 1.2 mol/kg."""
    f = c.formulation
    return (
        12.0
        - 20 * (f.fractions["EC"] - 0.3) ** 2
        - 10 * (f.fractions["EMC"] - 0.5) ** 2
        - (f.molality - 1.2) ** 2
    )


def _observe(c: Candidate) -> Observation:
    return Observation(
        candidate_id=c.id, formulation=c.formulation, values={"conductivity": _objective(c)}
    )


def test_the_example_planner_runs_forty_rounds(space: SearchSpace, assert_valid) -> None:
    cls = resolve_planner(REFERENCE, base_dir=REPO_ROOT)
    planner = cls(space, Goal(), 3)
    ids: list[str] = []
    best = -math.inf
    for round_ in range(40):
        batch = planner.ask(2)
        assert_valid(space, batch)
        ids += [c.id for c in batch]
        if round_ == 5:
            planner.mark_failed(batch[1].id, "meter fault")
            planner.tell([_observe(batch[0])])
        else:
            planner.tell([_observe(c) for c in batch])
        best = max([best, *(_objective(c) for c in batch)])
        if round_ % 10 == 9:  # the orchestrator saves the state after tells; restore from it
            state = json.loads(json.dumps(planner.state()))
            twin = cls.from_state(state)
            assert twin.state() == planner.state()  # stored and read back: copied values, exact
            assert_close(twin.ask(3), planner.ask(3), **SAME_COMPUTATION)  # the same continuation
            planner = cls.from_state(state)  # as after a restart: those 3 were never asked
    assert len(ids) == len(set(ids)) == 80
    assert best > 11.9  # it does climb towards the optimum


def test_the_example_planner_honours_vetoes_and_rich_spaces(
    rich_spaces: dict[str, SearchSpace], assert_valid
) -> None:
    space = rich_spaces["everything"]
    cls = resolve_planner(REFERENCE, base_dir=REPO_ROOT)
    goal = Goal(objectives=(Objective(name="conductivity", direction="minimize"),))
    planner = cls(space, goal, 0)
    first, second = planner.ask(2)
    planner.mark_abandoned(first.id, "operator veto")
    planner.tell([_observe(second)])
    planner = cls.from_state(json.loads(json.dumps(planner.state())))
    later = [c for _ in range(20) for c in planner.ask(3)]
    assert_valid(space, later)
    # Not even within the veto's own tolerance (1e-9), let alone to the last bit.
    assert not any(same_formulation(first.formulation, c.formulation) for c in later)
    with pytest.raises(ValueError, match="not awaiting"):
        planner.tell([_observe(first)])
