"""AxPlanner features over the real Ax Client: several objectives, outcome constraints, the
Pareto front, failed vs abandoned trials, warm start, overlapping batches and the ask time budget.

The suite's only Bayesian-optimisation steps (3, about 1 s each) are here: two in
`test_warm_start_goes_straight_to_the_model_and_batches_overlap` and one in
`test_ask_timeout_returns_sobol_points_and_keeps_the_late_model_trials`.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from typing import Any

import pytest
from scipy.stats import qmc

from electroloop.errors import PlannerError
from electroloop.models import (
    Candidate,
    Estimate,
    Formulation,
    Goal,
    Objective,
    Observation,
    OutcomeConstraint,
    SearchSpace,
)
from electroloop.planners import SobolPlanner
from electroloop.planners.ax_planner import AxPlanner
from tests.floats import SAME_COMPUTATION, assert_close

MOO = Goal(
    objectives=(Objective(), Objective(name="cost", direction="minimize")),
    outcome_constraints=(OutcomeConstraint(metric="viscosity", op="<=", bound=5.0),),
)


def _metrics(f: Formulation) -> dict[str, float]:
    """Conductivity best near EC 0.3 / 1.2 mol/kg; cost and viscosity rise with EC."""
    ec = f.fractions["EC"]
    return {
        "conductivity": 10.0 - 20.0 * (ec - 0.3) ** 2 - 3.0 * (f.molality - 1.2) ** 2,
        "cost": 5.0 * ec + f.molality,
        "viscosity": 2.0 + 6.0 * ec,
    }


def _observe(c: Candidate, goal: Goal) -> Observation:
    values = _metrics(c.formulation)
    return Observation(
        candidate_id=c.id,
        formulation=c.formulation,
        values={m: values[m] for m in goal.metrics},
    )


def _trials(planner: AxPlanner) -> list[tuple[str, str | None]]:
    """(status, generation node or None for attached trials) per Ax trial, in index order."""
    df = planner.client.summarize()
    nodes = df["generation_node"] if "generation_node" in df else [None] * len(df)
    return [
        (status, node if isinstance(node, str) else None)
        for status, node in zip(df["trial_status"], nodes, strict=True)
    ]


def _warm(space: SearchSpace, goal: Goal, n: int) -> list[Observation]:
    """`n` earlier observations in `space` (from a Sobol campaign)."""
    return [_observe(c, goal) for c in SobolPlanner(space, goal, seed=42).ask(n)]


def test_several_objectives_pareto_front_and_outcome_constraints(space: SearchSpace) -> None:
    planner = AxPlanner(space, MOO, seed=1, initialization_budget=4)
    config = planner.state()["client"]["experiment"]["optimization_config"]
    assert config["objective"]["expression"] == "conductivity, -cost"
    assert planner.pareto_front() == []  # nothing measured yet
    batch = planner.ask(8)
    values = {c.id: _metrics(c.formulation) for c in batch}
    unconstrained = _observe(batch[0], Goal(objectives=MOO.objectives))
    with pytest.raises(PlannerError, match="viscosity"):  # constrained metrics are required
        planner.tell([unconstrained])
    planner.tell([_observe(c, MOO) for c in batch])

    front = planner.pareto_front()

    feasible = [c for c in batch if values[c.id]["viscosity"] <= 5.0]
    assert len(feasible) < len(batch)  # the constraint matters in this example

    def dominated(c: Candidate) -> bool:
        """Another feasible trial is at least as good in both objectives, better in one."""
        a = values[c.id]
        return any(
            (b := values[o.id])["conductivity"] >= a["conductivity"]
            and b["cost"] <= a["cost"]
            and (b["conductivity"] > a["conductivity"] or b["cost"] < a["cost"])
            for o in feasible
        )

    expected = {c.id for c in feasible if not dominated(c)}
    assert 2 <= len(expected) < len(feasible)
    # The front's values are the told ones read back from Ax (copies): matched exactly.
    by_values = {json.dumps(values[c.id], sort_keys=True): c for c in batch}
    got = {by_values[json.dumps(v, sort_keys=True)].id for _, v in front}
    assert got == expected
    for formulation, v in front:
        # Mapped again from Ax's parameters: the same computation as the candidate's.
        candidate = by_values[json.dumps(v, sort_keys=True)]
        assert_close(formulation, candidate.formulation, **SAME_COMPUTATION)


def test_single_objective_front_is_the_best_feasible_trial(space: SearchSpace) -> None:
    goal = Goal(outcome_constraints=(OutcomeConstraint(metric="viscosity", op="<=", bound=4.0),))
    planner = AxPlanner(space, goal, seed=2, initialization_budget=4)
    batch = planner.ask(6)
    planner.tell([_observe(c, goal) for c in batch])
    feasible = [c for c in batch if _metrics(c.formulation)["viscosity"] <= 4.0]
    best = max(feasible, key=lambda c: _metrics(c.formulation)["conductivity"])
    m = _metrics(best.formulation)
    front = planner.pareto_front()
    assert len(front) == 1
    ((formulation, front_values),) = front
    # Mapped again from Ax's parameters: the same computation as the candidate's.
    assert_close(formulation, best.formulation, **SAME_COMPUTATION)
    # The told values read back from Ax: copies, exact.
    assert front_values == {"conductivity": m["conductivity"], "viscosity": m["viscosity"]}


def test_failed_trials_stay_failed_and_abandoned_ones_abandoned(
    space: SearchSpace, goal: Goal
) -> None:
    planner = AxPlanner(space, goal, seed=0, initialization_budget=4)
    a, b, c = planner.ask(3)
    planner.mark_failed(a.id, "balance drifted")  # Ax may propose the point again
    planner.mark_abandoned(b.id, "flash point too low")  # never proposed again (pending for Ax)
    for cid in (a.id, b.id):
        with pytest.raises(PlannerError, match=cid):
            planner.mark_abandoned(cid, "twice")
    with pytest.raises(PlannerError, match=b.id):
        planner.tell([_observe(b, goal)])
    planner.tell([_observe(c, goal)])
    assert [s for s, _ in _trials(planner)] == ["FAILED", "ABANDONED", "COMPLETED"]
    assert planner.state()["abandoned"] == {b.id: "flash point too low"}
    assert [x.id for x in planner.ask(1)] == ["t0003"]


def test_warm_start_goes_straight_to_the_model_and_batches_overlap(
    space: SearchSpace, assert_valid, caplog: pytest.LogCaptureFixture
) -> None:
    """Two BO steps: ask(4) and ask(4) again before anything is told, then tell all 8."""
    inside = _warm(space, MOO, 4)
    outside = [
        inside[0].model_copy(update={"candidate_id": "hot"}),
        inside[1].model_copy(update={"candidate_id": "unmeasured", "values": {"cost": 1.0}}),
        Observation(
            candidate_id="too-little-EC",
            formulation=Formulation(
                fractions={"EC": 0.05, "EMC": 0.5, "DMC": 0.45},
                salt="LiPF6",
                molality=1.0,
                temperature=25.0,
            ),
            values={"conductivity": 9.0, "cost": 1.0, "viscosity": 2.0},
        ),
    ]
    outside[0] = outside[0].model_copy(
        update={"design": outside[0].formulation.model_copy(update={"temperature": 40.0})}
    )
    with caplog.at_level(logging.WARNING, logger="electroloop.planners.ax_planner"):
        planner = AxPlanner(
            space, MOO, seed=3, initialization_budget=3, warm_start=inside + outside
        )
    skipped = dict(planner.warm_start_skipped)
    assert list(skipped) == ["hot", "unmeasured", "too-little-EC"]
    assert "temperature" in skipped["hot"] and "conductivity=None" in skipped["unmeasured"]
    assert "fraction of EC" in skipped["too-little-EC"]
    assert "skipped 3 of 7" in caplog.text
    assert _trials(planner) == [("COMPLETED", None)] * 4

    first = planner.ask(4)  # the warm start met the initialisation budget: model right away
    second = planner.ask(4)  # while the first four are pending (Ax fantasises their outcomes)

    assert [c.id for c in first + second] == [f"t{i:04d}" for i in range(8)]
    assert _trials(planner)[4:] == [("RUNNING", "MBM")] * 8
    assert all(isinstance(c.predicted, Estimate) for c in first + second)
    assert all(math.isfinite(c.predicted.mean) for c in first + second if c.predicted)
    assert len({json.dumps(c.formulation.model_dump()) for c in first + second}) == 8
    assert_valid(space, first + second)
    planner.tell([_observe(c, MOO) for c in second + first])
    assert [s for s, _ in _trials(planner)] == ["COMPLETED"] * 12


def test_ask_timeout_returns_sobol_points_and_keeps_the_late_model_trials(
    space: SearchSpace, goal: Goal, assert_valid, caplog: pytest.LogCaptureFixture
) -> None:
    """One BO step, on the worker thread, that misses a 1 ms budget."""
    planner = AxPlanner(
        space, goal, seed=4, initialization_budget=3, warm_start=_warm(space, goal, 3),
        ask_timeout=1e-3,
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="electroloop.planners.ax_planner"):
        quick = planner.ask(4)

    assert "did not propose 4 trials within 0.001 s" in caplog.text
    assert all(c.predicted is None for c in quick)
    assert_valid(space, quick)
    expected = qmc.Sobol(planner.map.dimension, scramble=True, rng=4).random(4)
    assert_close(  # the planner's fallback draw, repeated here: the same computation
        [c.formulation for c in quick],
        [planner.map.to_formulation(u) for u in expected],
        **SAME_COMPUTATION,
    )
    assert planner.wait(timeout=60.0)
    # The model's 4 trials (done late), then the Sobol points attached once it let go of Ax.
    assert _trials(planner)[3:] == [("RUNNING", "MBM")] * 4 + [("RUNNING", None)] * 4

    precomputed = planner.ask(2)  # the late model trials come first, without waiting

    assert [c.id for c in precomputed] == ["t0004", "t0005"]
    assert all(isinstance(c.predicted, Estimate) for c in precomputed)
    assert_valid(space, precomputed)
    # The two it did not take are stale now: abandoned, so Ax never proposes them again.
    assert [s for s, _ in _trials(planner)[3:7]] == ["RUNNING", "RUNNING"] + ["ABANDONED"] * 2
    planner.tell([_observe(c, goal) for c in quick + precomputed])
    restored = AxPlanner.from_state(json.loads(json.dumps(planner.state())))
    assert _trials(restored) == _trials(planner)
    assert restored.state()["fallback_drawn"] == 4


def test_outcomes_reported_while_ax_is_busy_are_applied_in_order(
    space: SearchSpace, goal: Goal, assert_valid
) -> None:
    """Sobol phase; a slow model is simulated by gating the real `get_next_trials`."""
    planner = AxPlanner(space, goal, seed=6, initialization_budget=8, ask_timeout=0.0)
    gate = threading.Event()
    real = planner.client.get_next_trials

    def slow(*args: Any, **kwargs: Any) -> Any:
        gate.wait(60.0)
        return real(*args, **kwargs)

    planner.client.get_next_trials = slow  # type: ignore[method-assign]
    a, b, c = planner.ask(3)  # Sobol fallback at once; Ax's run is held at the gate
    planner.tell([_observe(a, goal)])
    planner.mark_failed(b.id, "leak")
    planner.mark_abandoned(c.id, "wrong vial")
    with pytest.raises(PlannerError, match=a.id):  # the bookkeeping is already up to date
        planner.tell([_observe(a, goal)])
    assert_valid(space, [a, b, c])
    during = planner.state()  # the client as before Ax's run, plus the queued operations
    ops = ["attach"] * 3 + ["complete", "fail", "abandon"]
    assert [op["op"] for op in during["deferred"]] == ops
    gate.set()
    assert planner.wait(timeout=60.0)
    # Ax's 3 trials (the next batch), then ours with their outcomes, applied after Ax's run.
    late = [("RUNNING", "CenterOfSearchSpace")] + [("RUNNING", "Sobol")] * 2
    ours = [("COMPLETED", None), ("FAILED", None), ("ABANDONED", None)]
    assert _trials(planner) == late + ours
    later = planner.ask(3)
    assert [x.id for x in later] == ["t0003", "t0004", "t0005"]
    assert _trials(planner) == late + ours  # handed out, no new trials
    assert_valid(space, later)
    # Restored from the state taken mid-run: the queued outcomes, without Ax's late trials.
    restored = AxPlanner.from_state(json.loads(json.dumps(during)))
    assert _trials(restored) == ours
    assert restored.state()["deferred"] == []


def test_every_proposal_is_valid_in_a_constrained_space(assert_valid) -> None:
    """At most 2 of 4 solvents, a linear constraint, an integer and a choice parameter."""
    space = SearchSpace.model_validate(
        {
            "solvents": [
                {"name": "EC", "smiles": "C1COC(=O)O1", "max_fraction": 0.6},
                {"name": "EMC", "smiles": "CCOC(=O)OC"},
                {"name": "DMC", "smiles": "COC(=O)OC"},
                {"name": "PC", "smiles": "CC1COC(=O)O1", "max_fraction": 0.5},
            ],
            "salt": {
                "name": "LiPF6",
                "smiles": "[Li+].F[P-](F)(F)(F)(F)F",
                "min_molality": 0.5,
                "max_molality": 2.0,
            },  # fmt: skip
            "temperature": 25.0,
            "max_components": 2,
            "parameters": [
                {"kind": "range", "name": "stir_min", "low": 1, "high": 30, "integer": True},
                {"kind": "choice", "name": "additive", "choices": ["none", "FEC", "VC"]},
            ],
            "linear_constraints": ["EC + PC <= 0.5", "molality - 2 * EC <= 1.5"],
        }
    )
    goal = Goal()
    earlier = SobolPlanner(space, goal, seed=8).ask(6)
    warm = [
        Observation(candidate_id=c.id, formulation=c.formulation, values={"conductivity": 5.0})
        for c in earlier
    ]
    planner = AxPlanner(
        space, goal, seed=8, initialization_budget=200, warm_start=warm, ask_timeout=0.0
    )
    assert planner.warm_start_skipped == []
    proposals = planner.ask(40)  # Sobol fallback (Ax's run cannot be done in 0 s)
    assert planner.wait(timeout=60.0)
    proposals += planner.ask(40)  # Ax's Sobol trials, computed meanwhile
    assert len({c.id for c in proposals}) == 80
    assert_valid(space, proposals)
    assert all(len([x for x in c.formulation.fractions.values() if x > 0]) <= 2 for c in proposals)


def test_no_planner_compiles_a_kernel_whose_lock_a_killed_process_could_leave() -> None:
    """BoTorch would JIT-compile a C++ kernel for qLogNEHVI under a lock file in
    ~/.cache/torch_extensions; a process killed meanwhile leaves the lock, and every later
    multi-objective proposal waits on it forever. The Ax planner takes BoTorch's Python path."""
    from botorch.acquisition.multi_objective import logei

    import electroloop.planners.ax_support  # noqa: F401  what every Ax planner imports

    logei._try_load_fused_kernel()  # what qLogNEHVI does first: returns at once, compiles nothing
    assert logei._C is None and logei._load_attempted
