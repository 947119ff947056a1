"""AxPlanner over the real Ax Client: valid proposals, one BO step, exact state round trip.

Ax is slow (import 4–5 s, a BO step about 2 s), so only `test_bayesian_step` leaves Sobol.
"""

from __future__ import annotations

import json
import math

import pytest

from electroloop.errors import PlannerError
from electroloop.models import Candidate, Estimate, Goal, Objective, Observation, SearchSpace
from electroloop.planners import Planner
from electroloop.planners.ax_planner import AxPlanner


def _conductivity(c: Candidate) -> float:
    """A smooth synthetic objective: best near EC 0.3 and 1.2 mol/kg."""
    f = c.formulation
    return 10.0 - 20.0 * (f.fractions["EC"] - 0.3) ** 2 - 3.0 * (f.molality - 1.2) ** 2


def _observe(c: Candidate, **values: float) -> Observation:
    return Observation(
        candidate_id=c.id,
        formulation=c.formulation,
        values=values or {"conductivity": _conductivity(c)},
    )


def _statuses(planner: AxPlanner) -> list[tuple[int, str]]:
    df = planner.client.summarize()
    return list(zip(df["trial_index"].tolist(), df["trial_status"].tolist(), strict=True))


def test_sobol_phase_proposals_are_valid_and_quiet(
    space: SearchSpace, goal: Goal, assert_valid, capfd: pytest.CaptureFixture[str]
) -> None:
    planner = AxPlanner(space, goal, seed=3, initialization_budget=4)
    assert isinstance(planner, Planner)
    candidates = planner.ask(3) + planner.ask(3)  # more than the budget, nothing told yet
    assert [c.id for c in candidates] == [f"t{i:04d}" for i in range(6)]
    assert {c.planner for c in candidates} == {"ax"}
    assert all(c.predicted is None for c in candidates)  # no model during initialisation
    assert_valid(space, candidates)
    # Trial 0 is the centre of the cube; the mixture map sends it to the middle windows.
    assert candidates[0].formulation.fractions["EC"] == pytest.approx(0.35)
    assert candidates[0].formulation.molality == pytest.approx(1.25)
    assert "[INFO" not in capfd.readouterr().err


def test_state_round_trip_restores_trials_and_continues(
    space: SearchSpace, goal: Goal, assert_valid
) -> None:
    planner = AxPlanner(space, goal, seed=5, initialization_budget=6)
    batch = planner.ask(4)
    planner.tell([_observe(batch[0]), _observe(batch[1])])
    planner.mark_failed(batch[2].id, "vial cracked")

    restored = AxPlanner.from_state(json.loads(json.dumps(planner.state())))

    expected = [(0, "COMPLETED"), (1, "COMPLETED"), (2, "FAILED"), (3, "RUNNING")]
    assert _statuses(planner) == _statuses(restored) == expected
    assert restored.initialization_budget == 6 and restored.seed == 5
    restored.tell([_observe(batch[3])])  # the pending candidate survives the restart
    planner.tell([_observe(batch[3])])
    again, original = restored.ask(2), planner.ask(2)
    assert again == original  # same seed, same trials: an identical continuation
    assert [c.id for c in again] == ["t0004", "t0005"]
    assert_valid(space, again)


def test_bayesian_step(space: SearchSpace, goal: Goal, assert_valid) -> None:
    """The single non-Sobol step of the suite: q=2 after 3 observed initial trials."""
    planner = AxPlanner(space, goal, seed=11, initialization_budget=3)
    initial = planner.ask(3)
    planner.tell([_observe(c) for c in initial])
    proposed = planner.ask(2)
    assert [c.id for c in proposed] == ["t0003", "t0004"]
    assert_valid(space, proposed)
    nodes = planner.client.summarize()["generation_node"].tolist()
    assert nodes[-2:] == ["MBM", "MBM"]
    for c in proposed:
        assert isinstance(c.predicted, Estimate)
        assert math.isfinite(c.predicted.mean) and c.predicted.std >= 0.0


def test_minimize_is_passed_to_ax(space: SearchSpace) -> None:
    planner = AxPlanner(space, Goal(objectives=(Objective(direction="minimize"),)), seed=0)
    config = planner.state()["client"]["experiment"]["optimization_config"]
    assert config["objective"]["expression"] == "-conductivity"


def test_bad_tells_and_failures_are_planner_errors(space: SearchSpace, goal: Goal) -> None:
    planner = AxPlanner(space, goal, seed=0, initialization_budget=2)
    (c,) = planner.ask(1)
    with pytest.raises(PlannerError, match="conductivity"):
        planner.tell([_observe(c, capacity=1.0)])
    with pytest.raises(PlannerError, match="conductivity"):
        planner.tell([_observe(c, conductivity=math.nan)])
    with pytest.raises(PlannerError, match="t0042"):
        planner.mark_failed("t0042", "never asked")
    planner.mark_failed(c.id, "leak")
    with pytest.raises(PlannerError, match="t0000"):
        planner.tell([_observe(c)])
    assert _statuses(planner) == [(0, "FAILED")]
    assert planner.ask(1)[0].id == "t0001"


def test_invalid_settings_and_states(space: SearchSpace, goal: Goal) -> None:
    with pytest.raises(PlannerError, match="initialization_budget"):
        AxPlanner(space, goal, seed=0, initialization_budget=0)
    state = AxPlanner(space, goal, seed=0).state()
    with pytest.raises(PlannerError, match="'ax'"):
        AxPlanner.from_state({**state, "planner": "sobol"})
    with pytest.raises(PlannerError, match="snapshot"):
        AxPlanner.from_state({**state, "client": {"experiment": {}}})
    with pytest.raises(PlannerError, match="snapshot"):
        AxPlanner.from_state({**state, "client": {"_type": "Client", "experiment": {}}})
    broken = {"_type": "Client", "experiment": {"__type": "Experiment"}}
    with pytest.raises(PlannerError, match="snapshot"):
        AxPlanner.from_state({**state, "client": broken})


def test_a_bad_batch_tells_ax_nothing(space: SearchSpace, goal: Goal) -> None:
    planner = AxPlanner(space, goal, seed=0, initialization_budget=2)
    a, b = planner.ask(2)
    with pytest.raises(PlannerError, match="conductivity"):
        planner.tell([_observe(a), _observe(b, conductivity=math.inf)])
    assert _statuses(planner) == [(0, "RUNNING"), (1, "RUNNING")]
