"""Seconds per electrode-campaign iteration on this machine, by cube size and count, and at
the volume the convergence command justifies (issue 19).

First the convergence study (`microstructure.convergence`, what `electroloop electrode
converge` prints) of one design of case 3's box: COUNT cubes at each of 48³, 64³ and 96³, and
the size and count that give every metric ±1 % at 95 % in the fewest seconds. Then one
iteration, timed: one twin evaluation (cubes drawn and measured, the 4680 cell discharged at
10 W once per cube, or once per group of cubes beyond `DISCHARGE_GROUPS`) plus the planner's
proposal (Ax at 50 trials, 4 parameters, timed once). Designs are drawn at random in case 3's
box, each fresh (an empty cache).

    .venv/bin/python benchmarks/electrode_iteration.py [--designs 4] [--justified-designs 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from electroloop.cli.electrode import convergence_table
from electroloop.kinds.electrode.campaign import ElectrodeCampaign
from electroloop.kinds.electrode.evaluation import ContentCache, evaluate
from electroloop.kinds.registry import load_campaign
from electroloop.models import Observation
from electroloop.simulations.microstructure import ElectrodeDesign, convergence, justified

CASE = (
    Path(__file__).resolve().parent.parent / "examples/campaigns/electrode/case3_energy_cell.toml"
)
VOLUMES = ((64, 3), (48, 2), (48, 3))
STUDY = ElectrodeDesign(0.35, 0.93, 0.5, 6)
"""The design the convergence study follows (case 3's box, Chen2020's particles at 0.87 µm)."""


def case() -> ElectrodeCampaign:
    spec = load_campaign(CASE)
    assert isinstance(spec, ElectrodeCampaign)
    return spec


def evaluation_seconds(
    designs: int, volumes: tuple[tuple[int, int], ...]
) -> dict[tuple[int, int], float]:
    spec = case()
    rng = np.random.default_rng(7)
    ranges = spec.design.searched()
    points = [
        {n: float(rng.uniform(lo, hi)) for n, (lo, hi) in ranges.items()} for _ in range(designs)
    ]
    out = {}
    for size, count in volumes:
        micro = spec.microstructure.model_copy(update={"size": size, "realisations": count})
        seconds = []
        for point in points:
            started = time.perf_counter()
            evaluate(point, micro, spec.discharge, spec.seed, ContentCache())
            seconds.append(time.perf_counter() - started)
        out[(size, count)] = statistics.median(seconds)
    return out


def ask_seconds() -> float:
    from electroloop.planners.ax_planner import AxPlanner

    spec = case()
    planner = AxPlanner(spec.space, spec.goal, seed=1)
    rng = np.random.default_rng(1)
    told = 0
    while True:
        started = time.perf_counter()
        batch = planner.ask(2)
        elapsed = time.perf_counter() - started
        if told >= 50:
            return elapsed
        told += len(batch)
        planner.tell(
            [
                Observation(
                    candidate_id=c.id,
                    design=c.design,
                    values={"wh_per_l": float(rng.normal(800, 20))},
                    errors={"wh_per_l": 3.0},
                )
                for c in batch
            ]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--designs", type=int, default=4)
    parser.add_argument("--justified-designs", type=int, default=2)
    parser.add_argument("--count", type=int, default=10, help="cubes per size in the study")
    args = parser.parse_args()
    rows = convergence(STUDY, (48, 64, 96), args.count, voxel_size=0.87, target=0.01)
    answer = justified(rows)
    evaluations = evaluation_seconds(args.designs, VOLUMES)
    evaluations |= evaluation_seconds(args.justified_designs, ((answer.size, answer.cubes_needed),))
    ask = ask_seconds()
    print(
        f"Machine: {platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} "
        f"cores; command: `.venv/bin/python benchmarks/electrode_iteration.py --designs "
        f"{args.designs} --justified-designs {args.justified_designs} --count {args.count}`\n"
    )
    print("\n".join(convergence_table(rows)))
    print(
        f"\nJustified: {answer.cubes_needed} cubes of {answer.size}³ (every metric ±1 % at "
        f"95 %; of the sizes agreeing with 96³, the fewest seconds)\n"
    )
    print(
        "| cubes per design | twin evaluation, median s | + Ax ask(2) at 50 trials | s/iteration |"
    )
    print("|---|---|---|---|")
    for (size, count), seconds in evaluations.items():
        print(f"| {count} × {size}³ | {seconds:.1f} | {ask:.1f} | {seconds + ask:.1f} |")


if __name__ == "__main__":
    main()
