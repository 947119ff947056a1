"""Campaigns side by side: did the planner beat the screen, and after how many experiments?

The pure part of `electroloop compare`: a data model, a table and a figure. Reading MLflow
happens elsewhere, so this module works on plain values and is tested without a tracking server.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import matplotlib
import numpy as np
from numpy.typing import NDArray

matplotlib.use("Agg")  # headless: plots are files, never windows
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

OPTIMUM_KIND = "true optimum, simulator"
BEST_FOUND_KIND = "best found by any compared campaign"


@dataclass(frozen=True)
class CampaignHistory:
    """One campaign as the comparison needs it."""

    campaign_id: str
    study: str
    planner: str
    group: str  # campaigns sharing a group are repeats of one design (differ only in seed)
    metric: str  # e.g. "conductivity"
    unit: str  # e.g. "mS/cm"
    maximize: bool
    best_so_far: tuple[float | None, ...]  # entry i = best after trial i+1; None before the first
    failures: int
    wall_time: float | None  # seconds, None if unknown (e.g. still running)
    optimum: float | None  # the true optimum when a simulator knows it, else None


@dataclass(frozen=True)
class ComparisonRow:
    """One table line; plain values so it round-trips through CSV."""

    campaign_id: str
    group: str
    planner: str
    trials: int
    best: float | None
    experiments_to_target: int | None  # None: never reached
    wall_time: float | None
    failures: int


def _by_value(histories: Sequence[CampaignHistory], attribute: str) -> str:
    """`conductivity (c1, c2); viscosity (c3)`: which campaign has which value, for errors."""
    seen: dict[object, list[str]] = {}
    for history in histories:
        seen.setdefault(getattr(history, attribute), []).append(history.campaign_id)
    return "; ".join(f"{value} ({', '.join(ids)})" for value, ids in seen.items())


def _check_comparable(histories: Sequence[CampaignHistory]) -> None:
    """Refuse to put different quantities or directions on one axis or in one column."""
    if not histories:
        raise ValueError("no campaigns to compare")
    for attribute in ("metric", "unit", "maximize"):
        if len({getattr(h, attribute) for h in histories}) > 1:
            raise ValueError(
                f"cannot compare campaigns with different {attribute}: "
                f"{_by_value(histories, attribute)}"
            )


def shared_optimum(histories: Sequence[CampaignHistory]) -> float | None:
    """The simulator's optimum if every history knows it and they agree (1e-9 relative), else None.

    Only a common optimum is a fair yardstick: campaigns against different simulators, or a
    lab campaign among simulated ones, fall back to the best value found.
    """
    _check_comparable(histories)
    optima = [h.optimum for h in histories]
    first = optima[0]
    if first is None:
        return None
    for optimum in optima:
        if optimum is None or not math.isclose(optimum, first, rel_tol=1e-9):
            return None
    return first


def reference_kind(histories: Sequence[CampaignHistory]) -> str:
    """The words for the table header saying where `target_reference` came from."""
    return OPTIMUM_KIND if shared_optimum(histories) is not None else BEST_FOUND_KIND


def target_reference(histories: Sequence[CampaignHistory]) -> float:
    """The value "experiments to 95 %" is measured against.

    The simulator's true optimum when all histories share one (see `shared_optimum`), otherwise
    the best value any compared campaign reached (max if maximizing, else min).
    Raises ValueError for no histories, mixed metrics/units/directions, or no observation at all.
    """
    _check_comparable(histories)
    finals = [v for h in histories for v in h.best_so_far if v is not None]
    if not finals:
        ids = ", ".join(h.campaign_id for h in histories)
        raise ValueError(f"no compared campaign has an observation yet: {ids}")
    optimum = shared_optimum(histories)
    if optimum is not None:
        return optimum
    return max(finals) if histories[0].maximize else min(finals)


def experiments_to(
    history: CampaignHistory, reference: float, fraction: float = 0.95
) -> int | None:
    """1-based trial count after which best-so-far first reaches `fraction` of `reference`.

    Maximizing: best >= fraction * reference; minimizing: best <= reference / fraction.
    Being a ratio, this assumes a positive-valued metric (conductivity, viscosity), hence
    reference <= 0 is refused. Returns None when the campaign never got there.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if reference <= 0.0:
        raise ValueError(
            f"reference must be positive (the target is a ratio of it), got {reference}"
        )
    for trial, best in enumerate(history.best_so_far, start=1):
        if best is None:
            continue
        if best >= fraction * reference if history.maximize else best <= reference / fraction:
            return trial
    return None


def _last_best(history: CampaignHistory) -> float | None:
    """The campaign's final best-so-far; None if nothing was ever observed."""
    return history.best_so_far[-1] if history.best_so_far else None


def comparison_rows(
    histories: Sequence[CampaignHistory], fraction: float = 0.95
) -> list[ComparisonRow]:
    """One row per campaign, sorted by group then campaign id so repeats sit together."""
    reference = target_reference(histories)
    rows = [
        ComparisonRow(
            campaign_id=h.campaign_id,
            group=h.group,
            planner=h.planner,
            trials=len(h.best_so_far),
            best=_last_best(h),
            experiments_to_target=experiments_to(h, reference, fraction),
            wall_time=h.wall_time,
            failures=h.failures,
        )
        for h in histories
    ]
    return sorted(rows, key=lambda r: (r.group, r.campaign_id))


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _duration(seconds: float | None) -> str:
    """Seconds as a person reads them: campaigns run from seconds (simulated) to days (lab)."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g} %"


def format_table(
    rows: Sequence[ComparisonRow],
    *,
    metric: str,
    unit: str,
    reference: float,
    reference_kind: str,
    fraction: float = 0.95,
) -> str:
    """A plain-text aligned table for the terminal, rows in the order given.

    The header line states the reference, because "experiments to 95 %" means nothing without it.
    """
    unit_suffix = f" {unit}" if unit else ""
    target = _percent(fraction)
    heading = (
        f"{metric}: experiments to {target} of {_number(reference)}{unit_suffix} ({reference_kind})"
    )
    columns = [
        "campaign",
        "planner",
        "trials",
        f"best ({unit})" if unit else "best",
        f"exp. to {target}",
        "wall time",
        "failures",
    ]
    right = [False, False, True, True, True, True, True]  # numbers right-aligned
    body = [
        [
            r.campaign_id,
            r.planner,
            str(r.trials),
            _number(r.best),
            "-" if r.experiments_to_target is None else str(r.experiments_to_target),
            _duration(r.wall_time),
            str(r.failures),
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [columns, *body]) for i in range(len(columns))]

    def render(cells: list[str]) -> str:
        padded = [
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ]
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([heading, "", render(columns), rule, *(render(b) for b in body)]) + "\n"


def write_table_csv(rows: Sequence[ComparisonRow], path: Path) -> Path:
    """CSV with `ComparisonRow` field names as header; None becomes an empty cell."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([f.name for f in fields(ComparisonRow)])
        for row in rows:
            writer.writerow(["" if v is None else v for v in astuple(row)])
    return path


def group_band(
    histories: Sequence[CampaignHistory],
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Median and min–max of best-so-far across repeats, per trial: `(trials, median, low, high)`.

    All four arrays have shape `n`, n being the longest history; trials run 1..n. A history adds
    nothing beyond its end, and None (before its first observation) counts as missing, so a trial
    nobody has a value for is NaN in median, low and high.
    """
    if not histories:
        raise ValueError("group_band needs at least one history")
    n = max(len(h.best_so_far) for h in histories)
    values = np.full((len(histories), n), np.nan)  # `members x n`
    for row, history in enumerate(histories):
        for col, best in enumerate(history.best_so_far):
            if best is not None:
                values[row, col] = best
    median = np.full(n, np.nan)
    low = np.full(n, np.nan)
    high = np.full(n, np.nan)
    known = ~np.isnan(values).all(axis=0)  # nan-reductions warn on all-NaN columns
    median[known] = np.nanmedian(values[:, known], axis=0)
    low[known] = np.nanmin(values[:, known], axis=0)
    high[known] = np.nanmax(values[:, known], axis=0)
    return np.arange(1, n + 1), median, low, high


def _nan_curve(history: CampaignHistory) -> list[float]:
    return [float("nan") if v is None else v for v in history.best_so_far]


def comparison_plot(histories: Sequence[CampaignHistory], path: Path, *, title: str) -> Path:
    """Write a PNG of best-so-far vs trial for every campaign; returns `path`.

    A group with one member is drawn as its campaign's line; repeats over seeds are drawn as
    one median line with a min–max band, since single seeds of a stochastic planner mislead.
    """
    _check_comparable(histories)
    path.parent.mkdir(parents=True, exist_ok=True)
    groups: dict[str, list[CampaignHistory]] = {}
    for history in histories:
        groups.setdefault(history.group, []).append(history)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (group, members) in enumerate(groups.items()):
        color = colors[index % len(colors)]
        if len(members) == 1:
            (single,) = members
            trials = list(range(1, len(single.best_so_far) + 1))
            label = f"{single.campaign_id} ({single.planner})"
            ax.step(trials, _nan_curve(single), where="post", color=color, label=label)
            continue
        band_trials, median, low, high = group_band(members)
        ax.fill_between(band_trials, low, high, step="post", color=color, alpha=0.2, linewidth=0)
        label = f"{group} (n={len(members)})"
        ax.step(band_trials, median, where="post", color=color, label=label)
    optimum = shared_optimum(histories)
    if optimum is not None:
        ax.axhline(optimum, color="tab:red", linestyle="--", label=OPTIMUM_KIND)
    first = histories[0]
    unit_suffix = f" ({first.unit})" if first.unit else ""
    ax.set_xlabel("trial")
    ax.set_ylabel(f"best {first.metric}{unit_suffix}")
    ax.set_title(title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trials are counted, not measured
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
