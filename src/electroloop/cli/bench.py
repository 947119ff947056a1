"""`electroloop bench planners`: planners on the simulator's conductivity problem (`demo`) and
on every large CALiSol-23 source as a new lab (`new-lab`), written to BENCHMARKS.md with the
command line that produced them.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from electroloop.cli.common import Commands
from electroloop.errors import ConfigError, SimulationError


def add_parser(commands: Commands) -> None:
    bench = commands.add_parser(
        "bench", help="benchmarks", description="Benchmarks that write to BENCHMARKS.md."
    )
    benchmarks = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    planners = benchmarks.add_parser(
        "planners",
        help="experiments each planner needs to reach 95 %% / 98 %% of the optimum",
        description="Run each planner for several seeds on the simulator's conductivity "
        "problem (the demo campaign, noise-free), write a regret plot and replace the "
        "planners section of BENCHMARKS.md; with 'new-lab' in --problems, also run every "
        "large CALiSol-23 source as a new lab (with and without a prior from the other labs) "
        "and replace the new-lab section.",
    )
    planners.add_argument(
        "--problems",
        default="demo",
        help="comma-separated: demo | new-lab (default demo)",
    )
    planners.add_argument(
        "--calisol",
        type=Path,
        default=Path("../shared/data/calisol23"),
        help="new-lab: the CALiSol-23 calisol23.csv or its folder "
        "(default ../shared/data/calisol23)",
    )
    planners.add_argument(
        "--arms",
        default="prior,wrong-prior,ax,ax-stock,random",
        help="new-lab: comma-separated arms among prior, wrong-prior, ax, ax-stock, random",
    )
    planners.add_argument(
        "--sources", help="new-lab: comma-separated DOIs (default: every large source)"
    )
    planners.add_argument(
        "--new-lab-seeds", type=int, default=8, help="new-lab: runs per arm and source (8)"
    )
    planners.add_argument(
        "--jobs", type=int, default=1, help="new-lab: sources run in this many processes (1)"
    )
    planners.add_argument("--seeds", type=int, default=10, help="runs per planner (default 10)")
    planners.add_argument(
        "--budget",
        help="trials per run: N for all, or e.g. 'ax=40,random=3000' "
        "(demo; default ax=40, ax-stock=40, sobol=3000, random=3000, others 100)",
    )
    planners.add_argument(
        "--planners",
        default="ax,ax-stock,sobol,random",
        help="demo: comma-separated: ax | ax-stock | transfer | sobol | random | "
        "package.module:ClassName (default ax,ax-stock,sobol,random)",
    )
    planners.add_argument(
        "--batch-size", type=int, default=4, help="demo: candidates per ask (4; new-lab asks 1)"
    )
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


def _problems(args: argparse.Namespace) -> list[str]:
    problems = [p.strip() for p in args.problems.split(",") if p.strip()]
    if (
        not problems
        or not set(problems) <= {"demo", "new-lab"}
        or args.new_lab_seeds < 1
        or args.jobs < 1
    ):
        raise ConfigError(
            f"--problems {args.problems!r} --new-lab-seeds {args.new_lab_seeds} --jobs "
            f"{args.jobs}; allowed: problems among demo, new-lab; new-lab seeds and jobs >= 1"
        )
    return problems


def run_planners(args: argparse.Namespace, command_line: str) -> int:
    """Run, print progress, write the PNG and the Markdown section (which records
    `command_line`)."""
    from electroloop.kinds.electrolyte.bench import parse_budgets  # numpy: only when asked

    planners = _planner_names(args)
    budgets = parse_budgets(args.budget, planners)
    problems = _problems(args)
    if "new-lab" in problems:
        from electroloop.kinds.electrolyte.new_lab_bench import check_arms

        args.arms = check_arms([a.strip() for a in args.arms.split(",") if a.strip()])
    if "demo" in problems:
        run_demo(args, command_line, planners, budgets)
    if "new-lab" in problems:
        run_new_lab_problems(args, command_line)
    return 0


def run_demo(
    args: argparse.Namespace, command_line: str, planners: list[str], budgets: dict[str, int]
) -> None:
    """The demo campaign's problem: every planner, a regret plot, the planners section."""
    from electroloop.kinds.electrolyte.bench import (
        FRACTIONS,
        benchmark_planners,
        conductivity_problem,
        render_section,
        torch_threads,
        write_section,
    )
    from electroloop.planners.benchmark import Progress, regret_plot

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


def run_new_lab_problems(args: argparse.Namespace, command_line: str) -> None:
    """Every large CALiSol-23 source (or `--sources`) as a new lab, every arm; the new-lab
    section of the Markdown file."""
    from electroloop.kinds.electrolyte.bench import torch_threads, write_section
    from electroloop.kinds.electrolyte.new_lab import large_sources, new_lab_problem
    from electroloop.kinds.electrolyte.new_lab_bench import (
        BEGIN,
        END,
        FRACTION,
        print_step,
        render_section,
        run_new_lab,
    )
    from electroloop.simulations.calisol import load_calisol

    started = time.perf_counter()
    arms = args.arms  # checked and split by `run_planners`
    if not args.calisol.exists():
        raise ConfigError(f"--calisol {args.calisol}: no such file; allowed: calisol23.csv")
    points = load_calisol(args.calisol).points
    large = large_sources(points)
    chosen = [s.strip() for s in args.sources.split(",")] if args.sources else large
    unknown = [s for s in chosen if s not in large]
    if unknown:
        raise ConfigError(f"--sources {unknown}; allowed: large sources {large}")
    problems = []
    for source in chosen:
        try:
            problems.append(new_lab_problem(points, source))
        except SimulationError as exc:
            print(f"skipped {source}: {exc}", flush=True)
    if not problems:
        raise ConfigError(f"--sources {chosen}: none can be a new lab")

    threads = args.threads or None
    with torch_threads(threads, ["ax"]):
        results = run_new_lab(
            problems, arms, {}, args.new_lab_seeds, progress=print_step, jobs=args.jobs
        )
    total = time.perf_counter() - started
    section = render_section(
        problems, results, command=command_line, total_seconds=total, threads=threads
    )
    write_section(args.out, section, BEGIN, END)
    for source, by_arm in results.items():
        cells = ", ".join(f"{a} {r.summary(FRACTION).format()}" for a, r in by_arm.items())
        print(f"{source}: {cells}")
    print(f"written to: {args.out} ({total:.0f} s)")
