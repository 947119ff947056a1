"""A surrogate-guided start, scored here by the simulator's own physics (a perfect surrogate)
and by a useless one, in front of the real Ax and Sobol planners."""

from __future__ import annotations

import numpy as np

from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.models import Formulation, Observation
from electroloop.planners.ax_planner import AxPlanner
from electroloop.planners.sobol import SobolPlanner
from electroloop.planners.surrogate_guided import SurrogateGuided, pick
from electroloop.simulations.optimum import true_value

SPEC = default_campaign()


def physics(formulations: list[Formulation]) -> tuple[np.ndarray, np.ndarray]:
    mean = np.array([true_value(SPEC.space, f) for f in formulations])
    return mean, np.full(len(mean), 0.2)


def observe(candidates: list) -> list[Observation]:
    return [
        Observation(
            candidate_id=c.id,
            formulation=c.formulation,
            values={"conductivity": true_value(SPEC.space, c.formulation)},
        )
        for c in candidates
    ]


def test_the_picks_are_the_surrogates_best_and_spread_out() -> None:
    guided = SurrogateGuided(SobolPlanner(SPEC.space, SPEC.goal, 1), physics, "physics v1", 8)
    picks = guided.ask(4) + guided.ask(4)
    assert [c.id for c in picks] == [f"s{i:04d}" for i in range(8)]
    assert all(c.scored_by == "physics v1" and c.predicted is not None for c in picks)
    sobol = SobolPlanner(SPEC.space, SPEC.goal, 1).ask(8)
    best_picked = np.mean([true_value(SPEC.space, c.formulation) for c in picks])
    best_sobol = np.mean([true_value(SPEC.space, c.formulation) for c in sobol])
    assert best_picked > best_sobol + 1.0  # mS/cm: a useful start
    later = guided.ask(4)
    assert [c.id for c in later] == ["t0000", "t0001", "t0002", "t0003"]  # then the inner's


def test_pick_skips_near_duplicates_and_minimises_when_asked() -> None:
    pool = [
        Formulation(fractions={"A": a, "B": 1 - a}, salt="S", molality=1.0, temperature=25.0)
        for a in (0.5, 0.51, 0.9, 0.1)
    ]
    mean, std = np.array([3.0, 2.9, 1.0, 0.5]), np.zeros(4)
    assert pick(pool, mean, std, 2) == [0, 2]  # 0.51 is too close to 0.5
    assert pick(pool, mean, std, 2, maximize=False) == [3, 2]


def test_ax_learns_from_the_picks_and_the_wrapper_survives_a_restart() -> None:
    inner = AxPlanner(SPEC.space, SPEC.goal, 3, initialization_budget=4)
    guided = SurrogateGuided(inner, physics, "physics v1", 4)
    first = guided.ask(4)
    guided.tell(observe(first))
    statuses = inner.client.summarize()["trial_status"].tolist()
    assert statuses.count("COMPLETED") == 4  # attached, as a warm start would be
    restored = SurrogateGuided.restore(guided.state(), AxPlanner)
    nxt = restored.ask(2)
    assert [c.id for c in nxt] == ["t0000", "t0001"] and nxt[0].planner == "ax"
    assert nxt[0].predicted is not None  # past the initialisation: Ax's own model proposes
