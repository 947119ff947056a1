"""`electroloop bench planners --problems new-lab`: every large CALiSol-23 source as a new lab.

Why: "priors make a new campaign need fewer experiments" is only worth saying when it is
measured on a lab the prior never saw, against the planner without priors and against random
(issue 20). Each source of `new_lab.large_sources` becomes a `NewLabProblem`; every *arm* (a
planner and what it is given to learn from) runs on it over the same seeds; the Markdown table
says how many experiments each needed to reach 98 % of that lab's optimum, and three verdict
lines check the issue's claims in the same run:

- with the right prior, at most a third of the experiments of Ax without priors (median of
  each arm over every source and seed);
- with a badly wrong prior (the prior's values shuffled, `new_lab.wrong_prior`), no more than
  Ax without priors on any source;
- the default planner (`ax`) no worse than off-the-shelf Ax (`ax-stock`) on any source;

"worse" meaning more experiments beyond seed noise (`SIGNIFICANT`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import partial
from multiprocessing import get_context
from typing import Any

import numpy as np

from electroloop.errors import ConfigError
from electroloop.kinds.electrolyte.bench import WIDTH, machine
from electroloop.kinds.electrolyte.new_lab import NewLabProblem, wrong_prior
from electroloop.planners.benchmark import BenchmarkResult, Progress, Reach, run_benchmark
from electroloop.planners.registry import resolve_planner

BEGIN = "<!-- new-lab:begin -->"
END = "<!-- new-lab:end -->"
FRACTION = 0.98
SIGNIFICANT = 0.05
"""An arm is *worse* than another on a source when it needs more experiments there with a
one-sided Mann–Whitney p below this: with 5–8 seeds a median moves by several experiments
from seed noise alone (compare Ax's column in BENCHMARKS.md's 5-seed run with the 8-seed run
of the same command in its history)."""


@dataclass(frozen=True)
class Arm:
    """A planner and what it learns from: `related` builds its related tasks from a problem."""

    planner: str
    description: str
    related: Callable[[NewLabProblem], list[Any]] | None = None

    def kwargs(self, problem: NewLabProblem) -> dict[str, Any]:
        return {} if self.related is None else {"related": self.related(problem)}


ARMS: dict[str, Arm] = {
    "prior": Arm(
        "transfer",
        "multi-task GP with the other labs' model as a related task",
        lambda p: [p.prior_task()],
    ),
    "wrong-prior": Arm(
        "transfer",
        "the same, with the prior's values shuffled across its designs (badly wrong)",
        lambda p: [wrong_prior(p.prior_task())],
    ),
    "ax": Arm("ax", "the default planner, no prior"),
    "ax-stock": Arm("ax-stock", "off-the-shelf Ax `Client`, every default"),
    "random": Arm("random", "uniform random designs"),
}
DEFAULT_ARMS = tuple(ARMS)
DEFAULT_BUDGETS = {"prior": 25, "wrong-prior": 25, "ax": 25, "ax-stock": 25, "random": 300}
"""Trials per run: model-based arms 25 (the issue's Ax needed 4–14 on such problems), random
300 (each trial costs microseconds)."""
BATCH_SIZE = 1
"""One experiment per ask: the count of experiments to 98 % is then exact, not rounded up to a
batch (a prior's first pick counts as 1, not as the batch it came in)."""


def check_arms(names: Sequence[str]) -> list[str]:
    """The arms asked for, each known; `ConfigError` naming the unknown ones."""
    unknown = [n for n in names if n not in ARMS]
    if unknown or not names or len(set(names)) != len(names):
        raise ConfigError(f"new-lab arms {list(names)}; allowed: distinct names among {list(ARMS)}")
    return list(names)


def run_new_lab(
    problems: Sequence[NewLabProblem],
    arms: Sequence[str],
    budgets: Mapping[str, int],
    seeds: Sequence[int] | int,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[str, str, Progress], None] | None = None,
    jobs: int = 1,
) -> dict[str, dict[str, BenchmarkResult]]:
    """Source -> arm -> `run_benchmark` result, the same seeds everywhere; `progress` gets the
    source, the arm and the step. With `jobs` > 1 the sources run in that many processes (each
    planner fits on one thread), and `progress` is called in those processes."""
    for name in check_arms(arms):
        resolve_planner(ARMS[name].planner)
    run = partial(
        _one_lab, arms=list(arms), budgets=dict(budgets), seeds=seeds, batch_size=batch_size
    )
    if jobs <= 1:
        found = [run(problem, progress=progress) for problem in problems]
    else:
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
            found = list(pool.map(partial(run, progress=progress), problems))
    return {problem.source: by_arm for problem, by_arm in zip(problems, found, strict=True)}


def _one_lab(
    problem: NewLabProblem,
    *,
    arms: list[str],
    budgets: dict[str, int],
    seeds: Sequence[int] | int,
    batch_size: int,
    progress: Callable[[str, str, Progress], None] | None,
) -> dict[str, BenchmarkResult]:
    """Every arm on one new lab."""
    import torch

    torch.set_num_threads(1)  # one process per core: no oversubscription
    results: dict[str, BenchmarkResult] = {}
    for name in arms:
        arm = ARMS[name]

        def report(step: Progress, arm: str = name) -> None:
            if progress is not None:
                progress(problem.source, arm, step)

        results[name] = run_benchmark(
            arm.planner,
            problem.objective,
            problem.space,
            problem.goal,
            budget=budgets.get(name, DEFAULT_BUDGETS[name]),
            seeds=seeds,
            batch_size=batch_size,
            planner_kwargs=arm.kwargs(problem),
            optimum=problem.optimum,
            progress=report,
        )
    return results


def pooled(results: Mapping[str, Mapping[str, BenchmarkResult]], arm: str) -> Reach:
    """Experiments to `FRACTION` of the optimum for `arm`, pooled over every source and seed
    (a censored run counts as its budget + 1, as in `BenchmarkResult.summary`)."""
    counts: list[float] = []
    reached = 0
    budget = 0
    for by_arm in results.values():
        result = by_arm[arm]
        budget = max(budget, result.budget)
        for count in result.trials_to_reach(FRACTION):
            counts.append(result.budget + 1 if count is None else count)
            reached += count is not None
    q25, median, q75 = np.percentile(counts, [25, 50, 75])
    return Reach(FRACTION, float(median), float(q25), float(q75), reached, len(counts), budget + 1)


def verdicts(results: Mapping[str, Mapping[str, BenchmarkResult]]) -> list[str]:
    """The issue's three claims, each checked on these results (or said to be unmeasured)."""
    arms = set(next(iter(results.values())))
    lines = []
    if {"prior", "ax"} <= arms:
        prior, plain = pooled(results, "prior"), pooled(results, "ax")
        ratio = prior.median / plain.median
        bound = "≥ " if plain.median_censored else ""
        lines.append(
            f"**With the prior / Ax without priors, median experiments to 98 % over every source "
            f"and seed: {prior.median:g} / {plain.median:g} = {ratio:.2f}** (target ≤ 1/3: "
            f"{'met' if ratio <= 1 / 3 and not prior.median_censored else '**not met**'}"
            f"{'; Ax censored, the ratio is an upper bound' if bound else ''})."
        )
    for worse, than, claim in (
        ("wrong-prior", "ax", "a badly wrong prior costs no more than no prior"),
        ("ax", "ax-stock", "the default planner is no worse than off-the-shelf Ax"),
    ):
        if not {worse, than} <= arms:
            continue
        failed, within = [], []
        for source, by_arm in results.items():
            ours, theirs = by_arm[worse].summary(FRACTION), by_arm[than].summary(FRACTION)
            if ours.median <= theirs.median:
                continue
            p = worse_p(by_arm[worse], by_arm[than])
            text = f"{_short(source)} ({ours.median:g} vs {theirs.median:g}, p = {p:.2f})"
            (failed if p < SIGNIFICANT else within).append(text)
        verdict = "met on every source" if not failed else f"**not met** on {', '.join(failed)}"
        noise = f"; a higher median within seed noise on {', '.join(within)}" if within else ""
        lines.append(f"`{worse}` vs `{than}` ({claim}): {verdict}{noise}.")
    return lines


def worse_p(ours: BenchmarkResult, theirs: BenchmarkResult) -> float:
    """One-sided Mann–Whitney U p-value that `ours` needs more experiments than `theirs` (runs
    that never reached the target count as budget + 1)."""
    from scipy.stats import mannwhitneyu

    def counts(result: BenchmarkResult) -> list[int]:
        return [result.budget + 1 if c is None else c for c in result.trials_to_reach(FRACTION)]

    return float(mannwhitneyu(counts(ours), counts(theirs), alternative="greater").pvalue)


def print_step(source: str, arm: str, step: Progress) -> None:
    """Progress on the terminal: one line per finished run."""
    if step.trials == step.budget:
        print(
            f"  {source:>30} {arm:>11} seed {step.seed}: best {step.best:.3f} mS/cm after "
            f"{step.trials} trials, {step.elapsed:.1f} s",
            flush=True,
        )


def _short(source: str) -> str:
    return source.removeprefix("10.")


def _box(problem: NewLabProblem) -> str:
    space = problem.space
    solvents = ", ".join(f"{s.name} {s.min_fraction:g}–{s.max_fraction:g}" for s in space.solvents)
    return (
        f"{solvents}; {space.salt.min_molality:g}–{space.salt.max_molality:g} mol/kg; "
        f"{space.temperature:g} °C"
    )


def render_section(
    problems: Sequence[NewLabProblem],
    results: Mapping[str, Mapping[str, BenchmarkResult]],
    *,
    command: str,
    total_seconds: float,
    threads: int | None = None,
    today: date | None = None,
) -> str:
    """The Markdown between (and including) `BEGIN` and `END`."""
    arms = list(next(iter(results.values())))
    first = next(iter(next(iter(results.values())).values()))
    header = ["new lab (DOI)", "rows", "box", "optimum (mS/cm)"] + [f"`{a}`" for a in arms]
    rows = []
    for problem in problems:
        by_arm = results[problem.source]
        cells = []
        for arm in arms:
            reach = by_arm[arm].summary(FRACTION)
            cells.append(f"{reach.format()} ({reach.reached}/{reach.runs})")
        rows.append(
            [_short(problem.source), str(problem.rows), _box(problem), f"{problem.optimum:.2f}"]
            + cells
        )
    all_row = ["**all**", "", "", ""] + [
        f"{pooled(results, a).format()} ({pooled(results, a).reached}/{pooled(results, a).runs})"
        for a in arms
    ]
    table = "\n".join(
        [
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in [*rows, all_row]),
        ]
    )
    budgets = {a: next(iter(results.values()))[a].budget for a in arms}
    arm_text = "; ".join(f"`{a}`: {ARMS[a].description} ({budgets[a]} trials)" for a in arms)
    thread_text = f"; torch limited to {threads} thread(s)" if threads else ""
    paragraphs = [
        f"Written by `{command}` (replaces everything between the `new-lab` markers; edit the "
        "command, not this text).",
        f"Machine: {machine()}; date {(today or date.today()).isoformat()}; whole command "
        f"{total_seconds:.0f} s{thread_text}.",
        "Each CALiSol-23 source with at least 100 LiPF6 rows plays a new lab "
        "(`kinds/electrolyte/new_lab.py`): its truth is the physics' model form fitted to its "
        "rows alone, searched over the box its rows span (rows over a solvent the others never "
        "measured dropped); the prior is the same form fitted to every *other* source. Cells: "
        f"experiments to 98 % of that lab's optimum, median [IQR] over seeds {list(first.seeds)} "
        f"(reached/runs); batches of {first.batch_size}. Arms: {arm_text}.",
        table,
        *verdicts(results),
        "A run that never reached 98 % counts as its trials + 1 (shown as `>trials`), so a "
        "median shown that way is a lower bound.",
    ]
    body = "\n\n".join(
        p if p is table else textwrap.fill(p, WIDTH, break_long_words=False, break_on_hyphens=False)
        for p in paragraphs
    )
    title = "## Planners on a new lab: what other labs measured, as a prior"
    return f"{BEGIN}\n{title}\n\n{body}\n{END}"
