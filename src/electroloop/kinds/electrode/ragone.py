"""Ragone curves of electrode designs: the 4680 cell's energy against the power it delivers.

The result a scientist reads off an electrode campaign (A. Kench et al., *Matter* 2024, Fig. 5):
the best designs, each discharged at every power of `ElectrodeCampaign.ragone_powers`, as Wh/kg
and Wh/L against W on log–log axes, and where an energy design's and a power design's curves
cross (`crossover`). Every point comes through the same cached twin as the campaign's trials.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from electroloop.kinds.electrode.campaign import (
    DischargeCondition,
    ElectrodeCampaign,
    MicrostructureSettings,
)
from electroloop.kinds.electrode.evaluation import ContentCache, evaluate
from electroloop.models import DesignPoint, Observation


@dataclass(frozen=True)
class RagoneCurve:
    """One design's energy at each power (zero where it cannot deliver that power)."""

    label: str
    design: dict[str, float]
    powers: list[float]
    wh_per_kg: list[float]
    wh_per_l: list[float]


def ragone_curve(
    label: str,
    design: Mapping[str, float],
    powers: Sequence[float],
    micro: MicrostructureSettings,
    seed: int,
    cache: ContentCache,
) -> RagoneCurve:
    """`design` (every parameter by name) discharged at each of `powers`, W."""
    kg, litre = [], []
    for power in powers:
        result = evaluate(design, micro, DischargeCondition(power_w=power), seed, cache)
        kg.append(result.values["wh_per_kg"])
        litre.append(result.values["wh_per_l"])
    return RagoneCurve(label, dict(design), list(powers), kg, litre)


def crossover(a: RagoneCurve, b: RagoneCurve, metric: str = "wh_per_l") -> float | None:
    """The power (W) where `a`'s and `b`'s curves cross, interpolated in log power between the
    two sampled powers that bracket the change of sign; None if they do not cross."""
    if a.powers != b.powers:
        raise ValueError("curves sampled at different powers; allowed: the same powers")
    gap = [x - y for x, y in zip(getattr(a, metric), getattr(b, metric), strict=True)]
    for i in range(len(gap) - 1):
        if gap[i] == 0.0:
            return a.powers[i]
        if gap[i] * gap[i + 1] < 0.0:
            t = gap[i] / (gap[i] - gap[i + 1])
            low, high = math.log(a.powers[i]), math.log(a.powers[i + 1])
            return math.exp(low + t * (high - low))
    return None


def plot_ragone(curves: Sequence[RagoneCurve], path: Path, title: str = "") -> Path:
    """Both Ragone plots (Wh/kg and Wh/L against W, log–log) side by side, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for curve in curves:
        for ax, values in zip(axes, (curve.wh_per_kg, curve.wh_per_l), strict=True):
            shown = [(p, v) for p, v in zip(curve.powers, values, strict=True) if v > 0]
            if shown:
                ax.plot(*zip(*shown, strict=True), marker="o", label=curve.label)
    for ax, unit in zip(axes, ("Wh/kg", "Wh/L"), strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("power [W]")
        ax.set_ylabel(f"energy [{unit}]")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    figure.suptitle(title or "Ragone curves (4680 cell)")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path


def best_designs(
    observations: Sequence[Observation], spec: ElectrodeCampaign, count: int = 3
) -> list[tuple[str, dict[str, float]]]:
    """The campaign's `count` best observed designs by its primary objective, as (candidate
    id, every parameter by name)."""
    primary = spec.goal.primary
    sign = -1.0 if primary.direction == "maximize" else 1.0
    ranked = sorted(
        (o for o in observations if primary.name in o.values),
        key=lambda o: sign * o.values[primary.name],
    )
    chosen = []
    for observation in ranked[:count]:
        assert isinstance(observation.design, DesignPoint)
        chosen.append(
            (observation.candidate_id, {**spec.design.fixed(), **observation.design.values})
        )
    return chosen


def campaign_ragone(
    observations: Sequence[Observation],
    spec: ElectrodeCampaign,
    cache: ContentCache,
    path: Path,
    title: str = "",
) -> tuple[Path, list[RagoneCurve]] | None:
    """The Ragone plot of the campaign's best designs at its `ragone_powers` (None if it names
    no powers or observed nothing)."""
    if not spec.ragone_powers:
        return None
    best = best_designs(observations, spec)
    if not best:
        return None
    curves = [
        ragone_curve(label, design, spec.ragone_powers, spec.microstructure, spec.seed, cache)
        for label, design in best
    ]
    return plot_ragone(curves, path, title), curves
