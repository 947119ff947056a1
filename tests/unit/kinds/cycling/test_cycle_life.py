"""Early retention prediction: unbiased on a linear fade, honest about its uncertainty, and
right about an equivalent-circuit cell that fades by SEI growth."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from electroloop.kinds.cycling.cycle_life import StopDecision, retention_estimate, stop_rule
from electroloop.models import Estimate
from electroloop.simulations.cell_circuit import CellSpec, EquivalentCircuitCell
from tests.floats import assert_close

N = 100  # target cycle

FIT_ROUNDING = 1e-10
"""Relative tolerance for a straight line fitted to noise-free points: the fit subtracts values
near 1 to find slopes of ~1e-3, losing ~3 of the 16 digits to rounding; nothing else differs."""


def linear_fade(cycles: int, *, slope: float = 1e-3, first_loss: float = 0.0) -> list[float]:
    """Discharge capacity (mAh) of cycles 1…`cycles`: a linear fade from cycle 2 on, and cycle
    1 higher by `first_loss` (the first-cycle loss that the fit leaves out)."""
    q = [5.0 * (1.0 - first_loss - slope * (k - 1)) for k in range(1, cycles + 1)]
    q[0] = 5.0
    return q


def true_retention(slope: float, first_loss: float, cycle: int) -> float:
    return 1.0 - first_loss - slope * (cycle - 1)


@pytest.mark.parametrize("first_loss", [0.0, 0.03])
@pytest.mark.parametrize("cycles", [3, 4, 10, 50, 99])
def test_linear_fade_is_predicted_exactly(cycles: int, first_loss: float) -> None:
    estimate = retention_estimate(linear_fade(cycles, first_loss=first_loss), N)
    truth = true_retention(1e-3, first_loss, N)
    assert abs(estimate.mean - truth) < 1e-6
    assert abs(estimate.mean - truth) <= 2 * estimate.std


def test_std_shrinks_towards_the_target_and_is_the_floor_there() -> None:
    q = linear_fade(N + 5)
    stds = [retention_estimate(q[:c], N).std for c in range(3, N + 1)]
    assert all(a > b for a, b in zip(stds, stds[1:], strict=False))
    assert stds[-1] == 0.002  # at the target the std is the floor itself, copied
    # At the target the mean is the observed Q_N/Q_1: the same one division, only rounding.
    assert_close(
        retention_estimate(q, N, floor_std=0.004),
        Estimate(mean=q[N - 1] / q[0], std=0.004),
        rel=1e-12,
        abs=0.0,
    )
    # Noise-free, only the model-form term remains: half the loss still to come.
    early = retention_estimate(q[:10], N, floor_std=0.0)
    assert early.std == pytest.approx(0.5 * 1e-3 * (N - 10), rel=FIT_ROUNDING)


def test_noisy_linear_fade_is_unbiased_and_covered() -> None:
    rng = np.random.default_rng(7)
    truth = true_retention(1e-3, 0.0, N)
    errors, covered = [], 0
    for _ in range(400):
        q = np.asarray(linear_fade(30)) * (1.0 + rng.normal(0.0, 1e-3, 30))
        estimate = retention_estimate(q.tolist(), N)
        # The truth relative to this cell's own (noisy) first cycle.
        target = truth * 5.0 / q[0]
        errors.append(estimate.mean - target)
        covered += abs(estimate.mean - target) <= 2 * estimate.std
    assert abs(np.mean(errors)) < 3 * np.std(errors) / math.sqrt(len(errors))
    assert covered / 400 >= 0.95


def test_noisy_std_shrinks_on_average() -> None:
    rng = np.random.default_rng(11)
    noisy = [np.asarray(linear_fade(N)) * (1 + rng.normal(0, 1e-3, N)) for _ in range(50)]
    mean_std = [np.mean([retention_estimate(q[:c].tolist(), N).std for q in noisy]) for c in
                (5, 20, 50, 90, N)]  # fmt: skip
    assert all(a > b for a, b in zip(mean_std, mean_std[1:], strict=False))


def test_mean_is_clipped() -> None:
    # the clip bounds themselves come back, not a computed value
    assert retention_estimate(linear_fade(10, slope=0.05), 1000).mean == 0.0
    assert retention_estimate([1.0, 1.1, 1.2, 1.3], 1000).mean == 1.2


@pytest.mark.parametrize(
    ("capacities", "target", "kwargs", "match"),
    [
        ([5.0, 4.9], 10, {}, r"needs >= 3 cycles to extrapolate to cycle 10, got 2"),
        ([], 10, {}, r"needs >= 3 cycles.*got 0"),
        ([5.0, -1.0, 4.9], 10, {}, r"discharge_capacities must be finite and > 0.*index 1"),
        ([5.0, math.nan, 4.9], 10, {}, r"discharge_capacities must be finite"),
        ([5.0, 4.9, 4.8], 0, {}, r"target_cycle must be an integer >= 1, got 0"),
        ([5.0, 4.9, 4.8], True, {}, r"target_cycle must be an integer >= 1, got True"),
        ([5.0, 4.9, 4.8], 10, {"floor_std": -0.1}, r"floor_std must be finite and >= 0"),
    ],
)
def test_bad_input_fails_loudly(
    capacities: list[float], target: int, kwargs: dict[str, float], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        retention_estimate(capacities, target, **kwargs)


def test_few_cycles_are_enough_when_the_target_is_reached() -> None:
    # Q_N/Q_1 is one division: only its rounding may differ; the std is the floor, copied
    assert_close(retention_estimate([5.0], 1), Estimate(mean=1.0, std=0.002), rel=1e-12, abs=0.0)
    assert retention_estimate([5.0, 4.5], 2).mean == pytest.approx(0.9, rel=1e-12)


# -- stop rule -------------------------------------------------------------------------------


def test_stop_rule_stops_a_clearly_failing_cell() -> None:
    decision = stop_rule(Estimate(mean=0.6, std=0.05), floor=0.8, best=None, target_cycle=500)
    assert decision == StopDecision(
        True, "predicted retention at cycle 500 ≤ 0.700 (+2σ) is below the floor 0.800"
    )


def test_stop_rule_stops_a_cell_clearly_worse_than_the_best() -> None:
    best = Estimate(mean=0.95, std=0.01)
    decision = stop_rule(Estimate(mean=0.85, std=0.02), floor=0.8, best=best)
    assert decision.stop
    assert decision.reason.startswith("clearly worse than the best cell")
    assert "0.890 (+2σ)" in decision.reason and "0.930 (−2σ)" in decision.reason


def test_stop_rule_continues_while_the_intervals_overlap() -> None:
    best = Estimate(mean=0.95, std=0.01)
    assert stop_rule(Estimate(mean=0.90, std=0.02), floor=0.8, best=best) == StopDecision(False, "")
    # Uncertain early on: the optimistic bound still reaches the floor.
    assert not stop_rule(Estimate(mean=0.7, std=0.06), floor=0.8, best=None).stop
    # A wider z is more patient.
    assert not stop_rule(Estimate(mean=0.85, std=0.02), floor=0.8, best=best, z=4.0).stop


def test_stop_rule_rejects_bad_settings() -> None:
    estimate = Estimate(mean=0.9, std=0.01)
    with pytest.raises(ValueError, match="floor must be a finite retention"):
        stop_rule(estimate, floor=math.nan, best=None)
    with pytest.raises(ValueError, match="z must be finite and >= 0"):
        stop_rule(estimate, floor=0.8, best=None, z=-1.0)


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
    assert abs(estimate.mean - observed) <= 2 * estimate.std
    # The √t calendar fade slows down, so the straight line is on the pessimistic side.
    assert estimate.mean < observed
