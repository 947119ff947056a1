"""A cell's objectives from its per-cycle statistics, with the uncertainty the planner needs.

- `retention`: discharge capacity at cycling cycle N over cycling cycle 1. Before cycle N it
  is a forecast (`cycle_life.retention_estimate`: a Bayesian √k + k fade-law fit whose
  mean ± 1.645·std is a calibrated 90 % interval), whose std shrinks as cycles accrue; a cell
  that hit the capacity floor first reports its last retention (an upper bound at N).
- `rate_ratio`: discharge capacity at the fastest rate of the rate test over the slowest
  (e.g. 2C / C/5), the fast-charge proxy of the rate test.
- `coulombic_efficiency`: mean CE of the cycling cycles after the first (at most the last 10),
  the parasitic-reaction measure of high-precision coulometry (Burns et al., J. Electrochem.
  Soc. 160 (2013) A1451).
- `discharge_capacity`: cycling cycle 1's discharge capacity, mAh.

Measured values carry a relative standard deviation of 0.1 % (assumption: capacity from a
cycler channel whose current is accurate to ~0.05 % of range, integrated over a step).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from electroloop.kinds.cycling.cycle_life import retention_estimate
from electroloop.kinds.cycling.spec import CyclingSpec
from electroloop.kinds.cycling.summary import CycleStats
from electroloop.models import Estimate

MEASURED_RELATIVE_STD = 1e-3
CE_WINDOW = 10


def measured_retention(value: float) -> Estimate:
    """A retention measured at cycle N (a ratio of two capacities: twice their error)."""
    return Estimate(mean=value, std=value * MEASURED_RELATIVE_STD * 2)


def cell_values(
    stats: Sequence[CycleStats], spec: CyclingSpec, *, final: bool
) -> dict[str, Estimate]:
    """The cell metrics known from `stats` (at least 3 complete cycling cycles needed for
    `retention`); `final`: the cell's test has ended."""
    cycling = [s for s in stats if s.phase == "cycling"]
    values: dict[str, Estimate] = {}
    rate = sorted(
        (s for s in stats if s.phase.startswith("rate-")), key=lambda s: s.discharge_current
    )
    if len(rate) >= 2 and rate[0].discharge_capacity > 0:
        ratio = rate[-1].discharge_capacity / rate[0].discharge_capacity
        values["rate_ratio"] = Estimate(mean=ratio, std=ratio * MEASURED_RELATIVE_STD * 2)
    if not cycling:
        return values
    q = [s.discharge_capacity for s in cycling]
    values["discharge_capacity"] = Estimate(
        mean=q[0] * 1000.0, std=q[0] * 1000.0 * MEASURED_RELATIVE_STD
    )
    efficiencies = [
        s.coulombic_efficiency for s in cycling[1:] if math.isfinite(s.coulombic_efficiency)
    ]
    if efficiencies:
        window = efficiencies[-CE_WINDOW:]
        spread = statistics.stdev(window) / math.sqrt(len(window)) if len(window) > 1 else 0.0
        values["coulombic_efficiency"] = Estimate(
            mean=statistics.fmean(window), std=math.hypot(spread, 1e-4)
        )
    if len(q) >= spec.cycles or (final and q[-1] < spec.capacity_floor * q[0]):
        values["retention"] = measured_retention(q[min(len(q), spec.cycles) - 1] / q[0])
    elif len(q) >= 3:
        values["retention"] = retention_estimate(q, spec.cycles)
    return values
