"""The solid's effective conductivity of electrode cubes: TauFactor's own SOR solver against
the same equations solved by algebraic multigrid (`simulations.conduction`), seconds and
agreement, on this machine's CPU.

    .venv/bin/python benchmarks/conduction.py [--cubes 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from electroloop.simulations.conduction import effective_conductivity
from electroloop.simulations.microstructure import AM, CBD, ElectrodeDesign, generate

DESIGN = ElectrodeDesign(0.35, 0.93, 0.5, 6)
CONDUCTIVITIES = {AM: 0.18, CBD: 100.0}


def taufactor_solve(volume: np.ndarray) -> float:
    import taufactor

    solver = taufactor.MultiPhaseSolver(volume.astype(int), cond=CONDUCTIVITIES, device="cpu")
    solver.solve(verbose="")
    return float(np.ravel(solver.D_eff)[0])


def timed(solve, volume: np.ndarray) -> tuple[float, float]:
    started = time.perf_counter()
    value = solve(volume)
    return value, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cubes", type=int, default=3)
    args = parser.parse_args()
    print(
        f"Machine: {platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} "
        f"cores; command: `.venv/bin/python benchmarks/conduction.py --cubes {args.cubes}`\n"
    )
    print(
        "| cube | cubes | TauFactor SOR, median s | AMG + CG, median s | speed-up | "
        "largest relative difference |"
    )
    print("|---|---|---|---|---|---|")
    for size in (64, 96, 128):
        volumes = [generate(DESIGN, size, seed=s) for s in range(args.cubes)]
        sor = [timed(taufactor_solve, v) for v in volumes]
        amg = [timed(lambda v: effective_conductivity(v, CONDUCTIVITIES), v) for v in volumes]
        slow = statistics.median(s for _, s in sor)
        fast = statistics.median(s for _, s in amg)
        gap = max(abs(a / s - 1) for (s, _), (a, _) in zip(sor, amg, strict=True))
        print(
            f"| {size}³ | {args.cubes} | {slow:.2f} | {fast:.2f} | {slow / fast:.1f}× | "
            f"{100 * gap:.2f} % |"
        )


if __name__ == "__main__":
    main()
