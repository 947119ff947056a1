"""Capacity fade of a batch of simulated cells: formulation, cell-to-cell spread and cycler noise.

The early-cycle forecast (`kinds.cycling.cycle_life`) must be checked on many cells whose fade
differs the way real cells' does; running each through the cycler simulator or the PyBaMM
twin would take minutes per cell. This module draws cells from the closed-form fade law of the
campaign's simulated cell (`cell_circuit.EquivalentCircuitCell`), which is what the cycling
example runs, and adds what a batch of real cells adds to it:

    loss(k) = m·u·[K_cal·A(T)·(√(t_k/day) − √(t_1/day)) + K_cyc·(k − 1)]
              + p·(k − 1) + ε_k − ε_1,      Q_k = Q_1·(1 − loss(k))

- m: the formulation's SEI-rate multiplier (`sei.sei_rate`, relative to O'Kane et al. 2022's
  reference cell, doi:10.1039/D2CP00417H). K_cal, K_cyc, A(T) and the 1C cycle time t_k = k·τ
  are the cell model's (`cell_circuit`: √t law of Broussely et al. 2001, throughput law of
  Safari et al. 2009); one cycle at 1C with CV to C/20 and two 10-minute rests is τ ≈ 2.6 h.
- u ~ LogNormal(0, `CELL_SPREAD`): cell-to-cell spread of the SEI rate among nominally
  identical cells (assumption of 15 %; T. Baumhöfer et al., J. Power Sources 247 (2014) 332,
  report lifetime spreads of this order in 48 identical cells under one protocol; K. A.
  Severson et al. 2019 show cycle life varying by tens of % at one protocol).
- p ~ `PLATING_PER_CYCLE`·LogNormal(0, `PLATING_SPREAD`): the throughput-driven loss the cell
  model lacks, of the size of O'Kane 2022's partially reversible plating at 1C and 25 °C
  (the PyBaMM twin, `cell_twin`, loses about 2e-5 of its capacity per cycle to it; measured,
  see docs/cell_twin.md); its independent spread varies the shape (√k vs k) from cell to cell.
- ε ~ N(0, `CYCLER_NOISE`): cycle-to-cycle scatter of a measured discharge capacity
  (assumption: 1e-4, the repeatability of a good cycler channel; its absolute accuracy, ~0.05 %
  of range, cancels in Q_k/Q_1).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from electroloop.errors import SimulationError
from electroloop.simulations.cell_circuit import (
    CALENDAR_ACTIVATION,
    GAS_CONSTANT,
    K_CALENDAR,
    K_CYCLE,
    SEI_MULTIPLIER_RANGE,
    CellSpec,
    EquivalentCircuitCell,
)

__all__ = [
    "CELL_SPREAD",
    "CYCLER_NOISE",
    "CYCLE_HOURS",
    "PLATING_PER_CYCLE",
    "PLATING_SPREAD",
    "PUBLISHED_RETENTION_GAP",
    "FadeCell",
    "cycle_example_cell",
    "draw_cells",
]

CELL_SPREAD = 0.15
"""Log-normal σ of a cell's SEI rate around its formulation's (assumption; see docstring)."""
PLATING_PER_CYCLE = 2e-5
"""Fraction of capacity lost per 1C cycle to plating (O'Kane 2022 via the twin; measured)."""
PLATING_SPREAD = 0.5
"""Log-normal σ of the plating term from cell to cell (assumption: plating is sensitive to
local overpotential, so it varies more than SEI growth)."""
CYCLER_NOISE = 1e-4
"""Relative std of one measured discharge capacity, cycle to cycle (assumption)."""
CYCLE_HOURS = 2.6
"""h per cycle: 1C CC charge + CV to C/20 + 10 min rest + 1C discharge + 10 min rest."""
PUBLISHED_RETENTION_GAP = (0.01, 0.10)
"""Gap in retention at cycle ~100 between additive-free cells and the best VC/FEC cells of the
same graphite-based chemistry near room temperature, in the comparisons behind `sei.py`:
J. C. Burns et al., J. Electrochem. Soc. 158 (2011) A255 and 160 (2013) A1451 (VC series,
Dahn group); D. Y. Wang et al., J. Power Sources 251 (2014) 311 (VC, FEC, … in LiCoO2/graphite
pouch cells); B. Zhang et al., Digital Discovery (2024), doi:10.1039/D4DD00002A (VC 0.1–3 %
and FEC 5–15 % dose series in automatically assembled cells, data published). A
deliberately broad band (1–10 points) read from those works, not a digitised fit; the
narrower the test, the better its data must be."""
MULTIPLIER_RANGE = SEI_MULTIPLIER_RANGE
"""Accepted SEI multipliers: the cell model's."""


@dataclass(frozen=True)
class FadeCell:
    """One drawn cell: its formulation's SEI multiplier and its own factors and capacities."""

    multiplier: float
    sei_factor: float
    plating_per_cycle: float
    capacities: tuple[float, ...]

    def retention(self, cycle: int) -> float:
        """Measured Q_cycle/Q_1."""
        return self.capacities[cycle - 1] / self.capacities[0]


def _sei_loss(cycles: np.ndarray, temperature: float) -> np.ndarray:
    """m = 1 SEI loss of the cell model at cycles `k` (relative to cycle 1), `n` array."""
    kelvin = temperature + 273.15
    arrhenius = math.exp(-CALENDAR_ACTIVATION / GAS_CONSTANT * (1.0 / kelvin - 1.0 / 298.15))
    days = cycles * CYCLE_HOURS / 24.0
    calendar = K_CALENDAR * arrhenius * (np.sqrt(days) - math.sqrt(CYCLE_HOURS / 24.0))
    return calendar + K_CYCLE * (cycles - 1.0)


def draw_cells(
    multipliers: Sequence[float],
    cycles: int,
    *,
    seed: int = 0,
    temperature: float = 25.0,
    capacity: float = 0.005,
) -> list[FadeCell]:
    """One cell per entry of `multipliers` (repeat a multiplier for replicate cells), each with
    `cycles` discharge capacities (Ah). Raises `SimulationError` naming the field and range."""
    if not (isinstance(cycles, int) and not isinstance(cycles, bool) and 2 <= cycles <= 5000):
        raise SimulationError(f"cycles is {cycles!r}; allowed: integer 2..5000")
    if not (math.isfinite(temperature) and 0.0 <= temperature <= 45.0):
        raise SimulationError(f"temperature is {temperature!r} °C; allowed: 0..45 °C")
    low, high = MULTIPLIER_RANGE
    for index, m in enumerate(multipliers):
        if not (isinstance(m, int | float) and math.isfinite(m) and low <= m <= high):
            raise SimulationError(f"multipliers[{index}] is {m!r}; allowed: {low}..{high}")
    rng = np.random.default_rng([seed, 0xFADE])
    k = np.arange(1, cycles + 1, dtype=float)
    sei = _sei_loss(k, temperature)
    cells = []
    for m in multipliers:
        factor = float(np.exp(CELL_SPREAD * rng.normal()))
        plating = PLATING_PER_CYCLE * float(np.exp(PLATING_SPREAD * rng.normal()))
        loss = m * factor * sei + plating * (k - 1.0)
        noise = CYCLER_NOISE * rng.normal(size=cycles)
        q = capacity * (1.0 - loss) * (1.0 + noise)
        cells.append(FadeCell(float(m), factor, plating, tuple(float(v) for v in q)))
    return cells


def _constant_current(cell: EquivalentCircuitCell, current: float, cutoff: float) -> float:
    """Pass `current` A (+ charges) until the terminal voltage reaches `cutoff` V, landing the
    last step on it within 0.5 s (as a cycler lands a CC step); returns the charge, Ah."""

    def crossed(trial: EquivalentCircuitCell) -> bool:
        voltage = trial.terminal_voltage(current)
        return voltage >= cutoff if current > 0 else voltage <= cutoff

    passed, dt = 0.0, 60.0
    while dt > 0.5:
        trial = copy.copy(cell)
        trial.step(current, dt)
        if crossed(trial):
            dt /= 2.0
            continue
        cell.step(current, dt)
        passed += abs(current) * dt / 3600.0
    return passed


def cycle_example_cell(
    spec: CellSpec, cycles: int, *, c_rate: float = 1.0, seed: int = 0
) -> list[float]:
    """Discharge capacities (Ah) of `cycles` cycles of the cycling example's protocol on the
    cycler simulator's cell: CC charge to 4.2 V, CV to C/20, 10 min rest, CC discharge to 2.5
    V, 10 min rest (`cell_twin.cycling`'s steps), without the cycler's records or noise."""
    if not (isinstance(cycles, int) and 1 <= cycles <= 1000):
        raise SimulationError(f"cycles is {cycles!r}; allowed: integer 1..1000")
    if not (math.isfinite(c_rate) and 0.02 <= c_rate <= 3.0):
        raise SimulationError(f"c_rate is {c_rate!r} C; allowed: 0.02..3 C")
    cell = EquivalentCircuitCell(spec, seed=seed)
    current = c_rate * spec.capacity
    capacities = []
    for _ in range(cycles):
        _constant_current(cell, current, 4.2)
        while True:  # CV at 4.2 V until C/20, 30 s steps
            hold = cell.current_for_voltage(4.2, 30.0)
            if hold <= spec.capacity / 20.0:
                break
            cell.step(hold, 30.0)
        cell.step(0.0, 600.0)
        capacities.append(_constant_current(cell, -current, 2.5))
        cell.step(0.0, 600.0)
    return capacities
