"""The new-lab benchmark: every arm on a held-out lab, and verdicts that can fail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from electroloop.errors import ConfigError
from electroloop.kinds.electrolyte.new_lab import new_lab_problem
from electroloop.kinds.electrolyte.new_lab_bench import (
    BEGIN,
    END,
    check_arms,
    pooled,
    render_section,
    run_new_lab,
    verdicts,
)
from electroloop.planners.benchmark import BenchmarkResult
from electroloop.simulations.calisol import load_calisol

DATA = Path(__file__).resolve().parents[4] / ".." / "shared" / "data" / "calisol23"
LAB = "10.1149/1.1403730"  # LiPF6 in EC/EMC, 325 rows


def result(arm: str, reached_at: list[int | None], budget: int = 10) -> BenchmarkResult:
    """A result whose runs reach 98 % of an optimum of 1.0 at the given trials (None: never)."""
    best = np.full((len(reached_at), budget), 0.5)
    for run, trial in enumerate(reached_at):
        if trial is not None:
            best[run, trial - 1 :] = 1.0
    return BenchmarkResult(
        planner=arm,
        seeds=tuple(range(len(reached_at))),
        budget=budget,
        batch_size=1,
        metric="conductivity",
        maximize=True,
        values=best,
        best_so_far=best,
        wall_times=np.ones(len(reached_at)),
        optimum=1.0,
    )


def test_a_short_real_run_fills_every_cell_and_the_section() -> None:
    problem = new_lab_problem(load_calisol(DATA).points, LAB)
    budgets = {"prior": 3, "random": 30}
    results = run_new_lab([problem], ["prior", "random"], budgets, seeds=2)
    assert set(results[LAB]) == {"prior", "random"}
    assert results[LAB]["prior"].best_so_far.shape == (2, 3)
    # the prior from the other labs puts the first experiment within 2 % of this lab's optimum
    assert results[LAB]["prior"].trials_to_reach(0.98) == [1, 1]
    section = render_section([problem], results, command="electroloop bench", total_seconds=1.0)
    assert section.startswith(BEGIN) and section.endswith(END)
    assert "| 1149/1.1403730 | 325 |" in section and "1 [1–1] (2/2)" in section


def test_the_verdicts_flag_each_claim_that_fails_naming_the_source() -> None:
    results = {
        "10.1/good": {
            "prior": result("prior", [1, 1, 2, 1, 1]),
            "wrong-prior": result("wrong-prior", [6, 5, 7, 6, 6]),
            "ax": result("ax", [6, 6, 6, 5, 7]),
            "ax-stock": result("ax-stock", [5, 9, 8, 4, 6]),
        },
        "10.1/bad": {
            "prior": result("prior", [3, 3, 3, 4, 4]),
            "wrong-prior": result("wrong-prior", [9, None, 9, 10, 9]),
            "ax": result("ax", [7, 7, 7, 8, 7]),
            "ax-stock": result("ax-stock", [4, 5, 4, 3, 6]),
        },
    }
    assert pooled(results, "prior").median == pytest.approx(2.5, abs=1e-9)
    assert pooled(results, "ax").median == pytest.approx(7.0, abs=1e-9)
    lines = verdicts(results)
    assert "2.5 / 7 = 0.36" in lines[0] and "**not met**" in lines[0]
    assert "not met** on 1/bad (9 vs 7, p = 0.00)" in lines[1] and "1/good" not in lines[1]
    assert "not met** on 1/bad (7 vs 4, p = 0.0" in lines[2]
    # a higher median that seed noise explains is named, not counted as worse
    results["10.1/bad"]["ax"] = result("ax", [5, 4, 6, 3, 5])
    results["10.1/bad"]["wrong-prior"] = result("wrong-prior", [4, 3, 4, 5, 4])
    met = verdicts(results)
    assert "met on every source." in met[1]
    assert "met on every source; a higher median within seed noise on 1/bad (5 vs 4" in met[2]


def test_unknown_arms_are_refused_naming_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match="allowed: distinct names among"):
        check_arms(["prior", "oracle"])
    with pytest.raises(ConfigError, match="prior"):
        check_arms(["prior", "prior"])
