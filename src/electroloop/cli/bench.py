"""`electroloop bench planners`: planners on the simulator's conductivity problem, written to
BENCHMARKS.md with the command line that produced them.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from electroloop.cli.common import Commands
from electroloop.errors import ConfigError


def add_parser(commands: Commands) -> None:
    bench = commands.add_parser(
        "bench", help="benchmarks", description="Benchmarks that write to BENCHMARKS.md."
    )
    benchmarks = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    planners = benchmarks.add_parser(
        "planners",
        help="experiments Ax, Sobol and random need to reach 95 %% / 98 %% of the optimum",
        description="Run each planner for several seeds on the simulator's conductivity "
        "problem (the demo campaign, noise-free), write a regret plot and replace the "
        "planners section of BENCHMARKS.md.",
    )
    planners.add_argument("--seeds", type=int, default=10, help="runs per planner (default 10)")
    planners.add_argument(
        "--budget",
        help="trials per run: N for all, or e.g. 'ax=40,random=3000' "
        "(default ax=40, sobol=3000, random=3000, others 100)",
    )
    planners.add_argument(
        "--planners",
        default="ax,sobol,random",
        help="comma-separated: ax | sobol | random | package.module:ClassName "
        "(default ax,sobol,random)",
    )
    planners.add_argument("--batch-size", type=int, default=4, help="candidates per ask (4)")
    planners.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for model-based planners (default 1: 2 threads on 2 shared cores "
        "made Ax's asks over 10x slower; 0 leaves torch's default)",
    )
    planners.add_argument(
        "--out", type=Path, default=Path("BENCHMARKS.md"), help="Markdown file to update"
    )
    planners.add_argument(
        "--plot",
        type=Path,
        default=Path("docs/planner_regret.png"),
        help="regret-curve PNG (default docs/planner_regret.png)",
    )
    planners.set_defaults(func=run_planners)


def _planner_names(args: argparse.Namespace) -> list[str]:
    """The planners asked for, after the options are checked (before anything runs)."""
    if args.seeds < 1 or args.batch_size < 1 or args.threads < 0:
        raise ConfigError(
            f"--seeds {args.seeds} --batch-size {args.batch_size} --threads {args.threads}; "
            "allowed: seeds and batch size >= 1, threads >= 0"
        )
    planners = [p.strip() for p in args.planners.split(",") if p.strip()]
    if not planners or len(set(planners)) != len(planners):
        raise ConfigError(f"--planners {args.planners!r}; allowed: distinct planner names")
    return planners


def run_planners(args: argparse.Namespace, command_line: str) -> int:
    """Run, print progress, write the PNG and the Markdown section (which records
    `command_line`)."""
    from electroloop.kinds.electrolyte.bench import (  # numpy/scipy work: only when asked
        FRACTIONS,
        benchmark_planners,
        conductivity_problem,
        parse_budgets,
        render_section,
        torch_threads,
        write_section,
    )
    from electroloop.planners.benchmark import Progress, regret_plot

    planners = _planner_names(args)
    budgets = parse_budgets(args.budget, planners)
    started = time.perf_counter()
    problem = conductivity_problem()
    print(
        f"problem: {problem.description}; optimum {problem.optimum:.3f} {problem.unit}",
        flush=True,
    )

    def report(step: Progress) -> None:
        if step.trials == step.budget:
            print(
                f"  {step.planner:>8} seed {step.seed:>3} ({step.run + 1}/{step.runs}): "
                f"best {100 * step.best / problem.optimum:6.2f} % of the optimum after "
                f"{step.trials} trials, {step.elapsed:.1f} s",
                flush=True,
            )

    threads = args.threads or None
    with torch_threads(threads, planners):
        results = benchmark_planners(
            problem, planners, budgets, args.seeds, batch_size=args.batch_size, progress=report
        )
    plot = regret_plot(results, args.plot, problem.optimum)
    total = time.perf_counter() - started
    out = args.out
    link = os.path.relpath(plot.resolve(), out.resolve().parent)
    write_section(
        out,
        render_section(
            problem, results, command=command_line, plot=link, total_seconds=total, threads=threads
        ),
    )
    print()
    for name, result in results.items():
        cells = ", ".join(
            f"{100 * f:g} %: {result.summary(f).format()} ({result.summary(f).reached}/"
            f"{result.runs})"
            for f in FRACTIONS
        )
        print(f"{name:>8}: experiments to {cells}")
    print(f"regret plot: {plot}")
    print(f"written to:  {out} ({total:.0f} s)")
    return 0
