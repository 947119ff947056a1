"""Early prediction of capacity retention, and the rule that stops a poor cell early.

Cycling a cell to its target cycle count takes weeks; the early cycles already say much about
its cycle life (K. A. Severson et al., Nat. Energy 4 (2019) 383,
doi:10.1038/s41560-019-0356-8), and a closed loop that predicts early can stop the clearly poor
candidates and spend the channels on better ones (P. M. Attia et al., Nature 578 (2020) 397,
doi:10.1038/s41586-020-1994-5). Severson's features are learned from a training set of cells
cycled to end of life, which a new campaign does not have, so this module extrapolates the
cell's own fade trend instead and says how far to trust it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from electroloop.models import Estimate

__all__ = ["MIN_CYCLES", "StopDecision", "retention_estimate", "stop_rule"]

MIN_CYCLES = 3
"""Cycles needed for a trend: cycle 1 is left out of the fit, and a line needs two points."""

MODEL_FORM_FRACTION = 0.5
"""Share of the still-to-come predicted loss added as model-form uncertainty (an assumption:
fade may accelerate at a "knee", which no straight line fitted before it can foresee)."""

RETENTION_RANGE = (0.0, 1.2)
"""Range the predicted mean is clipped to: no negative capacity, no implausible gain."""


def _validate(capacities: Sequence[float], target_cycle: int, floor_std: float) -> np.ndarray:
    if isinstance(target_cycle, bool) or not isinstance(target_cycle, int) or target_cycle < 1:
        raise ValueError(f"target_cycle must be an integer >= 1, got {target_cycle!r}")
    if not (math.isfinite(floor_std) and floor_std >= 0.0):
        raise ValueError(f"floor_std must be finite and >= 0, got {floor_std!r}")
    values = np.asarray([float(q) for q in capacities], dtype=float)
    bad = [i for i, q in enumerate(values) if not (math.isfinite(q) and q > 0.0)]
    if bad:
        raise ValueError(
            f"discharge_capacities must be finite and > 0, got {values[bad[0]]!r} at index "
            f"{bad[0]} (cycle {bad[0] + 1})"
        )
    return values


def retention_estimate(
    discharge_capacities: Sequence[float], target_cycle: int, *, floor_std: float = 0.002
) -> Estimate:
    """Predicted retention Q(N)/Q(1) at cycle N = `target_cycle`, with its standard deviation.

    `discharge_capacities` are those of the cycling cycles 1 … c (any unit, the same for all).

    - c >= N: the observed Q_N/Q_1, std `floor_std` (the measurement's own scatter).
    - 3 <= c < N: ordinary least squares of Q/Q_1 against cycle number over cycles 2 … c (cycle
      1 carries the first-cycle loss, an offset rather than a trend), evaluated at N. std² =
      (standard error of that prediction)² + (model-form term)² + floor_std², the model-form
      term being `MODEL_FORM_FRACTION` × |predicted loss by N − observed loss at c|: a straight
      line misses a later knee (accelerating fade), and the further it extrapolates the more
      it can miss. With c = 3 the line goes through both points and has no residual to give a
      standard error; the model-form term and the floor carry the uncertainty.
    - c < 3 (and c < N): ValueError; no trend can be fitted.

    The mean is clipped to `RETENTION_RANGE`.
    """
    q = _validate(discharge_capacities, target_cycle, floor_std)
    c, n = len(q), target_cycle
    if c >= n:
        return Estimate(mean=_clip(q[n - 1] / q[0]), std=floor_std)
    if c < MIN_CYCLES:
        raise ValueError(
            f"discharge_capacities needs >= {MIN_CYCLES} cycles to extrapolate to cycle {n}, "
            f"got {c}"
        )
    x = np.arange(2, c + 1, dtype=float)
    y = q[1:] / q[0]
    x_mean = float(x.mean())
    sxx = float(((x - x_mean) ** 2).sum())
    slope = float(((x - x_mean) * (y - y.mean())).sum()) / sxx
    intercept = float(y.mean()) - slope * x_mean
    predicted = intercept + slope * n
    dof = len(x) - 2
    if dof > 0:
        residual_var = float(((y - intercept - slope * x) ** 2).sum()) / dof
        standard_error_sq = residual_var * (1.0 / len(x) + (n - x_mean) ** 2 / sxx)
    else:
        standard_error_sq = 0.0
    observed = float(y[-1])
    model_form = MODEL_FORM_FRACTION * abs((1.0 - predicted) - (1.0 - observed))
    std = math.sqrt(standard_error_sq + model_form**2 + floor_std**2)
    return Estimate(mean=_clip(predicted), std=std)


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
    z: float = 2.0,
    target_cycle: int | None = None,
) -> StopDecision:
    """Stop a cell when even its optimistic retention (mean + z·std) is below `floor`, or below
    the pessimistic retention (mean − z·std) of the `best` cell so far: then it is clearly
    worse, and its channel is better spent on another candidate (the early stopping of poor
    protocols of Attia et al. 2020). `target_cycle` only names the cycle in the reason.
    """
    if not math.isfinite(floor):
        raise ValueError(f"floor must be a finite retention, got {floor!r}")
    if not (math.isfinite(z) and z >= 0.0):
        raise ValueError(f"z must be finite and >= 0, got {z!r}")
    optimistic = estimate.mean + z * estimate.std
    at = f" at cycle {target_cycle}" if target_cycle is not None else ""
    bound = f"(+{z:g}σ)"
    if optimistic < floor:
        return StopDecision(
            True,
            f"predicted retention{at} ≤ {optimistic:.3f} {bound} is below the floor {floor:.3f}",
        )
    if best is not None:
        pessimistic = best.mean - z * best.std
        if optimistic < pessimistic:
            return StopDecision(
                True,
                f"clearly worse than the best cell: predicted retention{at} ≤ {optimistic:.3f} "
                f"{bound} is below the best cell's ≥ {pessimistic:.3f} (−{z:g}σ)",
            )
    return StopDecision(False, "")
