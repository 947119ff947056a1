"""AxPlanner over the real Ax Client: valid proposals, errors, exact state round trip.

Ax is slow (import 4–5 s, a BO step about 1 s), so nothing here leaves Sobol; the three BO steps
of the suite are in test_ax_planner_features.py.
"""

from __future__ import annotations

import json
import math

import pytest

from electroloop.errors import PlannerError
from electroloop.models import (
    Candidate,
    Formulation,
    Goal,
    Objective,
    Observation,
    OutcomeConstraint,
    SearchSpace,
)
from electroloop.planners import Planner, SobolPlanner
from electroloop.planners.ax_planner import AxPlanner
from tests.floats import SAME_COMPUTATION, assert_close

MOO = Goal(
    objectives=(Objective(), Objective(name="cost", direction="minimize")),
    outcome_constraints=(OutcomeConstraint(metric="viscosity", op="<=", bound=6.0),),
)


def _conductivity(c: Candidate) -> float:
    """A smooth synthetic objective: best near EC 0.3 and 1.2 mol/kg."""
    f = c.formulation
    return 10.0 - 20.0 * (f.fractions["EC"] - 0.3) ** 2 - 3.0 * (f.molality - 1.2) ** 2


def _metrics(c: Candidate) -> dict[str, float]:
    """Conductivity, and a cost and viscosity that rise with the EC fraction."""
    ec = c.formulation.fractions["EC"]
    return {
        "conductivity": _conductivity(c),
        "cost": 5.0 * ec + c.formulation.molality,
        "viscosity": 2.0 + 6.0 * ec,
    }


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
    # Trial 0 is the centre of the cube; the mixture map sends it to the middle windows:
    # 0.1 + 0.5 × 0.5 and 0.5 + 0.5 × 1.5 mol/kg, a closed form up to rounding.
    first = candidates[0].formulation
    assert first.fractions["EC"] == pytest.approx(0.35, rel=1e-12)
    assert first.molality == pytest.approx(1.25, rel=1e-12)
    assert "[INFO" not in capfd.readouterr().err


def _plain(space: SearchSpace, goal: Goal) -> tuple[AxPlanner, list[Candidate], list[str]]:
    planner = AxPlanner(space, goal, seed=5, initialization_budget=6)
    batch = planner.ask(4)
    planner.tell([_observe(batch[0]), _observe(batch[1])])
    planner.mark_failed(batch[2].id, "vial cracked")
    return planner, [batch[3]], ["COMPLETED", "COMPLETED", "FAILED", "RUNNING"]


def _moo_warm_abandoned(
    space: SearchSpace, goal: Goal
) -> tuple[AxPlanner, list[Candidate], list[str]]:
    """Two objectives, an outcome constraint, two warm-start trials, every trial status."""
    earlier = SobolPlanner(space, MOO, seed=9).ask(2)
    elsewhere = Formulation(
        fractions={"EC": 0.05, "EMC": 0.5, "DMC": 0.45}, salt="LiPF6", molality=1.0, temperature=25
    )
    warm = [_observe(c, **_metrics(c)) for c in earlier] + [
        Observation(candidate_id="old", formulation=elsewhere, values={"conductivity": 1.0})
    ]
    planner = AxPlanner(space, MOO, seed=5, initialization_budget=6, warm_start=warm)
    batch = planner.ask(4)
    planner.tell([_observe(batch[0], **_metrics(batch[0]))])
    planner.mark_failed(batch[1].id, "vial cracked")
    planner.mark_abandoned(batch[2].id, "flash point too low")
    statuses = ["COMPLETED", "COMPLETED", "COMPLETED", "FAILED", "ABANDONED", "RUNNING"]
    return planner, [batch[3]], statuses


@pytest.mark.parametrize("make", [_plain, _moo_warm_abandoned], ids=["plain", "moo-warm"])
def test_state_round_trip_restores_trials_and_continues(
    make, space: SearchSpace, goal: Goal, assert_valid
) -> None:
    planner, pending, statuses = make(space, goal)
    state = json.loads(json.dumps(planner.state()))

    restored = AxPlanner.from_state(state)

    assert _statuses(planner) == _statuses(restored) == list(enumerate(statuses))
    # The same data to the last bit (Ax's own snapshot keeps 10 significant digits).
    assert restored.client.summarize().equals(planner.client.summarize())
    again_state = restored.state()
    # The snapshot read back and written again: copied values, exact.
    assert again_state["client"]["experiment"] == state["client"]["experiment"]
    # Only Ax's runtime flag `had_initialized_model` differs in the generation strategy.
    assert {k: v for k, v in again_state.items() if k != "client"} == {
        k: v for k, v in state.items() if k != "client"
    }
    assert restored.initialization_budget == 6 and restored.seed == 5
    assert restored.warm_start_skipped == planner.warm_start_skipped
    values = _metrics(pending[0]) if len(planner.goal.objectives) > 1 else {}
    restored.tell([_observe(pending[0], **values)])  # the pending candidate survives the restart
    planner.tell([_observe(pending[0], **values)])
    again, original = restored.ask(2), planner.ask(2)
    # Same seed, same trials: the same computation as the original's continuation.
    assert_close(again, original, **SAME_COMPUTATION)
    assert [c.id for c in again] == ["t0004", "t0005"]  # ids continue, never reused
    assert_valid(space, again)


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
    for timeout in (-1.0, math.nan, math.inf):
        with pytest.raises(PlannerError, match="ask_timeout"):
            AxPlanner(space, goal, seed=0, ask_timeout=timeout)
    state = AxPlanner(space, goal, seed=0).state()
    with pytest.raises(PlannerError, match="invalid ax planner state"):
        AxPlanner.from_state({k: v for k, v in state.items() if k != "pending"})
    with pytest.raises(PlannerError, match="invalid ax planner state"):
        AxPlanner.from_state({**state, "fallback_drawn": -1})
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
