"""Cycle life that means something: retention at cycle 100 per formulation, and how often the
cycle-10 forecast's 90 % interval covers the value measured at cycle 100.

Prints Markdown for BENCHMARKS.md:

1. Retention at cycle 100 (1C CC-CV, 25 °C) per formulation on the cycling example's cell
   (`degradation.cycle_example_cell`: the cycler simulator's equivalent-circuit cell with the
   formulation's SEI multiplier) and on the PyBaMM twin (SPMe, O'Kane 2022 SEI + plating;
   `--twin-cycles 0` skips it), against the published additive gap
   (`degradation.PUBLISHED_RETENTION_GAP`).
2. Coverage of the 90 % interval (mean ± 1.645·std of `cycle_life.retention_estimate`) made at
   cycles 10, 25 and 50 for cycle 100, on `--cells` cells drawn by `degradation.draw_cells`
   (formulations × cell-to-cell spread × cycler noise), on the example's cells with cycler noise,
   and on the twin's trajectories with the same spread and noise.

No public cycling data ships with a locked package (galvani, fastnda, aurora-neware,
aurora-biologic and PyBaMM carry parsers and parameter tables, no aging data), so nothing real
is checked here.
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pybamm

from electroloop.kinds.cycling.cycle_life import interval, retention_estimate
from electroloop.simulations.cell_circuit import CellSpec
from electroloop.simulations.cell_twin import CellTwin, Electrolyte, cycling
from electroloop.simulations.degradation import (
    CELL_SPREAD,
    CYCLER_NOISE,
    PUBLISHED_RETENTION_GAP,
    cycle_example_cell,
    draw_cells,
)
from electroloop.simulations.sei import sei_rate

TARGET = 100
CHECKPOINTS = (10, 25, 50)
FORMULATIONS: dict[str, dict[str, float]] = {
    "EC/EMC 3:7, no additive": {"EC": 0.3, "EMC": 0.7},
    "+ 1 % VC": {"EC": 0.3, "EMC": 0.69, "VC": 0.01},
    "+ 2 % VC": {"EC": 0.3, "EMC": 0.68, "VC": 0.02},
    "+ 2 % FEC": {"EC": 0.3, "EMC": 0.68, "FEC": 0.02},
    "+ 5 % FEC": {"EC": 0.3, "EMC": 0.65, "FEC": 0.05},
    "+ 5 % FEC + 2 % VC": {"EC": 0.3, "EMC": 0.63, "FEC": 0.05, "VC": 0.02},
}


def coverage(
    trajectories: Sequence[Sequence[float]], floor_std: float
) -> dict[int, tuple[float, float, float]]:
    """checkpoint -> (coverage, median interval width, RMSE of the mean) over `trajectories`."""
    out = {}
    for c in CHECKPOINTS:
        hits, widths, errors = [], [], []
        for q in trajectories:
            estimate = retention_estimate(list(q[:c]), TARGET, floor_std=floor_std)
            low, high = interval(estimate)
            truth = q[TARGET - 1] / q[0]
            hits.append(low <= truth <= high)
            widths.append(high - low)
            errors.append(estimate.mean - truth)
        out[c] = (
            float(np.mean(hits)),
            float(np.median(widths)),
            float(math.sqrt(np.mean(np.square(errors)))),
        )
    return out


def spread_and_noise(q: Sequence[float], rng: np.random.Generator) -> list[float]:
    """A cell like `q` from the same batch: its loss × LogNormal(0, CELL_SPREAD), cycler noise."""
    base = np.asarray(q, dtype=float)
    loss = 1.0 - base / base[0]
    factor = math.exp(CELL_SPREAD * rng.normal())
    noisy = base[0] * (1.0 - factor * loss) * (1.0 + CYCLER_NOISE * rng.normal(size=len(base)))
    return noisy.tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=600, help="drawn cells for coverage")
    parser.add_argument("--twin-cycles", type=int, default=TARGET, help="0 skips the twin")
    parser.add_argument("--replicates", type=int, default=40, help="noisy copies per curve")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, default=None, help="keep twin runs here")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    example: dict[str, list[float]] = {}
    twin_runs: dict[str, list[float]] = {}
    twin_seconds: list[float] = []
    for name, fractions in FORMULATIONS.items():
        m = sei_rate(fractions).multiplier
        example[name] = cycle_example_cell(CellSpec(sei_multiplier=m), TARGET)
        if args.twin_cycles:
            twin = CellTwin(cache_dir=args.cache_dir)
            start = time.perf_counter()
            run = twin.run(cycling(args.twin_cycles, 1.0), Electrolyte(fractions, conductivity=9.5))
            if twin.solves:  # a cached run says nothing about speed
                twin_seconds.append((time.perf_counter() - start) / args.twin_cycles)
            twin_runs[name] = list(run.discharge_capacities)

    print("### Cycle life: retention at cycle 100 and the early forecast\n")
    print(
        f"`PYTHONPATH=src python benchmarks/cycle_life.py --cells {args.cells} "
        f"--twin-cycles {args.twin_cycles} --replicates {args.replicates} --seed {args.seed}` "
        f"(PyBaMM {pybamm.__version__}, {platform.machine()}, {platform.processor() or 'cpu'})\n"
    )
    print("Retention Q(100)/Q(1) at 1C CC-CV, 25 °C:\n")
    header = "| formulation | SEI multiplier m | example cell | gain over no additive |"
    rule = "|---|---|---|---|"
    if twin_runs:
        header += f" PyBaMM twin (O'Kane 2022), cycle {args.twin_cycles} |"
        rule += "---|"
    print(header)
    print(rule)
    bare = next(iter(example.values()))
    for name, q in example.items():
        row = (
            f"| {name} | {sei_rate(FORMULATIONS[name]).multiplier:.2f} | {q[-1] / q[0]:.4f} | "
            f"{q[-1] / q[0] - bare[-1] / bare[0]:+.4f} |"
        )
        if twin_runs:
            t = twin_runs[name]
            row += f" {t[-1] / t[0]:.4f} |"
        print(row)
    low, high = PUBLISHED_RETENTION_GAP
    print(
        f"\nPublished gap between additive-free and VC/FEC cells at ~100 cycles: "
        f"{low:.2f}–{high:.2f} (`degradation.PUBLISHED_RETENTION_GAP`, with sources)."
    )
    if twin_seconds:
        print(
            f"PyBaMM twin: {np.median(twin_seconds):.3f} s per cycle (median of "
            f"{len(twin_seconds)} uncached {args.twin_cycles}-cycle SPMe runs)."
        )

    multipliers = [
        sei_rate(f).multiplier for f in FORMULATIONS.values() for _ in range(args.cells // 6)
    ]
    drawn = [cell.capacities for cell in draw_cells(multipliers, TARGET, seed=args.seed + 1)]
    example_cells = [
        spread_and_noise(q, rng) for q in example.values() for _ in range(args.replicates)
    ]
    twin_cells = [
        spread_and_noise(q, rng)
        for q in twin_runs.values()
        if len(q) >= TARGET
        for _ in range(args.replicates)
    ]
    print(
        "\nCoverage of the 90 % interval for cycle 100 (target 0.90), median interval width, "
        "RMSE of the forecast mean:\n"
    )
    print("| cells | n | floor_std | " + " | ".join(f"at cycle {c}" for c in CHECKPOINTS) + " |")
    print("|---|---|---|" + "---|" * len(CHECKPOINTS))
    sets = [("drawn (`draw_cells`)", drawn), ("example cell + spread + noise", example_cells)]
    if twin_cells:
        sets.append(("PyBaMM twin + spread + noise", twin_cells))
    for label, cells in sets:
        for floor_std in (0.0, 0.002):
            result = coverage(cells, floor_std)
            cols = " | ".join(
                f"{cov:.3f} (±{w / 2:.4f}, RMSE {e:.4f})" for cov, w, e in result.values()
            )
            print(f"| {label} | {len(cells)} | {floor_std:g} | {cols} |")
    print(
        "\nfloor_std 0.002 is what the cycling loop uses (the planner's measurement noise of a "
        "retention); 0 shows the forecast's own calibration."
    )


if __name__ == "__main__":
    main()
