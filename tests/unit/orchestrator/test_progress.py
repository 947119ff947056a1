"""Campaign-level metrics: best feasible per objective, hypervolume, and simple regret."""

from __future__ import annotations

from pathlib import Path

import pytest

from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.models import Formulation, Goal, Objective, Observation, OutcomeConstraint
from electroloop.orchestrator.closed_loop import TrialRecord
from electroloop.orchestrator.progress import Oracle, best_feasible, progress_metrics
from electroloop.settings import Settings
from electroloop.workflows.build import assemble, simulator_oracle
from tests.floats import SAME_COMPUTATION, assert_close

MIX = Formulation(fractions={"EC": 0.3, "EMC": 0.7}, salt="LiPF6", molality=1.0, temperature=25)
MOO = Goal(
    objectives=(
        Objective(name="conductivity"),
        Objective(name="cost", direction="minimize", threshold=8.0),
    ),
    outcome_constraints=(OutcomeConstraint(metric="conductivity", op=">=", bound=8.0),),
)


def observed(i: int, **values: float) -> Observation:
    return Observation(candidate_id=f"c{i}", formulation=MIX, values=values)


def test_best_is_among_feasible_observations_only() -> None:
    observations = [
        observed(0, conductivity=7.0, cost=2.0),  # infeasible: below 8 mS/cm
        observed(1, conductivity=9.0, cost=5.0),
        observed(2, conductivity=10.0, cost=6.0),
    ]
    metrics = progress_metrics(MOO, observations)
    assert metrics["best_conductivity"] == 10.0
    assert metrics["best_cost"] == 5.0  # 2.0 belongs to an infeasible electrolyte
    assert best_feasible(MOO, MOO.objectives[1], observations[:1]) is None


def test_hypervolume_is_the_area_dominated_above_the_reference() -> None:
    # Reference (8 mS/cm, 8 USD/kg); the front (9, 5) and (10, 6) dominates the union of the
    # boxes [8, 9] x [5, 8] and [8, 10] x [6, 8]: 1 * 3 + 2 * 2 - 1 * 2 = 5.
    observations = [
        observed(1, conductivity=9.0, cost=5.0),
        observed(2, conductivity=10.0, cost=6.0),
    ]
    # Boxes with whole-number sides: the sweep's sums differ from 5 by rounding only.
    assert progress_metrics(MOO, observations)["hypervolume"] == pytest.approx(5.0, rel=1e-12)
    assert progress_metrics(MOO, [])["hypervolume"] == pytest.approx(0.0, abs=1e-12)
    dominated = [*observations, observed(3, conductivity=9.0, cost=7.0)]
    assert progress_metrics(MOO, dominated)["hypervolume"] == pytest.approx(5.0, rel=1e-12)


def test_single_objective_campaigns_log_no_hypervolume() -> None:
    metrics = progress_metrics(Goal(), [observed(0, conductivity=9.0)])
    assert metrics == {"best_conductivity": 9.0}


def test_simple_regret_uses_the_simulators_noise_free_value_of_the_best_sample() -> None:
    spec = default_campaign()
    oracle = simulator_oracle(spec)
    assert oracle is not None
    worse = MIX.model_copy(update={"molality": 0.6})
    observations = [
        Observation(candidate_id="a", formulation=MIX, values={"conductivity": 9.0}),
        Observation(candidate_id="b", formulation=worse, values={"conductivity": 9.5}),  # noisy
    ]
    regret = progress_metrics(spec.goal, observations, oracle)["simple_regret"]
    # The best *measured* sample is b; regret is judged on b's true value, not a's.
    assert_close(regret, oracle.optimum - oracle.true_value(worse), **SAME_COMPUTATION)
    assert regret > oracle.optimum - oracle.true_value(MIX) > 0


def test_regret_only_where_the_oracle_knows_the_optimum() -> None:
    oracle = Oracle("conductivity", 12.0, MIX, lambda f: 11.0, "test-model")
    assert oracle.applies_to(Goal())
    assert not oracle.applies_to(MOO)
    constrained_on_cost = Goal(
        outcome_constraints=(OutcomeConstraint(metric="cost", op="<=", bound=5.0),)
    )
    assert not oracle.applies_to(constrained_on_cost)
    metrics = progress_metrics(MOO, [observed(0, conductivity=9.0, cost=5.0)], oracle)
    assert "simple_regret" not in metrics


def test_each_trial_record_carries_the_campaigns_progress(tmp_path: Path) -> None:
    spec = default_campaign().model_copy(update={"planner": "sobol", "budget": 3, "batch_size": 3})
    records: list[TrialRecord] = []
    oracle = simulator_oracle(spec)
    with assemble(spec, Settings(home=tmp_path), "p1", [records.append], oracle) as assembly:
        assembly.campaign.run()
    assert [r.index for r in records] == [0, 1, 2]
    measured = [r.measurement.value for r in records if r.measurement is not None]
    for n, record in enumerate(records, start=1):
        # the meter's values themselves, picked by max: copies
        assert record.best == record.progress["best_conductivity"] == max(measured[:n])
        assert record.progress["simple_regret"] >= -0.2  # the optimum, up to meter noise
