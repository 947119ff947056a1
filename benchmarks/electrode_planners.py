"""Case 3 (four electrode parameters, Wh/L at 10 W): does the planner reach 99 % of the optimum
within 50 trials, and how much sooner than random and Sobol sampling?

- The campaign is `examples/campaigns/electrode/case3_energy_cell.toml` with a budget of 50
  trials, run through the engine (planner, store, twin experiment) for each planner and seed.
- The reference optimum comes from a search 10× the budget (`reference`: 512 scrambled Sobol
  points over the box, then 64 points drawn around the best within ±5 % of each range; the best
  design's value re-drawn with 8 fresh cubes, since the best of 576 noisy values is biased
  upwards), computed once and stored in `benchmarks/electrode_reference.json` with the twin's
  versions, and computed again when those versions or the volume change.
- "Reached" means the best value observed so far (each a mean over the design's cubes) is at
  least 99 % of the reference value; the report gives the trial at which each run got there
  (median over seeds, None when a run never did).
- To fit 2 cores (1,326 twin evaluations in all), every campaign here draws 2 cubes of 32³
  voxels per design with particles of 4 voxels of 1.3 µm (the same 5.2 µm particles, coarser
  voxels; the case file asks for 3 cubes of 64³ with 6-voxel particles): the optimiser meets the
  same physics with a coarser microstructure and a larger spread between cubes. `--full` uses
  the case file's volumes.

    .venv/bin/python benchmarks/electrode_planners.py [--seeds 5] [--full]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import qmc

from electroloop.kinds.electrode.campaign import ElectrodeCampaign
from electroloop.kinds.electrode.evaluation import ContentCache, evaluate, twin_versions
from electroloop.kinds.registry import load_campaign, parse_campaign
from electroloop.settings import Settings
from electroloop.workflows.build import build_planner
from electroloop.workflows.twin_build import assemble_twin

HERE = Path(__file__).resolve().parent
CASE = HERE.parent / "examples" / "campaigns" / "electrode" / "case3_energy_cell.toml"
REFERENCE = HERE / "electrode_reference.json"
BUDGET = 50
TARGET = 0.99
PLANNERS = ("ax", "sobol", "random")
FAST = {"size": 32, "particle_radius": 4, "voxel_size": 1.3, "realisations": 2}


def case(full: bool, **changes: Any) -> ElectrodeCampaign:
    data = load_campaign(CASE).model_dump(mode="json") | {"budget": BUDGET} | changes
    if not full:
        data["microstructure"] = data["microstructure"] | FAST
    spec = parse_campaign(data, str(CASE))
    assert isinstance(spec, ElectrodeCampaign)
    return spec


def reference(spec: ElectrodeCampaign, cache: ContentCache) -> dict[str, Any]:
    """The best value of a 10×-budget search (see the module docstring); stored once."""
    ranges = spec.design.searched()
    names, low, high = list(ranges), *np.array(list(ranges.values())).T

    def value(point: np.ndarray) -> float:
        design = {**spec.design.fixed(), **dict(zip(names, map(float, point), strict=True))}
        return evaluate(design, spec.microstructure, spec.discharge, spec.seed, cache).values[
            spec.goal.primary.name
        ]

    sobol = qmc.scale(qmc.Sobol(len(names), scramble=True, rng=20261207).random(512), low, high)
    values = [value(p) for p in sobol]
    best = sobol[int(np.argmax(values))]
    rng = np.random.default_rng(20261207)
    local = np.clip(best + rng.uniform(-0.05, 0.05, (64, len(names))) * (high - low), low, high)
    values += [value(p) for p in local]
    points = np.vstack([sobol, local])
    top = int(np.argmax(values))
    design = dict(zip(names, map(float, points[top]), strict=True))
    # The best of 576 noisy values is biased upwards by the noise: its value is re-drawn with
    # 8 fresh cubes (another seed), which is what the reference states.
    again = spec.microstructure.model_copy(update={"realisations": 8})
    fresh = evaluate(
        {**spec.design.fixed(), **design}, again, spec.discharge, spec.seed + 1000, cache
    )
    return {
        "design": design,
        "value": fresh.values[spec.goal.primary.name],
        "standard_error": fresh.errors[spec.goal.primary.name],
        "best_of_search": float(values[top]),
        "evaluations": len(values) + 1,
        "method": "512 scrambled Sobol points (seed 20261207) + 64 uniform within ±5 % of "
        "each range around the best; the best re-drawn with 8 fresh cubes",
        "microstructure": spec.microstructure.model_dump(),
        "versions": twin_versions(),
    }


def trials_to_target(values: list[float], goal: float) -> int | None:
    best = -np.inf
    for trial, value in enumerate(values, start=1):
        best = max(best, value)
        if best >= goal:
            return trial
    return None


def run(spec: ElectrodeCampaign, settings: Settings) -> tuple[list[float], float]:
    started = time.perf_counter()
    with assemble_twin(spec, settings, spec.name, [], build_planner) as campaign:
        state = campaign.run()
    order = sorted(state.observations, key=lambda cid: state.trial_index[cid])
    values = [state.observations[cid].values[spec.goal.primary.name] for cid in order]
    return values, (time.perf_counter() - started) / max(1, len(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--full", action="store_true", help="the case file's volumes")
    parser.add_argument(
        "--planners", default=",".join(PLANNERS), help="comma-separated (default ax,sobol,random)"
    )
    args = parser.parse_args()
    planners = [p.strip() for p in args.planners.split(",") if p.strip()]
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home))
        cache = ContentCache(Path(home) / "cache")
        base = case(args.full)
        stored = json.loads(REFERENCE.read_text()) if REFERENCE.exists() else None
        if (
            stored is None
            or stored["microstructure"] != base.microstructure.model_dump()
            or stored["versions"] != twin_versions()
        ):
            started = time.perf_counter()
            stored = reference(base, cache) | {"seconds": time.perf_counter() - started}
            REFERENCE.write_text(json.dumps(stored, indent=2) + "\n")
        goal = TARGET * stored["value"]
        reached: dict[str, list[int | None]] = {p: [] for p in planners}
        seconds: dict[str, list[float]] = {p: [] for p in planners}
        finals: dict[str, list[float]] = {p: [] for p in planners}
        for seed in range(1, args.seeds + 1):
            for planner in planners:
                spec = case(args.full, planner=planner, seed=seed, name=f"{planner}-{seed}")
                values, per_trial = run(spec, settings)
                reached[planner].append(trials_to_target(values, goal))
                seconds[planner].append(per_trial)
                finals[planner].append(max(values) / stored["value"])
                print(f"{planner} seed {seed}: reached at {reached[planner][-1]}", flush=True)
        micro = base.microstructure
        print(
            f"\nMachine: {platform.machine()}, Python {platform.python_version()}, "
            f"{os.cpu_count()} cores; command: `.venv/bin/python benchmarks/electrode_planners.py"
            f" --seeds {args.seeds}{' --full' if args.full else ''} --planners {args.planners}`; "
            "cubes: "
            f"{micro.realisations} × {micro.size}³ voxels per design\n"
        )
        print(
            f"Reference: {stored['value']:.1f} Wh/L at "
            + ", ".join(f"{k} {v:.3g}" for k, v in stored["design"].items())
            + f" ({stored['evaluations']} evaluations: {stored['method']})\n"
        )
        print(
            "| planner | trials to 99 % (per seed) | median | best/reference (median) | s/trial |"
        )
        print("|---|---|---|---|---|")
        for planner in planners:
            runs = reached[planner]
            done = sorted(r for r in runs if r is not None)
            median = statistics.median([r if r is not None else BUDGET + 1 for r in runs])
            shown = f"{median:g}" if median <= BUDGET else f"> {BUDGET}"
            print(
                f"| {planner} | {runs} | {shown} ({len(done)}/{len(runs)} reached) | "
                f"{statistics.median(finals[planner]):.4f} | "
                f"{statistics.median(seconds[planner]):.1f} |"
            )


if __name__ == "__main__":
    main()
