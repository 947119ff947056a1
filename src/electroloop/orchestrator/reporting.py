"""Results a person can read: best-so-far curves and the convergence plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: plots are files, never windows
import matplotlib.pyplot as plt  # noqa: E402


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
