"""One CALiSol-23 source as a new lab: its box, its emulator, a prior that never saw it."""

from __future__ import annotations

from pathlib import Path

import pytest

from electroloop.errors import SimulationError
from electroloop.kinds.electrolyte.new_lab import large_sources, new_lab_problem, wrong_prior
from electroloop.models import Formulation
from electroloop.simulations.calisol import load_calisol

DATA = Path(__file__).resolve().parents[4] / ".." / "shared" / "data" / "calisol23"
LAB = "10.1149/1.1403730"  # LiPF6 in EC/EMC, 325 rows


@pytest.fixture(scope="module")
def points():
    return load_calisol(DATA).points


def test_the_new_labs_box_is_what_it_measured_and_the_prior_never_saw_it(points) -> None:
    problem = new_lab_problem(points, LAB)
    rows = [p for p in points if p.doi == LAB and p.salt == "LiPF6"]
    assert LAB in large_sources(points) and problem.rows == len(rows)
    assert LAB in problem.truth.sources and LAB not in problem.prior.sources
    ec = [dict(p.fractions).get("EC", 0.0) for p in rows]
    (ec_range,) = [
        (s.min_fraction, s.max_fraction) for s in problem.space.solvents if s.name == "EC"
    ]
    assert ec_range == pytest.approx((min(ec), max(ec)), abs=1e-3)
    assert problem.space.salt.max_molality == pytest.approx(max(p.molality for p in rows), abs=1e-3)
    # the optimum beats the emulator at every composition the lab measured at that temperature
    at_t = [p for p in rows if round(p.temperature) == round(problem.space.temperature)]
    assert at_t
    for p in at_t:
        design = Formulation(
            fractions=dict(p.fractions),
            salt="LiPF6",
            molality=min(p.molality, problem.space.salt.max_molality),
            temperature=problem.space.temperature,
        )
        assert problem.truth(design) <= problem.optimum + 1e-9
    problem.space.check(problem.optimum_formulation)


def test_rows_over_a_solvent_no_other_lab_measured_are_dropped_and_too_few_left_refused(
    points,
) -> None:
    lab = "10.1149/1.1513556"  # EC/EMC/PC with and without TFP, which no other lab measured
    problem = new_lab_problem(points, lab)
    every = [p for p in points if p.doi == lab and p.salt == "LiPF6"]
    assert "TFP" not in {s.name for s in problem.space.solvents}
    assert problem.rows == sum("TFP" not in p.solvents for p in every) < len(every)
    few = [p for p in points if p.doi != lab or "TFP" in p.solvents or p.molality < 0.6]
    with pytest.raises(SimulationError, match=r"allowed: at least 40 rows"):
        new_lab_problem(few, lab)


def test_the_wrong_prior_keeps_the_values_and_loses_the_designs(points) -> None:
    task = new_lab_problem(points, LAB).prior_task()
    shuffled = wrong_prior(task, seed=1)
    assert sorted(shuffled.values) == pytest.approx(sorted(task.values), rel=1e-12)
    assert list(shuffled.values) != pytest.approx(list(task.values), rel=1e-3)
