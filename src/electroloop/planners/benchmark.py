"""Benchmark any planner against any Python objective: best-so-far curves over seeds.

Why: "BO beats random" is only worth saying with the number of experiments each needs, over
enough seeds to see the spread. `run_benchmark` runs the same ask → evaluate → tell loop the
campaign runs, with the objective a plain function of the formulation (a simulator, an analytic
test function or a surrogate), and `BenchmarkResult` answers "how many experiments to reach
x % of the optimum" with medians and quartiles. `regret_plot` draws the curves.

A run that never reaches the target within its budget is *censored*: its count is unknown but
larger than the budget. Summaries count it as ``budget + 1`` (so a median is a lower bound for
that planner when fewer than half of the runs reached the target) and say how many runs reached
it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from electroloop.ask_tell import AskTell, run_ask_tell
from electroloop.errors import PlannerError
from electroloop.models import Candidate, Formulation, Goal, Observation, SearchSpace
from electroloop.planners.registry import resolve_planner

ObjectiveFunction = Callable[[Formulation], float] | Callable[[Formulation], Mapping[str, float]]
"""A function of a formulation: one number (single-metric goals) or ``metric -> value``."""

REGRET_FLOOR = 1e-9
"""Relative floor of plotted regret (× |optimum|), so a run that hits the optimum stays on a
log axis."""


@dataclass(frozen=True)
class Progress:
    """Where a benchmark is, passed to the `progress` callback after every batch."""

    planner: str
    seed: int
    run: int
    """0-based index of this run among the seeds."""
    runs: int
    trials: int
    """Trials evaluated so far in this run."""
    budget: int
    best: float
    """Best-so-far value of the primary objective in this run."""
    elapsed: float
    """Seconds since this run started."""


@dataclass(frozen=True)
class Reach:
    """Experiments to reach a fraction of the optimum, over runs (see `BenchmarkResult.summary`).

    Censored runs (never reached within the budget) count as ``censored_at`` = budget + 1.
    """

    fraction: float
    median: float
    q25: float
    q75: float
    reached: int
    runs: int
    censored_at: int

    @property
    def median_censored(self) -> bool:
        """True when fewer than half of the runs reached the target: the median is then only a
        lower bound (the true count is above the budget)."""
        return self.median >= self.censored_at

    def format(self) -> str:
        """``"34 [25–49]"``, with ``>`` before values that are censored."""

        def show(value: float) -> str:
            text = f"{value:.0f}" if value == int(value) else f"{value:.1f}"
            return f">{self.censored_at - 1}" if value >= self.censored_at else text

        return f"{show(self.median)} [{show(self.q25)}–{show(self.q75)}]"


@dataclass(frozen=True, eq=False)
class BenchmarkResult:
    """Per-trial outcomes of one planner over several seeded runs (rows: runs, columns: trials).

    `values[r, t]` is the primary objective of trial t+1 of run r, `best_so_far[r, t]` the best
    of trials 1..t+1 in the goal's direction; `outcomes` holds every metric the same way.
    """

    planner: str
    seeds: tuple[int, ...]
    budget: int
    batch_size: int
    metric: str
    maximize: bool
    values: np.ndarray
    best_so_far: np.ndarray
    wall_times: np.ndarray
    """Seconds per run: building the planner, every ask, evaluation and tell."""
    outcomes: dict[str, np.ndarray] = field(default_factory=dict)
    best_formulations: tuple[Formulation, ...] = ()
    optimum: float | None = None
    """The known optimum of the primary objective, if given; the default for the helpers."""

    @property
    def runs(self) -> int:
        return len(self.seeds)

    @property
    def median_wall_time(self) -> float:
        return float(np.median(self.wall_times))

    def _optimum(self, optimum: float | None) -> float:
        value = self.optimum if optimum is None else optimum
        if value is None:
            raise ValueError("no optimum known; pass optimum= here or to run_benchmark")
        return float(value)

    def target(self, fraction: float, optimum: float | None = None) -> float:
        """The best-so-far value that counts as reaching `fraction` of the optimum.

        Maximise: optimum − (1 − fraction)·|optimum| (= fraction × optimum for a positive
        optimum); minimise: optimum + (1 − fraction)·|optimum|.
        """
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction is {fraction}; allowed: 0 < fraction <= 1")
        best = self._optimum(optimum)
        slack = (1.0 - fraction) * abs(best)
        return best - slack if self.maximize else best + slack

    def trials_to_reach(self, fraction: float, optimum: float | None = None) -> list[int | None]:
        """Per run, the first trial number (1-based) whose best-so-far reaches `fraction` of the
        optimum (see `target`), or None if the run never did within its budget (censored)."""
        target = self.target(fraction, optimum)
        hits = self.best_so_far >= target if self.maximize else self.best_so_far <= target
        return [int(np.argmax(row)) + 1 if row.any() else None for row in hits]

    def summary(self, fraction: float, optimum: float | None = None) -> Reach:
        """Median and quartiles (25th, 75th percentile) of `trials_to_reach` over runs.

        A censored run counts as budget + 1; `Reach.reached` says how many runs really reached
        the target and `Reach.median_censored` whether the median is only a lower bound.
        """
        counts = self.trials_to_reach(fraction, optimum)
        censored = self.budget + 1
        filled = np.array([censored if c is None else c for c in counts], dtype=float)
        q25, median, q75 = np.percentile(filled, [25, 50, 75])
        return Reach(
            fraction=fraction,
            median=float(median),
            q25=float(q25),
            q75=float(q75),
            reached=sum(c is not None for c in counts),
            runs=len(counts),
            censored_at=censored,
        )

    def regret(self, optimum: float | None = None) -> np.ndarray:
        """Simple regret per run and trial: distance of best-so-far from the optimum (≥ 0 unless
        a run beat the given optimum)."""
        best = self._optimum(optimum)
        gap = best - self.best_so_far if self.maximize else self.best_so_far - best
        return np.asarray(gap, dtype=float)


def _planner_class(planner: str | type) -> tuple[type, str]:
    if isinstance(planner, str):
        return resolve_planner(planner), planner.strip()
    if not isinstance(planner, type):
        raise ValueError(f"planner is {planner!r}; allowed: a planner name, reference or class")
    return planner, str(getattr(planner, "name", planner.__name__))


def _seeds(seeds: Sequence[int] | int) -> tuple[int, ...]:
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError(f"seeds is {seeds}; allowed: a number of runs >= 1 or a list")
        return tuple(range(seeds))
    chosen = tuple(int(s) for s in seeds)
    if not chosen or len(set(chosen)) != len(chosen):
        raise ValueError(f"seeds are {list(chosen)}; allowed: at least one, all distinct")
    return chosen


def _outcome(
    objective: ObjectiveFunction, formulation: Formulation, goal: Goal
) -> dict[str, float]:
    raw: Any = objective(formulation)
    if isinstance(raw, Mapping):
        values = {str(k): float(v) for k, v in raw.items()}
    else:
        if len(goal.metrics) != 1:
            raise ValueError(
                f"objective returned one number but the goal needs {list(goal.metrics)}; "
                "allowed: a dict with every one of them"
            )
        values = {goal.primary.name: float(raw)}
    for metric in goal.metrics:
        value = values.get(metric)
        if value is None or not math.isfinite(value):
            raise ValueError(
                f"objective returned {metric}={value!r} for {formulation}; "
                f"allowed: a finite number for each of {list(goal.metrics)}"
            )
    return values


def run_benchmark(
    planner: str | type,
    objective: ObjectiveFunction,
    space: SearchSpace,
    goal: Goal,
    *,
    budget: int,
    seeds: Sequence[int] | int,
    batch_size: int = 4,
    planner_kwargs: Mapping[str, Any] | None = None,
    optimum: float | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> BenchmarkResult:
    """Run `planner` against `objective` for `budget` trials, once per seed.

    Each run builds ``planner_class(space, goal, seed, **planner_kwargs)`` and loops: ask for
    ``min(batch_size, remaining)`` candidates, evaluate `objective` on each formulation, tell
    the planner every observation of the batch. `planner` is a built-in name (``"ax"``,
    ``"sobol"``, ``"random"``), a ``"package.module:Class"`` reference or a class implementing
    `electroloop.protocols.Planner`. `objective` returns a number (goals with one metric)
    or a dict holding every metric of `goal.metrics`. `seeds` is a list of seeds or a number n
    (seeds 0..n−1). `optimum` (of the primary objective) becomes the default for the result's
    `trials_to_reach`, `summary` and `regret`. `progress` is called after every batch.

    Example — random search on a toy problem whose optimum, 1.0, is pure DMC:

    >>> from electroloop.models import Goal, Salt, SearchSpace, Solvent
    >>> space = SearchSpace(
    ...     solvents=(
    ...         Solvent(name="EC", smiles="C1COC(=O)O1", max_fraction=0.6),
    ...         Solvent(name="DMC", smiles="COC(=O)OC"),
    ...     ),
    ...     salt=Salt(name="LiPF6", smiles="[Li+].F[P-](F)(F)(F)(F)F",
    ...               min_molality=0.5, max_molality=2.0),
    ...     temperature=25.0,
    ... )
    >>> result = run_benchmark(
    ...     "random", lambda f: f.fractions["DMC"], space, Goal(),
    ...     budget=40, seeds=5, optimum=1.0,
    ... )
    >>> result.best_so_far.shape
    (5, 40)
    >>> result.summary(0.95).reached
    5
    """
    cls, name = _planner_class(planner)
    if budget < 1:
        raise ValueError(f"budget is {budget}; allowed: >= 1")
    if batch_size < 1:
        raise ValueError(f"batch_size is {batch_size}; allowed: >= 1")
    chosen = _seeds(seeds)
    kwargs = dict(planner_kwargs or {})
    maximize = goal.primary.direction == "maximize"
    metric = goal.primary.name
    runs = len(chosen)
    outcomes = {m: np.full((runs, budget), np.nan) for m in goal.metrics}
    wall_times = np.zeros(runs)
    best_formulations: list[Formulation] = []
    for run, seed in enumerate(chosen):
        started = time.perf_counter()  # the planner's set-up counts towards its wall time
        instance = cls(space, goal, seed, **kwargs)
        one = _SeededRun(
            name, instance, objective, space, goal, budget, batch_size, seed, run, runs, progress
        )
        one.started = started
        run_ask_tell(AskTell(ask=one.ask, evaluate=one.evaluate, tell=one.tell))
        wall_times[run] = time.perf_counter() - one.started
        assert one.best_formulation is not None  # budget >= 1
        best_formulations.append(one.best_formulation)
        for m in goal.metrics:
            outcomes[m][run] = one.outcomes[m]
    values = outcomes[metric]
    accumulate = np.maximum.accumulate if maximize else np.minimum.accumulate
    return BenchmarkResult(
        planner=name,
        seeds=chosen,
        budget=budget,
        batch_size=batch_size,
        metric=metric,
        maximize=maximize,
        values=values,
        best_so_far=accumulate(values, axis=1),
        wall_times=wall_times,
        outcomes=outcomes,
        best_formulations=tuple(best_formulations),
        optimum=optimum,
    )


@dataclass
class _SeededRun:
    """One seed's run of a benchmark: the ask/tell steps (`electroloop.ask_tell`) and what
    they found."""

    name: str
    planner: Any
    objective: ObjectiveFunction
    space: SearchSpace
    goal: Goal
    budget: int
    batch_size: int
    seed: int
    run: int
    runs: int
    on_progress: Callable[[Progress], None] | None
    done: int = 0
    best: float = math.nan
    best_formulation: Formulation | None = None
    started: float = field(default_factory=time.perf_counter)
    outcomes: dict[str, np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        self.outcomes = {m: np.full(self.budget, np.nan) for m in self.goal.metrics}

    def ask(self) -> list[Candidate]:
        n = min(self.batch_size, self.budget - self.done)
        candidates = self.planner.ask(n) if n > 0 else []
        if len(candidates) != n:
            raise PlannerError(f"{self.name} returned {len(candidates)} candidates; asked for {n}")
        return list(candidates)

    def evaluate(self, candidates: list[Candidate]) -> list[Observation]:
        maximize = self.goal.primary.direction == "maximize"
        observations = []
        for candidate in candidates:
            try:
                self.space.check(candidate.formulation)
            except ValueError as exc:
                raise PlannerError(
                    f"{self.name} proposed {candidate.id} outside the search space: {exc}"
                ) from exc
            values = _outcome(self.objective, candidate.formulation, self.goal)
            for m in self.goal.metrics:
                self.outcomes[m][self.done] = values[m]
            value = values[self.goal.primary.name]
            if math.isnan(self.best) or (value > self.best if maximize else value < self.best):
                self.best, self.best_formulation = value, candidate.formulation
            observations.append(
                Observation(candidate_id=candidate.id, design=candidate.design, values=values)
            )
            self.done += 1
        return observations

    def tell(self, _: list[Candidate], observations: list[Observation]) -> None:
        self.planner.tell(observations)
        if self.on_progress is not None:
            self.on_progress(
                Progress(
                    planner=self.name,
                    seed=self.seed,
                    run=self.run,
                    runs=self.runs,
                    trials=self.done,
                    budget=self.budget,
                    best=self.best,
                    elapsed=time.perf_counter() - self.started,
                )
            )


def regret_plot(
    results: Mapping[str, BenchmarkResult],
    path: str | Path,
    optimum: float | None = None,
    *,
    title: str = "Simple regret (median over seeds, IQR shaded)",
    ylabel: str = "simple regret: |optimum − best so far|",
    log_x: bool = True,
    targets: Sequence[float] = (0.95, 0.98),
) -> Path:
    """Write a PNG of each planner's median simple regret against trial, with the
    interquartile range shaded; log y (and log x by default: budgets differ by orders of
    magnitude). Dotted lines mark the regret at each of `targets` (fractions of the optimum).
    `optimum` defaults to each result's own. Returns the path."""
    import matplotlib

    matplotlib.use("Agg")  # headless: plots are files, never windows
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("no results to plot")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for label, result in results.items():
        best = result._optimum(optimum)
        floor = REGRET_FLOOR * max(abs(best), 1.0)
        regret = np.maximum(result.regret(best), floor)
        q25, median, q75 = np.percentile(regret, [25, 50, 75], axis=0)
        trials = np.arange(1, result.budget + 1)
        (line,) = ax.plot(
            trials, median, drawstyle="steps-post", label=f"{label} (n={result.runs})"
        )
        ax.fill_between(
            trials, q25, q75, step="post", color=line.get_color(), alpha=0.2, linewidth=0
        )
    reference = next(iter(results.values()))._optimum(optimum)
    for fraction in targets:
        level = (1.0 - fraction) * abs(reference)
        ax.axhline(level, color="0.4", linestyle=":", linewidth=1)
        ax.annotate(
            f"{fraction * 100:g} % of optimum",
            (0.01, level),
            xycoords=("axes fraction", "data"),
            textcoords="offset points",
            xytext=(0, 2),
            fontsize=8,
            color="0.3",
        )
    ax.set_yscale("log")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("trial")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="best")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
