"""`electroloop bench planners`: the simulator's problems and the BENCHMARKS.md section.

The problem is the demo campaign's (LiPF6 in EC/EMC/DMC at 25 °C, molality 0.5–2 mol/kg);
the objective is the simulator's *noise-free* conductivity (`simulations.optimum.true_value`),
so best-so-far and "x % of the optimum" are exact rather than blurred by the meter's 0.5 %
noise; the optimum is `true_optimum` of the space. Every planner runs `run_benchmark` over the
same seeds, and the results replace the section between `BEGIN` and `END` of BENCHMARKS.md.
"""

from __future__ import annotations

import os
import platform
import re
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from electroloop.errors import ConfigError
from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.models import Formulation, Goal, SearchSpace
from electroloop.planners.benchmark import BenchmarkResult, Progress, Reach, run_benchmark
from electroloop.planners.registry import resolve_planner
from electroloop.simulations.optimum import true_optimum, true_value

BEGIN = "<!-- planners:begin -->"
END = "<!-- planners:end -->"
FRACTIONS = (0.95, 0.98)
WIDTH = 100
"""Prose in BENCHMARKS.md is wrapped at this width, as the hand-written sections are."""
DEFAULT_PLANNERS = ("ax", "ax-stock", "sobol", "random")
DEFAULT_BUDGETS: dict[str, int] = {"ax": 40, "ax-stock": 40, "sobol": 3000, "random": 3000}
"""Trials per run. Random search needs a median of about 500 trials to reach 98 % here (0.13 %
of the cube lies above it), so 3000 leave about 2 % of its runs censored; Ax reaches 98 % well
within 40 and each of its asks costs seconds, not microseconds."""
OTHER_BUDGET = 100
"""Trials per run for a planner not in `DEFAULT_BUDGETS` (a scientist's class)."""


@dataclass(frozen=True)
class BenchProblem:
    """A search space, goal and objective function with a known optimum."""

    name: str
    description: str
    space: SearchSpace
    goal: Goal
    objective: Callable[[Formulation], float]
    optimum: float
    optimum_formulation: Formulation
    unit: str


def conductivity_problem() -> BenchProblem:
    """The demo campaign's space and goal, scored by the simulator's noise-free conductivity."""
    spec = default_campaign()
    space = spec.space
    formulation, optimum = true_optimum(space)
    solvents = ", ".join(f"{s.name} {s.min_fraction:g}–{s.max_fraction:g}" for s in space.solvents)

    def objective(candidate: Formulation) -> float:
        return true_value(space, candidate)

    return BenchProblem(
        name="conductivity",
        description=(
            f"the demo campaign: {space.salt.name} {space.salt.min_molality:g}–"
            f"{space.salt.max_molality:g} mol/kg in {solvents} (mass fractions) at "
            f"{space.temperature:g} °C, maximise conductivity"
        ),
        space=space,
        goal=spec.goal,
        objective=objective,
        optimum=optimum,
        optimum_formulation=formulation,
        unit="mS/cm",
    )


def parse_budgets(text: str | None, planners: Sequence[str]) -> dict[str, int]:
    """Trials per run for each planner from ``"60"`` (all), ``"ax=40,random=3000"`` or both
    (``"3000,ax=40"``: the bare number for the planners not named); defaults otherwise."""
    budgets = {p: DEFAULT_BUDGETS.get(p, OTHER_BUDGET) for p in planners}
    if not text:
        return budgets
    named: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, number = part.rpartition("=")
        try:
            value = int(number)
        except ValueError:
            value = 0
        if value < 1 or (sep and name.strip() not in planners):
            raise ConfigError(
                f"budget {part!r} is not understood; allowed: a whole number >= 1, or "
                f"planner=number with a planner among {list(planners)}"
            )
        if sep:
            named[name.strip()] = value
        else:
            budgets = dict.fromkeys(planners, value)
    return budgets | named


def benchmark_planners(
    problem: BenchProblem,
    planners: Sequence[str],
    budgets: Mapping[str, int],
    seeds: Sequence[int] | int,
    *,
    batch_size: int = 4,
    progress: Callable[[Progress], None] | None = None,
) -> dict[str, BenchmarkResult]:
    """`run_benchmark` of each planner on `problem`, over the same seeds.

    Every planner reference is resolved first, so a typo in the last one fails in a second,
    not after the others have run.
    """
    for planner in planners:
        resolve_planner(planner)
    return {
        planner: run_benchmark(
            planner,
            problem.objective,
            problem.space,
            problem.goal,
            budget=budgets[planner],
            seeds=seeds,
            batch_size=batch_size,
            optimum=problem.optimum,
            progress=progress,
        )
        for planner in planners
    }


MODEL_FREE = ("sobol", "random")


@contextmanager
def torch_threads(count: int | None, planners: Sequence[str]) -> Iterator[None]:
    """Run with torch (Ax's GP fits) limited to `count` intra-op threads, restored after.

    Why 1 by default in the command: with 2 threads on 2 cores that other processes also use,
    Ax's asks took 13–17 s instead of about 1 s (oversubscription); on an idle machine 1 and 2
    threads took the same time (32 vs 36 s for 12 asks). Torch is not imported when only
    model-free planners run, or when `count` is None.
    """
    if count is None or all(p in MODEL_FREE for p in planners):
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def machine() -> str:
    """Platform, processor, cores and Python version of this machine."""
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )


def _cell(reach: Reach) -> tuple[str, str]:
    return reach.format(), f"{reach.reached}/{reach.runs}"


def _ratio_line(results: Mapping[str, BenchmarkResult], fraction: float) -> str:
    if "ax" not in results or "random" not in results:
        return "Ax / random ratio: not measured (run with both `ax` and `random`)."
    ax, rnd = results["ax"].summary(fraction), results["random"].summary(fraction)
    if ax.median_censored and rnd.median_censored:
        return (
            f"Ax / random, median experiments to {fraction * 100:g} %: not measurable, both "
            "medians are censored (raise the budgets)."
        )
    ratio = ax.median / rnd.median
    if ax.median_censored:  # Ax's true median is larger: the ratio is a lower bound
        qualifier = "≥ "
        verdict = "**not met**" if ratio > 1 / 3 else "unknown (Ax's median is censored)"
    elif rnd.median_censored:  # random's true median is larger: an upper bound
        qualifier = "≤ "
        verdict = "met" if ratio <= 1 / 3 else "unknown (random's median is censored)"
    else:
        qualifier, verdict = "", "met" if ratio <= 1 / 3 else "**not met**"
    return (
        f"**Ax / random, median experiments to {fraction * 100:g} %: "
        f"{ax.median:g} / {rnd.median:g} = {qualifier}{ratio:.3f}** "
        f"(issue 3's target ≤ 1/3: {verdict})."
    )


def render_section(
    problem: BenchProblem,
    results: Mapping[str, BenchmarkResult],
    *,
    command: str,
    plot: str | None,
    total_seconds: float,
    threads: int | None = None,
    today: date | None = None,
) -> str:
    """The Markdown between (and including) `BEGIN` and `END`."""
    first = next(iter(results.values()))
    seeds = first.seeds
    seed_text = (
        f"{seeds[0]}–{seeds[-1]}" if list(seeds) == list(range(seeds[0], seeds[-1] + 1)) else seeds
    )
    batch = first.batch_size
    header = ["planner", "trials per run"]
    for fraction in FRACTIONS:
        pct = f"{fraction * 100:g} %"
        header += [f"experiments to {pct}: median [IQR]", f"reached {pct}"]
    header += ["final best, median", "wall time per run, median"]
    rows = []
    for name, result in results.items():
        row = [f"`{name}`", str(result.budget)]
        for fraction in FRACTIONS:
            row += list(_cell(result.summary(fraction)))
        final = float(np.median(result.best_so_far[:, -1]))
        row += [f"{100 * final / problem.optimum:.2f} %", f"{result.median_wall_time:.2f} s"]
        rows.append(row)
    table = "\n".join(
        [
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows),
        ]
    )
    opt = problem.optimum_formulation
    mix = " / ".join(f"{name} {value:.3f}" for name, value in opt.fractions.items())
    space = problem.space
    # name the bound itself: the optimiser's value sits within 1e-6 of it, off by its last bits
    on_bounds = []
    for s in space.solvents:
        value = opt.fractions[s.name]
        bound = min((s.min_fraction, s.max_fraction), key=lambda b: abs(value - b))
        if abs(value - bound) < 1e-6:
            on_bounds.append(f"{s.name} = {bound:g}")
    where = f" on the boundary ({', '.join(on_bounds)})" if on_bounds else ""
    thread_text = (
        f"; torch limited to {threads} thread{'s' if threads > 1 else ''} (`--threads`)"
        if threads
        else ""
    )
    paragraphs = [
        f"Written by `{command}` (replaces everything between the `planners` markers; "
        "edit the command, not this text).",
        f"Machine: {machine()}; date {(today or date.today()).isoformat()}; "
        f"whole command {total_seconds:.0f} s{thread_text}.",
        f"Problem: {problem.description}. Objective: the simulator's noise-free conductivity "
        "(`simulations.optimum.true_value`; no meter noise, so best-so-far is exact). Optimum "
        f"(`true_optimum`): {problem.optimum:.3f} {problem.unit} at {mix}, "
        f"{opt.molality:.3f} mol/kg{where}. Batches of {batch}; seeds {seed_text} "
        f"({len(seeds)} runs per planner, the same seeds for every planner); every planner "
        "with its default settings.",
        table,
        _ratio_line(results, 0.98),
        "A run that never reached the target within its trials is *censored*: it counts as "
        "trials + 1 (shown as `>trials`), so a median or quartile shown that way is a lower "
        "bound; *reached* says how many runs got there. Wall time covers building the planner, "
        "every `ask`, the objective and every `tell`. Caveat: a smooth, noise-free response "
        f"over {len(space.solvents)} dimensions ({len(space.solvents) - 1} free fractions and "
        "the molality) is the easy case for a Gaussian process; noisy or higher-dimensional "
        "problems will narrow the gap.",
    ]
    if plot:
        paragraphs.append(f"![Median simple regret per trial, IQR shaded]({plot})")
    body = "\n\n".join(
        p if p is table else textwrap.fill(p, WIDTH, break_long_words=False, break_on_hyphens=False)
        for p in paragraphs
    )
    return (
        f"{BEGIN}\n## Planners: experiments to reach 95 % and 98 % of the optimum\n\n{body}\n{END}"
    )


def replace_section(text: str, section: str, begin: str = BEGIN, end: str = END) -> str:
    """`text` with its `begin`…`end` block replaced by `section` (appended if absent)."""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _: section, text, count=1)
    return text.rstrip("\n") + "\n\n" + section + "\n"


def write_section(path: Path, section: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace (or append) the `begin`…`end` section of the Markdown file at `path`."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    path.write_text(replace_section(text, section, begin, end), encoding="utf-8")
