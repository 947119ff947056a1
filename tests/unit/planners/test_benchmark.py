"""`run_benchmark`, `BenchmarkResult` and `regret_plot` with real (cheap) planners."""

from __future__ import annotations

import doctest
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from electroloop.errors import PlannerError
from electroloop.models import (
    Candidate,
    Formulation,
    Goal,
    Objective,
    Observation,
    Salt,
    SearchSpace,
    Solvent,
)
from electroloop.planners import benchmark
from electroloop.planners.benchmark import BenchmarkResult, Progress, regret_plot, run_benchmark
from tests.floats import SAME_COMPUTATION, assert_close

EXACT_ARITHMETIC = 1e-12
"""Absolute tolerance of sums, differences and quartiles of small whole numbers (counts,
the Counter's values): exact in binary, so only a last-bit slip could differ."""

SPACE = SearchSpace(
    solvents=(
        Solvent(name="EC", smiles="C1COC(=O)O1", min_fraction=0.1, max_fraction=0.6),
        Solvent(name="EMC", smiles="CCOC(=O)OC", max_fraction=0.9),
        Solvent(name="DMC", smiles="COC(=O)OC", max_fraction=0.9),
    ),
    salt=Salt(name="LiPF6", smiles="[Li+].F[P-](F)(F)(F)(F)F", min_molality=0.5, max_molality=2.0),
    temperature=25.0,
)
MAXIMIZE = Goal()
MINIMIZE = Goal(objectives=(Objective(name="cost", direction="minimize"),))


def smooth(formulation: Formulation) -> float:
    """Peak 1.0 at DMC 0.6, 1.2 mol/kg."""
    return 1.0 - (formulation.fractions["DMC"] - 0.6) ** 2 - 0.1 * (formulation.molality - 1.2) ** 2


class Counter:
    """Objective returning 1, 2, 3, … in call order: best-so-far is exactly computable."""

    def __init__(self) -> None:
        self.calls = itertools.count(1)

    def __call__(self, formulation: Formulation) -> float:
        return float(next(self.calls))


class FixedPlanner:
    """A scientist's planner: always proposes the same formulation (ids t0, t1, …)."""

    name: ClassVar[str] = "fixed"

    def __init__(self, space: SearchSpace, goal: Goal, seed: int, dmc: float = 0.5) -> None:
        self.space, self.goal, self.seed = space, goal, seed
        self.formulation = Formulation(
            fractions={"EC": 0.3, "EMC": 0.7 - dmc, "DMC": dmc},
            salt="LiPF6",
            molality=1.0,
            temperature=space.temperature,
        )
        self.pending: set[str] = set()
        self.told = 0
        self._ids = itertools.count()

    def ask(self, n: int) -> list[Candidate]:
        out = [
            Candidate(id=f"t{next(self._ids)}", formulation=self.formulation, planner=self.name)
            for _ in range(n)
        ]
        self.pending |= {c.id for c in out}
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        for o in observations:
            self.pending.remove(o.candidate_id)
            self.told += 1

    def mark_failed(self, candidate_id: str, reason: str) -> None:
        self.pending.remove(candidate_id)

    def state(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FixedPlanner:
        raise PlannerError("a FixedPlanner is never restored in these tests")


class OutsidePlanner(FixedPlanner):
    """Proposes a formulation outside SPACE (EC below its minimum)."""

    def __init__(self, space: SearchSpace, goal: Goal, seed: int) -> None:
        super().__init__(space, goal, seed)
        self.formulation = self.formulation.model_copy(
            update={"fractions": {"EC": 0.0, "EMC": 0.5, "DMC": 0.5}}
        )


def test_shapes_batches_and_progress() -> None:
    steps: list[Progress] = []
    result = run_benchmark(
        "sobol", smooth, SPACE, MAXIMIZE, budget=10, seeds=3, batch_size=4, progress=steps.append
    )
    assert result.planner == "sobol"
    assert result.seeds == (0, 1, 2)
    assert result.values.shape == result.best_so_far.shape == (3, 10)
    assert result.wall_times.shape == (3,) and (result.wall_times > 0).all()
    assert set(result.outcomes) == {"conductivity"}
    assert len(result.best_formulations) == 3
    assert np.isfinite(result.values).all()
    # min(batch, remaining): 4, 4, then 2 per run.
    assert [(s.run, s.trials) for s in steps] == [(r, t) for r in range(3) for t in (4, 8, 10)]
    assert steps[-1].best == result.best_so_far[2, -1]  # both picked from the measured values
    for run, formulation in enumerate(result.best_formulations):
        # The objective evaluated again on the best formulation: the same computation.
        assert smooth(formulation) == pytest.approx(result.best_so_far[run, -1], **SAME_COMPUTATION)


def test_best_so_far_is_monotone_and_the_running_best() -> None:
    up = run_benchmark("random", smooth, SPACE, MAXIMIZE, budget=13, seeds=[5, 9])
    assert (np.diff(up.best_so_far, axis=1) >= 0).all()
    # A running maximum picks values, no arithmetic: exact.
    assert np.array_equal(up.best_so_far, np.maximum.accumulate(up.values, axis=1))
    down = run_benchmark(
        "random", lambda f: {"cost": smooth(f)}, SPACE, MINIMIZE, budget=13, seeds=[5, 9]
    )
    assert (np.diff(down.best_so_far, axis=1) <= 0).all()
    # Same seeds, same proposals, same objective: two runs of one computation.
    assert_close(down.values, up.values, **SAME_COMPUTATION)
    assert_close(down.best_so_far[:, -1], up.values.min(axis=1), **SAME_COMPUTATION)


def test_seeded_runs_repeat() -> None:
    first = run_benchmark("sobol", smooth, SPACE, MAXIMIZE, budget=6, seeds=[3])
    again = run_benchmark("sobol", smooth, SPACE, MAXIMIZE, budget=6, seeds=[3])
    assert_close(first.values, again.values, **SAME_COMPUTATION)


def test_trials_to_reach_and_censoring_are_exact() -> None:
    # Run 0 sees 1..10, run 1 sees 11..20; the optimum is 20.
    result = run_benchmark("random", Counter(), SPACE, MAXIMIZE, budget=10, seeds=2, optimum=20.0)
    assert result.values.tolist() == [list(range(1, 11)), list(range(11, 21))]  # copied
    assert result.trials_to_reach(0.5) == [10, 1]  # best >= 10
    assert result.trials_to_reach(0.75) == [None, 5]  # best >= 15: run 0 never (censored)
    assert result.trials_to_reach(1.0) == [None, 10]
    assert result.trials_to_reach(0.5, optimum=8.0) == [4, 1]
    reach = result.summary(0.75)
    # The censored run counts as budget + 1 = 11: counts [11, 5].
    assert (reach.median, reach.q25, reach.q75) == pytest.approx(
        (8.0, 6.5, 9.5), abs=EXACT_ARITHMETIC
    )
    assert (reach.reached, reach.runs, reach.censored_at) == (1, 2, 11)
    assert not reach.median_censored
    assert reach.format() == "8 [6.5–9.5]"
    never = result.summary(1.0)
    assert never.reached == 1 and never.q75 == pytest.approx(10.75, abs=EXACT_ARITHMETIC)
    # Quartiles of whole counts are multiples of 0.25, exact in binary: the text does not hang on
    # rounding error (10.25 and 10.75 are exact ties, rounded half to even).
    assert never.format() == "10.5 [10.2–10.8]"
    all_censored = run_benchmark(
        "random", Counter(), SPACE, MAXIMIZE, budget=3, seeds=2, optimum=100.0
    ).summary(0.95)
    assert all_censored.median_censored and all_censored.reached == 0
    assert all_censored.format() == ">3 [>3–>3]"
    assert result.regret().tolist()[1] == pytest.approx(
        [20.0 - v for v in range(11, 21)], abs=EXACT_ARITHMETIC
    )


def test_trials_to_reach_when_minimising() -> None:
    # cost 100, 99, …: the optimum 90 is reached within 10 % at 99 (trial 2).
    counter = Counter()
    result = run_benchmark(
        "random",
        lambda f: {"cost": 101.0 - counter(f)},
        SPACE,
        MINIMIZE,
        budget=5,
        seeds=1,
        optimum=90.0,
    )
    np.testing.assert_allclose(  # 101 minus the call count
        result.values, [[100.0, 99.0, 98.0, 97.0, 96.0]], rtol=0, atol=EXACT_ARITHMETIC
    )
    # 90 + (1 − 0.9) × 90: 0.1 is not exact in binary, a closed form up to rounding.
    assert result.target(0.9) == pytest.approx(99.0, rel=1e-12)
    assert result.trials_to_reach(0.9) == [2]
    assert result.trials_to_reach(0.95) == [None]
    assert result.regret()[0, -1] == pytest.approx(6.0, abs=EXACT_ARITHMETIC)


def test_a_scientists_planner_class_with_kwargs() -> None:
    made: list[FixedPlanner] = []

    class Recording(FixedPlanner):
        def __init__(self, space: SearchSpace, goal: Goal, seed: int, dmc: float = 0.5) -> None:
            super().__init__(space, goal, seed, dmc)
            made.append(self)

    result = run_benchmark(
        Recording,
        smooth,
        SPACE,
        MAXIMIZE,
        budget=7,
        seeds=[11, 12],
        batch_size=3,
        planner_kwargs={"dmc": 0.6},
    )
    assert result.planner == "fixed"
    assert [p.seed for p in made] == [11, 12]
    assert all(p.told == 7 and not p.pending for p in made)
    # smooth() at DMC 0.6, 1.0 mol/kg, against its closed form: equal up to rounding.
    np.testing.assert_allclose(result.values, 1.0 - 0.1 * 0.2**2, rtol=1e-12, atol=0)


def test_objectives_with_several_metrics() -> None:
    goal = Goal(objectives=(Objective(), Objective(name="cost", direction="minimize")))
    result = run_benchmark(
        "sobol",
        lambda f: {"conductivity": smooth(f), "cost": f.molality, "extra": 1.0},
        SPACE,
        goal,
        budget=5,
        seeds=1,
    )
    assert set(result.outcomes) == {"conductivity", "cost"}
    assert np.array_equal(result.values, result.outcomes["conductivity"])  # the same values, copied
    with pytest.raises(ValueError, match="dict with every one"):
        run_benchmark("sobol", smooth, SPACE, goal, budget=2, seeds=1)
    with pytest.raises(ValueError, match="cost=None"):
        run_benchmark("sobol", lambda f: {"conductivity": 1.0}, SPACE, goal, budget=2, seeds=1)
    with pytest.raises(ValueError, match="conductivity=nan"):
        run_benchmark("sobol", lambda f: float("nan"), SPACE, MAXIMIZE, budget=2, seeds=1)


def test_bad_arguments_and_planners_are_refused() -> None:
    with pytest.raises(ValueError, match="budget is 0"):
        run_benchmark("sobol", smooth, SPACE, MAXIMIZE, budget=0, seeds=1)
    with pytest.raises(ValueError, match="all distinct"):
        run_benchmark("sobol", smooth, SPACE, MAXIMIZE, budget=2, seeds=[1, 1])
    with pytest.raises(ValueError, match="seeds is 0"):
        run_benchmark("sobol", smooth, SPACE, MAXIMIZE, budget=2, seeds=0)
    with pytest.raises(PlannerError, match="outside the search space"):
        run_benchmark(OutsidePlanner, smooth, SPACE, MAXIMIZE, budget=2, seeds=1)
    result = run_benchmark("sobol", smooth, SPACE, MAXIMIZE, budget=2, seeds=1)
    with pytest.raises(ValueError, match="no optimum known"):
        result.trials_to_reach(0.9)
    with pytest.raises(ValueError, match="fraction is 1.5"):
        result.trials_to_reach(1.5, optimum=1.0)


def test_regret_plot_writes_a_png(tmp_path: Path) -> None:
    results: dict[str, BenchmarkResult] = {
        name: run_benchmark(name, smooth, SPACE, MAXIMIZE, budget=budget, seeds=3, optimum=1.0)
        for name, budget in (("sobol", 12), ("random", 30))
    }
    # A run that hits the optimum exactly (regret 0) must still plot on a log axis.
    results["fixed"] = run_benchmark(
        FixedPlanner,
        smooth,
        SPACE,
        MAXIMIZE,
        budget=4,
        seeds=2,
        planner_kwargs={"dmc": 0.6},
        optimum=1.0 - 0.1 * 0.2**2,
    )
    path = regret_plot(results, tmp_path / "plots" / "regret.png", optimum=1.0)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
    with pytest.raises(ValueError, match="no results"):
        regret_plot({}, tmp_path / "empty.png", optimum=1.0)


def test_docstring_example_runs() -> None:
    failures, tried = doctest.testmod(benchmark, raise_on_error=False, verbose=False)
    assert tried >= 3 and failures == 0
