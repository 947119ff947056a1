"""Multi-task Bayesian optimisation from related data: trust learned, not assumed."""

from __future__ import annotations

import pytest

from electroloop.errors import PlannerError
from electroloop.models import (
    BoxSpace,
    DesignPoint,
    Formulation,
    Goal,
    Objective,
    Observation,
    RangeParameter,
    Salt,
    SearchSpace,
    Solvent,
)
from electroloop.planners.transfer import DesignFeatures, RelatedTask, TransferPlanner

BOX = BoxSpace(
    parameters=(
        RangeParameter(name="a", low=0.0, high=1.0),
        RangeParameter(name="b", low=0.0, high=1.0),
    )
)
GOAL = Goal(objectives=(Objective(name="y"),))
PEAK = (0.8, 0.2)


def truth(design: DesignPoint) -> float:
    return 1.0 - (design.values["a"] - PEAK[0]) ** 2 - (design.values["b"] - PEAK[1]) ** 2


def run(planner: TransferPlanner, trials: int) -> list[float]:
    values = []
    for _ in range(trials):
        (candidate,) = planner.ask(1)
        value = truth(candidate.design)  # type: ignore[arg-type]
        values.append(value)
        planner.tell(
            [Observation(candidate_id=candidate.id, design=candidate.design, values={"y": value})]
        )
    return values


def test_a_right_prior_on_another_scale_puts_the_first_experiment_near_the_optimum() -> None:
    prior = RelatedTask.from_model("model", lambda d: 40.0 + 9.0 * truth(d), BOX, points=32)
    warm = TransferPlanner(BOX, GOAL, seed=1, related=[prior])
    cold = TransferPlanner(BOX, GOAL, seed=1)
    (first,) = warm.ask(1)
    assert abs(first.design.values["a"] - PEAK[0]) < 0.15  # type: ignore[attr-defined]
    assert abs(first.design.values["b"] - PEAK[1]) < 0.15  # type: ignore[attr-defined]
    (centre,) = cold.ask(1)
    assert centre.design.values == pytest.approx({"a": 0.5, "b": 0.5}, abs=1e-12)  # type: ignore[attr-defined]


def test_a_prior_with_no_information_still_lets_the_data_find_the_optimum() -> None:
    informed = RelatedTask.from_model("model", truth, BOX, points=32)
    shuffled = RelatedTask("shuffled", informed.designs, tuple(reversed(informed.values)))
    values = run(TransferPlanner(BOX, GOAL, seed=2, related=[shuffled]), 14)
    assert max(values) > 1.0 - 0.01  # within 1 % of the peak's value in 14 experiments


def test_the_state_restores_the_planner_and_its_related_data() -> None:
    prior = RelatedTask.from_model("model", truth, BOX, points=16)
    planner = TransferPlanner(BOX, GOAL, seed=3, related=[prior])
    run(planner, 3)
    restored = TransferPlanner.from_state(planner.state())
    assert restored.related == planner.related
    (a,), (b,) = planner.ask(1), restored.ask(1)
    assert a.id == b.id
    assert a.design.values == pytest.approx(b.design.values, abs=1e-9)  # type: ignore[attr-defined]


def test_related_formulations_are_placed_by_physics_and_the_foreign_ones_counted() -> None:
    space = SearchSpace(
        solvents=(
            Solvent(name="EC", smiles="C1COC(=O)O1"),
            Solvent(name="DMC", smiles="COC(=O)OC"),
        ),
        salt=Salt(
            name="LiPF6", smiles="[Li+].F[P-](F)(F)(F)(F)F", min_molality=0.5, max_molality=1.5
        ),
        temperature=25.0,
    )
    features = DesignFeatures(space)
    warm = Formulation(
        fractions={"EC": 0.3, "DMC": 0.7}, salt="LiPF6", molality=1.0, temperature=45.0
    )
    assert features(warm) == pytest.approx([0.3, 0.7, 0.5, 0.4])  # 20 °C above: +0.4
    foreign = Formulation(
        fractions={"EC": 0.3, "PC": 0.7}, salt="LiPF6", molality=1.0, temperature=25.0
    )
    assert features(foreign) is None
    task = RelatedTask("other lab", (warm, foreign), (9.0, 7.0))
    planner = TransferPlanner(space, Goal(objectives=(Objective(),)), seed=0, related=[task])
    assert planner.skipped == 1


def test_bad_settings_are_refused_naming_them() -> None:
    with pytest.raises(PlannerError, match="objectives; allowed: exactly 1"):
        TransferPlanner(BOX, Goal(objectives=(Objective(name="y"), Objective(name="z"))), seed=0)
    with pytest.raises(PlannerError, match="2 designs and 1 values"):
        RelatedTask("x", (DesignPoint(values={"a": 0, "b": 0}),) * 2, (1.0,))
    with pytest.raises(PlannerError, match="initialization_budget is -1"):
        TransferPlanner(BOX, GOAL, seed=0, initialization_budget=-1)


def test_told_standard_errors_set_the_floor_of_the_gps_noise() -> None:
    import torch
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from gpytorch.mlls import ExactMarginalLogLikelihood

    from electroloop.planners.transfer import _likelihood

    x = torch.linspace(0, 1, 12, dtype=torch.double).unsqueeze(-1)
    y = torch.sin(6 * x)  # smooth and noise-free: left alone, the fitted noise goes to its floor
    fitted = []
    for floor in (None, 0.05):
        model = SingleTaskGP(x, y, likelihood=_likelihood(floor))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        fitted.append(float(model.likelihood.noise.item()))
    assert fitted[0] < 0.01  # BoTorch's own floor lets a noise-free function be interpolated
    assert fitted[1] >= 0.05 * (1 - 1e-6)  # the instrument's error is the least noise there is


def test_standard_errors_are_kept_in_the_state_and_used_in_proposals() -> None:
    planner = TransferPlanner(BOX, GOAL, seed=4)
    for _ in range(6):
        (candidate,) = planner.ask(1)
        value = truth(candidate.design)  # type: ignore[arg-type]
        planner.tell(
            [
                Observation(
                    candidate_id=candidate.id,
                    design=candidate.design,
                    values={"y": value},
                    errors={"y": 0.02},
                )
            ]
        )
    restored = TransferPlanner.from_state(planner.state())
    assert [e for _, _, e in restored._told] == pytest.approx([0.02] * 6, abs=1e-12)
    (a,), (b,) = planner.ask(1), restored.ask(1)  # the fixed-floor GP proposes, reproducibly
    assert a.design.values == pytest.approx(b.design.values, abs=1e-9)  # type: ignore[attr-defined]


def test_a_model_that_refuses_part_of_the_space_gives_a_prior_over_the_rest() -> None:
    from electroloop.errors import SimulationError

    def picky(design: DesignPoint) -> float:
        if design.values["a"] > 0.5:
            raise SimulationError("a > 0.5 is outside the model's domain")
        return truth(design)

    task = RelatedTask.from_model("half", picky, BOX, points=32)  # type: ignore[arg-type]
    assert 8 < len(task.designs) < 24
    assert all(d.values["a"] <= 0.5 for d in task.designs)  # type: ignore[attr-defined]


def test_a_prior_the_measurements_contradict_is_dropped_and_a_right_one_kept() -> None:
    informed = RelatedTask.from_model("right", truth, BOX, points=32)
    shuffled = RelatedTask("shuffled", informed.designs, tuple(reversed(informed.values)))
    planner = TransferPlanner(BOX, GOAL, seed=5, related=[informed, shuffled])
    assert planner.trusted == ["right", "shuffled"]  # before any measurement, both count
    run(planner, 8)
    assert planner.trusted == ["right"]  # Kendall's τ of the shuffled one is no better than chance
