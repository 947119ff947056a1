"""Fade of simulated cells: formulations differ as published comparisons do, drawn cells follow
the example cell's law with a spread, and bad input is refused naming the field."""

from __future__ import annotations

import math

import numpy as np
import pytest

from electroloop.errors import SimulationError
from electroloop.simulations.cell_circuit import CellSpec
from electroloop.simulations.degradation import (
    CELL_SPREAD,
    PUBLISHED_RETENTION_GAP,
    cycle_example_cell,
    draw_cells,
)
from electroloop.simulations.sei import sei_rate

BARE = {"EC": 0.3, "EMC": 0.7}
FEC5 = {"EC": 0.3, "EMC": 0.65, "FEC": 0.05}
VC2 = {"EC": 0.3, "EMC": 0.68, "VC": 0.02}


@pytest.fixture(scope="module")
def retention_100() -> dict[str, float]:
    """Retention at cycle 100 of the cycling example's cell (1C CC-CV, 25 °C) per formulation."""
    out = {}
    for name, fractions in (("bare", BARE), ("FEC5", FEC5), ("VC2", VC2)):
        spec = CellSpec(sei_multiplier=sei_rate(fractions).multiplier)
        q = cycle_example_cell(spec, 100)
        out[name] = q[-1] / q[0]
    return out


def test_additive_gap_at_cycle_100_is_within_the_published_band(
    retention_100: dict[str, float],
) -> None:
    assert retention_100["bare"] < retention_100["FEC5"] < retention_100["VC2"]
    gap = retention_100["VC2"] - retention_100["bare"]
    low, high = PUBLISHED_RETENTION_GAP
    assert low <= gap <= high
    # the example's own range (FEC 0–5 %) is no longer a 0.5-point one
    assert retention_100["FEC5"] - retention_100["bare"] > 0.02
    assert 0.9 < retention_100["bare"] < 0.97


def test_drawn_cells_follow_the_example_cell_with_a_spread(
    retention_100: dict[str, float],
) -> None:
    cells = draw_cells([sei_rate(BARE).multiplier] * 300, 100, seed=1)
    retention = np.array([c.retention(100) for c in cells])
    # mean of exp(σ·N(0,1)) is exp(σ²/2): 1.1 % more loss; the CV step times differ a little
    assert float(np.mean(retention)) == pytest.approx(retention_100["bare"], abs=0.005)
    factors = np.log([c.sei_factor for c in cells])
    assert float(np.std(factors)) == pytest.approx(CELL_SPREAD, rel=0.15)  # 300 draws
    assert 0.005 < float(np.std(retention)) < 0.02


def test_same_seed_same_cells_other_seed_other_cells() -> None:
    first = draw_cells([1.0, 4.0], 20, seed=9)
    assert draw_cells([1.0, 4.0], 20, seed=9) == first  # the same draws, copied through
    assert draw_cells([1.0, 4.0], 20, seed=10) != first


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: draw_cells([1.0], 1), r"cycles is 1; allowed: integer 2\.\.5000"),
        (lambda: draw_cells([1.0], 10, temperature=60.0), r"temperature is 60.0 °C; allowed"),
        (lambda: draw_cells([1.0, 0.0], 10), r"multipliers\[1\] is 0.0; allowed: 0.05\.\.20"),
        (lambda: draw_cells([math.nan], 10), r"multipliers\[0\] is nan; allowed"),
        (lambda: cycle_example_cell(CellSpec(), 0), r"cycles is 0; allowed: integer 1\.\.1000"),
        (lambda: cycle_example_cell(CellSpec(), 5, c_rate=5.0), r"c_rate is 5.0 C; allowed"),
    ],
)
def test_bad_input_names_the_field_and_range(call: object, match: str) -> None:
    with pytest.raises(SimulationError, match=match):
        call()  # type: ignore[operator]
