"""Early forecast of capacity retention with a calibrated interval, and the rule that stops a
poor cell early.

Cycling a cell to its target cycle count takes weeks; the early cycles already say much about
its cycle life (K. A. Severson et al., Nat. Energy 4 (2019) 383,
doi:10.1038/s41560-019-0356-8), and a closed loop that predicts early can stop the clearly poor
candidates and spend the channels on better ones (P. M. Attia et al., Nature 578 (2020) 397,
doi:10.1038/s41586-020-1994-5). Severson's features are learned from cells cycled to end of
life, which a new campaign does not have, so the forecast fits a physically motivated fade law
to the cell's own cycles instead:

    loss(k) = 1 − Q_k/Q_1 = α + β_s·(√k − 1) + β_l·(k − 1) + ε_k,      k = 2 … c

- β_s·√k: SEI growth limited by solvent diffusion through the film, L ∝ √t (H. J. Ploehn et
  al., J. Electrochem. Soc. 151 (2004) A456, doi:10.1149/1.1644601; the √t calendar law of
  M. Broussely et al., J. Power Sources 97–98 (2001) 13); at a fixed protocol t ∝ k.
- β_l·k: throughput-driven loss, linear in cycles (cracking-renewed SEI, partially reversible
  plating and loss of active material: S. E. J. O'Kane et al., Phys. Chem. Chem. Phys. 24 (2022)
  7909, doi:10.1039/D2CP00417H; M. Safari et al., J. Electrochem. Soc. 156 (2009) A145).
- α: the offset shared by every ratio through Q_1's own noise (and a first-cycle step).

Ten cycles cannot tell √k from k apart well, so the fit is Bayesian: Gaussian priors on
(α, β_s, β_l) (`PRIORS`, the range of fade graphite‖NMC cells show) keep the ill-determined
direction honest, and the posterior predictive at the target cycle — parameter uncertainty
propagated, plus the noise of the final measurement — gives the mean and standard deviation.
The noise σ is the residual scatter of a least-squares fit of the same law (at least
`noise_floor`). A knee (fade accelerating once plating or electrolyte dry-out sets in, P. M.
Attia et al., J. Electrochem. Soc. 169 (2022) 060517, a review of "knees") that has
not begun by cycle c cannot be foreseen by any fit of the early cycles: the interval does not
cover it (graphite‖NMC cells at 1C, 25 °C reach their knee near end of life, far beyond the
first hundred cycles). Smaller departures from the law (SEI growing from an initial film,
resistance growth cutting the 1C capacity, plating that changes with porosity) are allowed for
by `MODEL_FORM_FRACTION` of the loss still to come, added to the std.

Calibration (`benchmarks/cycle_life.py`; tests/unit/kinds/cycling/test_cycle_life.py): the
90 % interval (mean ± `Z90`·std) made at cycle 10 covers the cycle-100 value of ~90 % of cells
drawn from `simulations.degradation` (formulations × cell-to-cell spread × cycler noise).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from electroloop.errors import SimulationError
from electroloop.models import Estimate

__all__ = [
    "MIN_CYCLES",
    "Z90",
    "ForecastError",
    "StopDecision",
    "interval",
    "retention_estimate",
    "stop_rule",
]

MIN_CYCLES = 3
"""Cycles needed for a forecast: cycle 1 is the reference, and two more show a trend."""

Z90 = 1.6448536269514722
"""Standard-normal quantile of 0.95: mean ± Z90·std is the central 90 % interval."""

PRIORS = (0.01, 0.01, 5e-4)
"""Prior standard deviations of (α, β_s per √cycle, β_l per cycle), zero-mean. β_s = 0.01 is
a 9 % √t loss by cycle 100 and β_l = 5e-4 a 5 % linear one: the spread of graphite‖NMC cells
with and without additives (Burns et al., J. Electrochem. Soc. 160 (2013) A1451; Harlow et al.,
J. Electrochem. Soc. 166 (2019) A3031, doi:10.1149/2.0981913jes), wide enough that the data
decide whenever they can. Zero-mean: a cell may gain capacity early (wetting, overhang)."""

NOISE_FLOOR = 1e-4
"""Smallest scatter assumed for one Q_k/Q_1 (a cycler's cycle-to-cycle repeatability of ~0.01 %;
an exactly smooth simulated curve would otherwise claim no noise at all)."""

MODEL_FORM_FRACTION = 0.05
"""Share of the predicted loss still to come added (as a std) for the law's own error: without
it the cycle-50 interval on the PyBaMM twin's and the example cell's curves is a few 1e-4 wide
and covers 45–80 % (`benchmarks/cycle_life.py`); 5 % brings both near 90 % (an assumption
checked there, not a physical constant)."""

RETENTION_RANGE = (0.0, 1.2)
"""Range the predicted mean is clipped to: no negative capacity, no implausible gain."""


class ForecastError(SimulationError, ValueError):
    """Input a retention forecast cannot use; the message names the field and its range."""


def _validate(capacities: Sequence[float], target_cycle: int, floor_std: float) -> np.ndarray:
    if isinstance(target_cycle, bool) or not isinstance(target_cycle, int) or target_cycle < 1:
        raise ForecastError(f"target_cycle is {target_cycle!r}; allowed: integer >= 1")
    if not (isinstance(floor_std, int | float) and math.isfinite(floor_std) and floor_std >= 0):
        raise ForecastError(f"floor_std is {floor_std!r}; allowed: finite, >= 0")
    values = np.asarray([float(q) for q in capacities], dtype=float)
    bad = [i for i, q in enumerate(values) if not (math.isfinite(q) and q > 0.0)]
    if bad:
        raise ForecastError(
            f"discharge_capacities[{bad[0]}] (cycle {bad[0] + 1}) is {values[bad[0]]!r}; "
            "allowed: finite, > 0"
        )
    return values


def _basis(cycles: np.ndarray) -> np.ndarray:
    """`n x 3` design: offset, √k − 1, k − 1 (each zero at cycle 1)."""
    return np.column_stack([np.ones_like(cycles), np.sqrt(cycles) - 1.0, cycles - 1.0])


def retention_estimate(
    discharge_capacities: Sequence[float],
    target_cycle: int,
    *,
    floor_std: float = 0.002,
    noise_floor: float = NOISE_FLOOR,
) -> Estimate:
    """Predicted retention Q(N)/Q(1) at cycle N = `target_cycle`, with its standard deviation
    (mean ± `Z90`·std is the 90 % interval; `interval` gives it).

    `discharge_capacities` are those of the cycling cycles 1 … c (any unit, the same for all).

    - c >= N: the observed Q_N/Q_1, std `floor_std` (the measurement's own scatter).
    - 3 <= c < N: the Bayesian fade-law forecast of the module docstring; its std is never
      below `floor_std`, since the value at N will be measured with that scatter.
    - c < 3 (and c < N): `ForecastError`.

    The mean is clipped to `RETENTION_RANGE`.
    """
    q = _validate(discharge_capacities, target_cycle, floor_std)
    if not (
        isinstance(noise_floor, int | float) and math.isfinite(noise_floor) and noise_floor > 0
    ):
        raise ForecastError(f"noise_floor is {noise_floor!r}; allowed: finite, > 0")
    c, n = len(q), target_cycle
    if c >= n:
        return Estimate(mean=_clip(q[n - 1] / q[0]), std=floor_std)
    if c < MIN_CYCLES:
        raise ForecastError(
            f"discharge_capacities has {c} cycles; allowed: >= {MIN_CYCLES} to forecast cycle {n}"
        )
    k = np.arange(2, c + 1, dtype=float)
    loss = 1.0 - q[1:] / q[0]
    design = _basis(k)
    dof = len(k) - design.shape[1]
    sigma = noise_floor
    if dof > 0:
        coefficients, *_ = np.linalg.lstsq(design, loss, rcond=None)
        residual = loss - design @ coefficients
        sigma = max(noise_floor, math.sqrt(float(residual @ residual) / dof))
    prior_precision = np.diag(1.0 / np.square(PRIORS))
    precision = design.T @ design / sigma**2 + prior_precision
    covariance = np.linalg.inv(precision)
    mean_coefficients = covariance @ (design.T @ loss) / sigma**2
    target = _basis(np.array([float(n)]))[0]
    predicted_loss = float(target @ mean_coefficients)
    variance = float(target @ covariance @ target) + sigma**2
    still_to_come = max(predicted_loss - float(loss[-1]), 0.0)
    std = math.hypot(math.sqrt(variance), MODEL_FORM_FRACTION * still_to_come)
    return Estimate(mean=_clip(1.0 - predicted_loss), std=max(std, floor_std))


def interval(estimate: Estimate, z: float = Z90) -> tuple[float, float]:
    """(lower, upper) = mean ∓ z·std: the central 90 % interval for the default z."""
    return estimate.mean - z * estimate.std, estimate.mean + z * estimate.std


def _clip(value: float) -> float:
    return float(min(max(value, RETENTION_RANGE[0]), RETENTION_RANGE[1]))


@dataclass(frozen=True)
class StopDecision:
    """Whether to stop cycling a cell, and why (empty when it continues)."""

    stop: bool
    reason: str


def stop_rule(
    estimate: Estimate,
    *,
    floor: float,
    best: Estimate | None,
    z: float = Z90,
    target_cycle: int | None = None,
) -> StopDecision:
    """Stop a cell when the upper bound of its interval (mean + z·std; the 90 % interval for
    the default z) is below `floor`, or below the lower bound (mean − z·std) of the `best` cell
    so far: then it is clearly worse, and its channel is better spent on another candidate (the
    early stopping of poor protocols of Attia et al. 2020). `target_cycle` only names the cycle
    in the reason. Raises `ForecastError` for a non-finite floor or a z outside 0..10.
    """
    if not (isinstance(floor, int | float) and math.isfinite(floor)):
        raise ForecastError(f"floor is {floor!r}; allowed: a finite retention")
    if not (isinstance(z, int | float) and math.isfinite(z) and 0.0 <= z <= 10.0):
        raise ForecastError(f"z is {z!r}; allowed: 0..10")
    optimistic = interval(estimate, z)[1]
    at = f" at cycle {target_cycle}" if target_cycle is not None else ""
    bound = f"(+{z:g}σ)"
    if optimistic < floor:
        return StopDecision(
            True,
            f"predicted retention{at} ≤ {optimistic:.3f} {bound} is below the floor {floor:.3f}",
        )
    if best is not None:
        pessimistic = interval(best, z)[0]
        if optimistic < pessimistic:
            return StopDecision(
                True,
                f"clearly worse than the best cell: predicted retention{at} ≤ {optimistic:.3f} "
                f"{bound} is below the best cell's ≥ {pessimistic:.3f} (−{z:g}σ)",
            )
    return StopDecision(False, "")
