"""Results a person can read: best-so-far curves, convergence, Pareto and parity plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np

from electroloop.orchestrator.hypervolume import pareto_mask

matplotlib.use("Agg")  # headless: plots are files, never windows
import matplotlib.pyplot as plt  # noqa: E402

# Half-width of the central 90 % interval of a normal distribution, in standard deviations.
Z_90 = 1.645


def best_so_far(values: Sequence[float | None], maximize: bool = True) -> list[float | None]:
    """Running best of trial values in trial order; failed trials (None) carry the best on."""
    best: float | None = None
    curve: list[float | None] = []
    for value in values:
        if value is not None and (best is None or (value > best if maximize else value < best)):
            best = value
        curve.append(best)
    return curve


def convergence_plot(
    values: Sequence[float | None],
    path: Path,
    *,
    title: str,
    ylabel: str,
    maximize: bool = True,
    optimum: float | None = None,
) -> Path:
    """Write a PNG of every trial's value and the best-so-far curve; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    trials = list(range(1, len(values) + 1))
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    measured = [(t, v) for t, v in zip(trials, values, strict=True) if v is not None]
    if measured:
        ax.scatter(*zip(*measured, strict=True), s=18, color="0.55", label="trial")
    curve = best_so_far(values, maximize)
    ax.step(
        trials,
        [c if c is not None else float("nan") for c in curve],
        where="post",
        color="tab:blue",
        label="best so far",
    )
    if optimum is not None:
        ax.axhline(optimum, color="tab:red", linestyle="--", label="true optimum (simulator)")
    ax.set_xlabel("trial")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _axis_label(name: str, unit: str) -> str:
    """`name [unit]`, or just the name for a dimensionless quantity."""
    return f"{name} [{unit}]" if unit else name


def front_points(
    points: Sequence[tuple[float, float]], maximize: tuple[bool, bool]
) -> list[tuple[float, float]]:
    """The non-dominated points, sorted by the first objective; what `pareto_plot` highlights.

    Minimised objectives are negated so that `pareto_mask` (which maximises) applies; exact
    copies of a front point are all kept, as `pareto_mask` keeps them.
    """
    if len(points) == 0:
        return []
    values = np.asarray(points, dtype=np.float64).reshape(-1, 2)  # `n x 2`
    signs = np.where(maximize, 1.0, -1.0)
    front = values[pareto_mask(values * signs)]
    front = front[np.lexsort((front[:, 1], front[:, 0]))]
    return [(float(x), float(y)) for x, y in front]


def _staircase(
    front: Sequence[tuple[float, float]], maximize: tuple[bool, bool]
) -> tuple[list[float], list[float]]:
    """Corners of the edge of the region `front` dominates, as x and y lists for a line plot.

    A straight segment between neighbouring front points would cut through the dominated
    region (and suggest outcomes nobody measured); the edge instead runs parallel to the
    axes, turning at each front point.
    """
    signs = np.where(maximize, 1.0, -1.0)
    flipped = sorted((x * signs[0], y * signs[1]) for x, y in front)  # maximising both
    xs: list[float] = []
    ys: list[float] = []
    for i, (x, y) in enumerate(flipped):
        if i:
            xs.append(flipped[i - 1][0])
            ys.append(y)
        xs.append(x)
        ys.append(y)
    return [float(x * signs[0]) for x in xs], [float(y * signs[1]) for y in ys]


def pareto_plot(
    points: Sequence[tuple[float, float]],
    path: Path,
    *,
    names: tuple[str, str],
    units: tuple[str, str],
    maximize: tuple[bool, bool],
    reference: tuple[float, float] | None = None,
    title: str,
    infeasible: Sequence[tuple[float, float]] = (),
) -> Path:
    """Write a PNG of the trade-off between two objectives; returns `path`.

    Feasible observations are dots, the Pareto front among them a step line (the edge of the
    region it dominates), observations that break an outcome constraint grey crosses, and
    the hypervolume reference point a star when given. With no feasible observation the plot
    still appears, saying so, so a campaign's folder always has the same files.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    if len(infeasible):
        bad = np.asarray(infeasible, dtype=np.float64).reshape(-1, 2)  # `k x 2`
        ax.scatter(
            bad[:, 0],
            bad[:, 1],
            s=22,
            marker="x",
            color="0.6",
            label="infeasible (breaks a constraint)",
        )
    if len(points):
        good = np.asarray(points, dtype=np.float64).reshape(-1, 2)  # `n x 2`
        ax.scatter(good[:, 0], good[:, 1], s=18, color="tab:blue", alpha=0.6, label="trial")
        front = front_points(points, maximize)
        xs, ys = _staircase(front, maximize)
        ax.plot(xs, ys, color="tab:orange", linewidth=1.5, label="Pareto front")
        best = np.asarray(front, dtype=np.float64)  # `f x 2`
        ax.scatter(best[:, 0], best[:, 1], s=30, color="tab:orange", zorder=3)
    else:
        ax.text(0.5, 0.5, "no feasible observations yet", ha="center", transform=ax.transAxes)
    if reference is not None:
        ax.scatter(
            [reference[0]],
            [reference[1]],
            s=90,
            marker="*",
            color="tab:red",
            label="reference point",
        )
    better = ("higher is better", "lower is better")
    ax.set_xlabel(f"{_axis_label(names[0], units[0])}, {better[not maximize[0]]}")
    ax.set_ylabel(f"{_axis_label(names[1], units[1])}, {better[not maximize[1]]}")
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def parity_plot(
    predicted: Sequence[tuple[float, float]],
    measured: Sequence[float],
    path: Path,
    *,
    name: str,
    unit: str,
    title: str,
) -> Path:
    """Write a PNG of the surrogate's predictions against the measurements; returns `path`.

    `predicted` holds one (mean, standard deviation) per measurement. Points sit on y = x when
    the model is right, and a calibrated model puts about 90 % of them within ±1.645 standard
    deviations; the legend states that fraction and the mean absolute error. No predictions
    yet gives a plot saying so rather than an error, since a campaign's first trials have
    none; lengths that differ or a negative standard deviation raise ValueError.
    """
    if len(predicted) != len(measured):
        raise ValueError(
            f"predicted has {len(predicted)} entries but measured has {len(measured)}; "
            "they must pair up"
        )
    pairs = np.asarray(predicted, dtype=np.float64).reshape(-1, 2)  # `n x 2`: mean, std
    mean, std = pairs[:, 0], pairs[:, 1]
    truth = np.asarray(measured, dtype=np.float64)  # `n`
    if np.any(std < 0):
        raise ValueError("predicted standard deviations must be non-negative")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5.2, 5.2), dpi=120)
    if truth.size:
        error = np.abs(truth - mean)
        mae = float(error.mean())
        covered = float(np.mean(error <= Z_90 * std))
        ax.errorbar(
            truth,
            mean,
            yerr=std,
            fmt="o",
            markersize=4,
            color="tab:blue",
            ecolor="0.6",
            capsize=2,
            label=(
                f"prediction ± 1 std (n = {truth.size})\n"
                f"MAE {mae:.3g} {unit}; {100 * covered:.0f} % within the 90 % interval"
            ),
        )
        low = float(min(truth.min(), (mean - std).min()))
        high = float(max(truth.max(), (mean + std).max()))
        pad = 0.05 * (high - low) or 1.0
        line = [low - pad, high + pad]
        ax.plot(line, line, "--", color="tab:red", label="y = x")
        ax.legend(loc="upper left", fontsize="small")
    else:
        ax.text(0.5, 0.5, "no predictions yet", ha="center", transform=ax.transAxes)
    ax.set_xlabel(f"measured {_axis_label(name, unit)}")
    ax.set_ylabel(f"predicted {_axis_label(name, unit)}")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
