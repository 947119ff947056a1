"""`AxPlanner.ask(4)` latency at 20/50/100 completed trials, and what the latency settings cost.

    .venv/bin/python benchmarks/ax_latency.py                 # latency table (about 10 min)
    .venv/bin/python benchmarks/ax_latency.py --efficiency    # + best-so-far at 24 trials

Problem: the demo campaign's space (`default_campaign()`); objectives from the simulators:
conductivity (maximise) alone, or conductivity and electrolyte cost (minimise). Each cell is the
median over `--repeats` seeds of one ``ask(4)`` timed when exactly that many trials are
completed (wall and CPU seconds). ``--settings`` picks the latency settings of
`electroloop.planners.ax_support`: ``tuned`` (as shipped: one torch thread, 5 restarts from
128 raw samples, no retry after an L-BFGS-B warning; two objectives: no baseline pruning, 64 MC
samples), ``botorch`` (BoTorch's defaults, one thread) or ``untuned`` (BoTorch's defaults and
torch's default threads).

``--efficiency`` also runs `--seeds` campaigns of 24 trials per setting and objective set and
prints the best conductivity found (as a fraction of the space's true optimum) or the
hypervolume of the measured front, so the speed-up can be weighed against sample efficiency.
Prints Markdown.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import torch

from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.kinds.electrolyte.metrics import derived_metrics
from electroloop.models import Candidate, Goal, Objective, Observation
from electroloop.planners import ax_support
from electroloop.planners.ax_planner import AxPlanner
from electroloop.simulations.optimum import true_optimum, true_value

BATCH = 4
COST_REFERENCE = 7.0
"""USD/kg; the demo space's electrolytes cost 2.7–6.0."""
BOTORCH = {"num_restarts": 20, "raw_samples": 1024}
SETTINGS: dict[str, tuple[dict[str, Any], dict[str, Any], int]] = {
    "tuned": (
        dict(ax_support.ACQUISITION_OPTIONS),
        dict(ax_support.MULTI_OBJECTIVE_OPTIONS),
        ax_support.TORCH_THREADS,
    ),
    "botorch": (BOTORCH, {}, 1),
    "untuned": (BOTORCH, {}, torch.get_num_threads()),
}
GOALS = {
    "single": Goal(objectives=(Objective(name="conductivity"),)),
    "two": Goal(
        objectives=(Objective(name="conductivity"), Objective(name="cost", direction="minimize"))
    ),
}


def use_settings(name: str) -> None:
    """Point AxPlanner at one of `SETTINGS` (read whenever a client is built or called)."""
    options, multi_objective, threads = SETTINGS[name]
    ax_support.ACQUISITION_OPTIONS = dict(options)
    ax_support.MULTI_OBJECTIVE_OPTIONS = dict(multi_objective)
    ax_support.TORCH_THREADS = threads


def simulator() -> Callable[[Candidate], dict[str, float]]:
    space = default_campaign().space

    def measure(candidate: Candidate) -> dict[str, float]:
        f = candidate.formulation
        return {"conductivity": true_value(space, f), **derived_metrics(space, f)}

    return measure


def ask_latency(goal: Goal, completed: list[int], seed: int) -> dict[int, tuple[float, float]]:
    """(wall, CPU) seconds of one ask(4) at each number of completed trials, in one campaign.

    CPU time (`time.process_time`) is much less sensitive than wall time to other processes
    competing for the cores; with one torch thread it is the wall time of an idle machine.
    """
    space = default_campaign().space
    measure = simulator()
    planner = AxPlanner(space, goal, seed=seed)
    seconds: dict[int, tuple[float, float]] = {}
    told = 0
    while told < max(completed) or max(completed) not in seconds:
        if told in completed and told not in seconds:
            started, cpu = time.perf_counter(), time.process_time()
            batch = planner.ask(BATCH)
            seconds[told] = (time.perf_counter() - started, time.process_time() - cpu)
        else:
            upcoming = [n for n in completed if n > told]
            batch = planner.ask(min(BATCH, upcoming[0] - told) if upcoming else BATCH)
        values = [measure(c) for c in batch]
        tell(planner, goal, batch, values)
        told += len(batch)
    return seconds


def tell(
    planner: AxPlanner, goal: Goal, batch: list[Candidate], values: list[dict[str, float]]
) -> None:
    """Tell `planner` the simulated outcomes of `batch`, every metric the goal needs."""
    planner.tell(
        [
            Observation(
                candidate_id=c.id,
                formulation=c.formulation,
                values={m: v[m] for m in goal.metrics},
            )
            for c, v in zip(batch, values, strict=True)
        ]
    )


def hypervolume(points: list[tuple[float, float]], reference: tuple[float, float]) -> float:
    """Area dominated by (conductivity ↑, cost ↓) points, bounded by `reference`."""
    area, best = 0.0, reference[0]
    for k, c in sorted(points, key=lambda p: p[1]):  # cheapest first
        if c < reference[1] and k > best:
            area += (k - best) * (reference[1] - c)
            best = k
    return area


def after_trials(goal_name: str, seed: int, trials: int = 24) -> float:
    """Single: best conductivity after `trials` trials (batches of 4); two: the hypervolume
    of the measured front (reference: 0 mS/cm, `COST_REFERENCE` USD/kg)."""
    space = default_campaign().space
    goal = GOALS[goal_name]
    measure = simulator()
    planner = AxPlanner(space, goal, seed=seed)
    seen: list[dict[str, float]] = []
    for _ in range(trials // BATCH):
        batch = planner.ask(BATCH)
        values = [measure(c) for c in batch]
        seen += values
        tell(planner, goal, batch, values)
    if goal_name == "single":
        return max(v["conductivity"] for v in seen)
    return hypervolume([(v["conductivity"], v["cost"]) for v in seen], (0.0, COST_REFERENCE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--completed", type=int, nargs="+", default=[20, 50, 100])
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=["tuned"])
    parser.add_argument("--goals", nargs="+", choices=sorted(GOALS), default=sorted(GOALS))
    parser.add_argument("--efficiency", action="store_true")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, torch threads "
        f"{torch.get_num_threads()}, load {os.getloadavg()[0]:.1f}, Python "
        f"{platform.python_version()}, {datetime.now():%Y-%m-%d %H:%M}\n"
    )
    if args.repeats > 0:
        header = " | ".join(f"{n} trials: wall (CPU) [s]" for n in args.completed)
        print(f"| settings | objectives | {header} |")
        print("|---|---|" + "---|" * len(args.completed))
        for settings in args.settings:
            use_settings(settings)
            for goal_name in args.goals:
                runs = [
                    ask_latency(GOALS[goal_name], args.completed, seed)
                    for seed in range(args.repeats)
                ]
                cells = " | ".join(
                    f"{statistics.median(r[n][0] for r in runs):.2f} "
                    f"({statistics.median(r[n][1] for r in runs):.2f})"
                    for n in args.completed
                )
                print(f"| {settings} | {goal_name} | {cells} |", flush=True)
    if args.efficiency:
        optimum = true_optimum(default_campaign().space)[1]
        print(
            f"\nAfter 24 trials, seeds 0–{args.seeds - 1}: single objective, best conductivity / "
            f"optimum ({optimum:.3f} mS/cm); two objectives, hypervolume of the measured front "
            f"(reference 0 mS/cm, {COST_REFERENCE:g} USD/kg):\n"
        )
        print("| settings | objectives | per seed | median |\n|---|---|---|---|")
        for settings in args.settings:
            use_settings(settings)
            for goal_name in args.goals:
                scale = optimum if goal_name == "single" else 1.0
                scores = [after_trials(goal_name, seed) / scale for seed in range(args.seeds)]
                per_seed = ", ".join(f"{x:.4f}" for x in scores)
                median = statistics.median(scores)
                print(f"| {settings} | {goal_name} | {per_seed} | {median:.4f} |", flush=True)


if __name__ == "__main__":
    main()
