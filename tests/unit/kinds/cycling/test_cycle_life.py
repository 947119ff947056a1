"""Early retention forecast: right on its own fade law, a calibrated 90 % interval on a batch
of simulated cells, right about an equivalent-circuit cell that fades by SEI growth, and a stop
rule that stops a clearly poor cell and keeps a good one."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from electroloop.errors import SimulationError
from electroloop.kinds.cycling.cycle_life import (
    Z90,
    ForecastError,
    StopDecision,
    interval,
    retention_estimate,
    stop_rule,
)
from electroloop.models import Estimate
from electroloop.simulations.cell_circuit import CellSpec, EquivalentCircuitCell
from electroloop.simulations.degradation import draw_cells
from electroloop.simulations.sei import sei_rate
from tests.floats import assert_close

N = 100  # target cycle


def law_fade(cycles: int, *, sqrt: float = 2e-3, linear: float = 2e-4) -> list[float]:
    """Discharge capacity (mAh) of cycles 1…`cycles` on the forecast's own law, noise-free."""
    return [
        5.0 * (1.0 - sqrt * (math.sqrt(k) - 1) - linear * (k - 1)) for k in range(1, cycles + 1)
    ]


def law_retention(cycle: int, *, sqrt: float = 2e-3, linear: float = 2e-4) -> float:
    return 1.0 - sqrt * (math.sqrt(cycle) - 1) - linear * (cycle - 1)


@pytest.mark.parametrize("cycles", [10, 25, 50, 99])
def test_noise_free_fade_law_is_forecast_closely(cycles: int) -> None:
    estimate = retention_estimate(law_fade(cycles), N, floor_std=0.0)
    truth = law_retention(N)
    # the priors pull a little towards no fade; with 10 cycles that is < 1e-3 of retention
    assert estimate.mean == pytest.approx(truth, abs=1e-3 if cycles == 10 else 1e-4)
    low, high = interval(estimate)
    assert low <= truth <= high


def test_std_shrinks_as_cycles_accrue_and_is_the_floor_at_the_target() -> None:
    rng = np.random.default_rng(5)
    q = np.asarray(law_fade(N)) * (1.0 + rng.normal(0.0, 1e-4, N))
    stds = [retention_estimate(q[:c].tolist(), N, floor_std=0.0).std for c in (5, 10, 25, 50, 90)]
    assert all(a > b for a, b in zip(stds, stds[1:], strict=False))
    # At the target the mean is the observed Q_N/Q_1 (one division) and the std the floor, copied.
    assert_close(
        retention_estimate(q.tolist(), N, floor_std=0.004),
        Estimate(mean=q[N - 1] / q[0], std=0.004),
        rel=1e-12,
        abs=0.0,
    )
    assert retention_estimate(q[:50].tolist(), N).std >= 0.002  # never below the floor


FORMULATIONS = [
    {"EC": 0.3, "EMC": 0.7},
    {"EC": 0.3, "EMC": 0.69, "VC": 0.01},
    {"EC": 0.3, "EMC": 0.68, "VC": 0.02},
    {"EC": 0.3, "EMC": 0.68, "FEC": 0.02},
    {"EC": 0.3, "EMC": 0.65, "FEC": 0.05},
    {"EC": 0.2, "EMC": 0.73, "FEC": 0.05, "VC": 0.02},
]


def test_cycle_10_interval_covers_cycle_100_in_about_90_percent_of_cells() -> None:
    """240 cells: six formulations × 40 cells with cell-to-cell spread and cycler noise."""
    multipliers = [sei_rate(f).multiplier for f in FORMULATIONS for _ in range(40)]
    cells = draw_cells(multipliers, N, seed=20)
    covered = []
    for cell in cells:
        low, high = interval(retention_estimate(cell.capacities[:10], N, floor_std=0.0))
        covered.append(low <= cell.retention(N) <= high)
    coverage = float(np.mean(covered))
    # The forecast is slightly conservative at cycle 10 (0.94–0.95 over 600 cells in
    # benchmarks/cycle_life.py). The binomial sd over 240 cells is ~0.015: the band is
    # 0.90 − 3σ … 0.945 + 1.7σ, and it fails an interval that is clearly too narrow or too wide.
    assert 0.85 <= coverage <= 0.97


def test_few_cycles_are_enough_when_the_target_is_reached() -> None:
    # Q_N/Q_1 is one division: only its rounding may differ; the std is the floor, copied
    assert_close(retention_estimate([5.0], 1), Estimate(mean=1.0, std=0.002), rel=1e-12, abs=0.0)
    assert retention_estimate([5.0, 4.5], 2).mean == pytest.approx(0.9, rel=1e-12)


def test_mean_is_clipped() -> None:
    # the clip bounds themselves come back, not a computed value
    assert retention_estimate(law_fade(10, linear=0.05), 1000).mean == 0.0
    assert retention_estimate([1.0, 1.1, 1.2, 1.3, 1.4], 1000).mean == 1.2


@pytest.mark.parametrize(
    ("capacities", "target", "kwargs", "match"),
    [
        ([5.0, 4.9], 10, {}, r"discharge_capacities has 2 cycles; allowed: >= 3"),
        ([], 10, {}, r"discharge_capacities has 0 cycles; allowed: >= 3"),
        ([5.0, -1.0, 4.9], 10, {}, r"discharge_capacities\[1\] \(cycle 2\).*allowed: finite, > 0"),
        ([5.0, math.nan, 4.9], 10, {}, r"discharge_capacities\[1\].*allowed: finite, > 0"),
        ([5.0, 4.9, 4.8], 0, {}, r"target_cycle is 0; allowed: integer >= 1"),
        ([5.0, 4.9, 4.8], True, {}, r"target_cycle is True; allowed: integer >= 1"),
        ([5.0, 4.9, 4.8], 10, {"floor_std": -0.1}, r"floor_std is -0.1; allowed: finite, >= 0"),
        ([5.0, 4.9, 4.8], 10, {"noise_floor": 0.0}, r"noise_floor is 0.0; allowed: finite, > 0"),
    ],
)
def test_bad_input_is_refused_with_a_named_error(
    capacities: list[float], target: int, kwargs: dict[str, float], match: str
) -> None:
    with pytest.raises(ForecastError, match=match) as raised:
        retention_estimate(capacities, target, **kwargs)
    assert isinstance(raised.value, SimulationError)


# -- physics: an equivalent-circuit cell fading by SEI growth ---------------------------------


def cc_until(cell: EquivalentCircuitCell, current: float, cutoff: float, dt: float = 60.0) -> float:
    """Pass `current` A until the terminal voltage reaches `cutoff` V (the last step bisected
    onto it, as a cycler lands a CC step); returns the charge passed, Ah."""

    def crossed(c: EquivalentCircuitCell) -> bool:
        voltage = c.terminal_voltage(current)
        return voltage >= cutoff if current > 0 else voltage <= cutoff

    passed = 0.0
    while True:
        trial = copy.copy(cell)
        trial.step(current, dt)
        if crossed(trial):
            break
        cell.step(current, dt)
        passed += abs(current) * dt / 3600.0
    low, high = 0.0, dt
    while high - low > 1e-3:
        middle = 0.5 * (low + high)
        trial = copy.copy(cell)
        trial.step(current, middle)
        low, high = (low, middle) if crossed(trial) else (middle, high)
    cell.step(current, high)
    return passed + abs(current) * high / 3600.0


@pytest.fixture(scope="module")
def cell_capacities() -> list[float]:
    """Discharge capacities of 40 CC 1C charge / CC 1C discharge cycles, 2.5–4.2 V."""
    cell = EquivalentCircuitCell(CellSpec(capacity=0.005))
    one_c = cell.spec.capacity
    capacities = []
    for _ in range(40):
        cc_until(cell, one_c, 4.2)
        capacities.append(cc_until(cell, -one_c, 2.5))
    return capacities


def test_cell_fades_by_sei_growth(cell_capacities: list[float]) -> None:
    q = np.asarray(cell_capacities)
    assert np.all(np.diff(q) < 0)  # every cycle loses capacity
    assert 0.98 < q[-1] / q[0] < 0.999  # calendar + throughput loss over ~3 days


@pytest.mark.parametrize("floor_std", [0.002, 0.0])
def test_early_estimate_contains_the_cells_retention_at_cycle_40(
    cell_capacities: list[float], floor_std: float
) -> None:
    observed = cell_capacities[39] / cell_capacities[0]
    estimate = retention_estimate(cell_capacities[:15], 40, floor_std=floor_std)
    low, high = interval(estimate)
    assert low <= observed <= high
    # √t + linear is the cell's own law: noise-free, the forecast is close, not only covering.
    assert estimate.mean == pytest.approx(observed, abs=5e-4)


# -- stop rule -------------------------------------------------------------------------------


def test_stop_rule_stops_a_clearly_failing_cell() -> None:
    decision = stop_rule(Estimate(mean=0.6, std=0.05), floor=0.8, best=None, target_cycle=500)
    assert decision == StopDecision(
        True, "predicted retention at cycle 500 ≤ 0.682 (+1.64485σ) is below the floor 0.800"
    )


def test_stop_rule_uses_the_90_percent_intervals() -> None:
    best = Estimate(mean=0.95, std=0.01)
    decision = stop_rule(Estimate(mean=0.85, std=0.02), floor=0.8, best=best)
    assert decision.stop
    assert decision.reason.startswith("clearly worse than the best cell")
    assert f"{0.85 + Z90 * 0.02:.3f}" in decision.reason
    assert f"{0.95 - Z90 * 0.01:.3f}" in decision.reason
    assert interval(best) == pytest.approx((0.95 - Z90 * 0.01, 0.95 + Z90 * 0.01), rel=1e-12)


def test_stop_rule_continues_while_the_intervals_overlap() -> None:
    best = Estimate(mean=0.95, std=0.01)
    assert stop_rule(Estimate(mean=0.91, std=0.02), floor=0.8, best=best) == StopDecision(False, "")
    # Uncertain early on: the optimistic bound still reaches the floor.
    assert not stop_rule(Estimate(mean=0.7, std=0.07), floor=0.8, best=None).stop
    # A wider z is more patient.
    assert not stop_rule(Estimate(mean=0.85, std=0.02), floor=0.8, best=best, z=4.0).stop


def test_stop_rule_stops_a_poor_simulated_cell_and_keeps_a_good_one() -> None:
    """At cycle 25: an additive-free cell against a 2 % VC + FEC cell (the best so far)."""
    bare, good = draw_cells(
        [sei_rate(FORMULATIONS[0]).multiplier, sei_rate(FORMULATIONS[-1]).multiplier], N, seed=4
    )
    poor_estimate = retention_estimate(bare.capacities[:25], N)
    good_estimate = retention_estimate(good.capacities[:25], N)
    assert stop_rule(poor_estimate, floor=0.8, best=good_estimate).stop
    assert not stop_rule(good_estimate, floor=0.8, best=poor_estimate).stop
    assert not stop_rule(good_estimate, floor=0.8, best=None).stop


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"floor": math.nan}, r"floor is nan; allowed: a finite retention"),
        ({"floor": 0.8, "z": -1.0}, r"z is -1.0; allowed: 0..10"),
        ({"floor": 0.8, "z": math.inf}, r"z is inf; allowed: 0..10"),
    ],
)
def test_stop_rule_refuses_bad_settings(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ForecastError, match=match):
        stop_rule(Estimate(mean=0.9, std=0.01), best=None, **kwargs)  # type: ignore[arg-type]
