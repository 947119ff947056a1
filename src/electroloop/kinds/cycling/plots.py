"""Cycling results a battery scientist reads first: V–Q curves and capacity fade.

The voltage–capacity curve of each cycle shows polarisation growth (the charge and discharge
plateaus drifting apart) and lost capacity (the curves getting shorter); discharge capacity,
retention and Coulombic efficiency per cycle show cycle life. Both plots take plain values, so a
real cycler and a PyBaMM simulation feed them the same way.

Units are declared once: capacity in mAh (charge passed within the step, starting near 0),
voltage in V.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import matplotlib

matplotlib.use("Agg")  # headless: plots are files, never windows
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

Step = Literal["charge", "discharge"]
_LINESTYLE: dict[str, Literal["-", "--"]] = {"charge": "-", "discharge": "--"}
_COLORMAP = "viridis"


def _check_cycle(owner: str, cycle: int) -> None:
    if isinstance(cycle, bool) or not isinstance(cycle, int) or cycle < 1:
        raise ValueError(f"{owner}.cycle must be an integer >= 1, got {cycle!r}")


def _as_finite_floats(owner: str, field: str, values: Iterable[float]) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    bad = [i for i, v in enumerate(out) if not math.isfinite(v)]
    if bad:
        raise ValueError(
            f"{owner}.{field} must hold finite values, got {out[bad[0]]!r} at index {bad[0]}"
        )
    return out


@dataclass(frozen=True)
class CycleCurve:
    """One charge or discharge step of one cycle: capacity [mAh] and voltage [V], both `n`."""

    cycle: int
    step: Step
    capacity: tuple[float, ...]
    voltage: tuple[float, ...]

    def __post_init__(self) -> None:
        _check_cycle("CycleCurve", self.cycle)
        if self.step not in _LINESTYLE:
            raise ValueError(f"CycleCurve.step must be 'charge' or 'discharge', got {self.step!r}")
        # Coerce numpy arrays and lists to tuples of plain floats: the value stays hashable.
        capacity = _as_finite_floats("CycleCurve", "capacity", self.capacity)
        voltage = _as_finite_floats("CycleCurve", "voltage", self.voltage)
        if len(capacity) != len(voltage):
            raise ValueError(
                f"CycleCurve.capacity and CycleCurve.voltage must have equal lengths, "
                f"got {len(capacity)} and {len(voltage)}"
            )
        if len(capacity) < 2:
            raise ValueError(f"CycleCurve.capacity must hold >= 2 points, got {len(capacity)}")
        object.__setattr__(self, "capacity", capacity)
        object.__setattr__(self, "voltage", voltage)


@dataclass(frozen=True)
class CycleSummary:
    """Charge and discharge capacity [mAh] passed in one cycle."""

    cycle: int
    charge_capacity: float
    discharge_capacity: float

    def __post_init__(self) -> None:
        _check_cycle("CycleSummary", self.cycle)
        charge = float(self.charge_capacity)
        discharge = float(self.discharge_capacity)
        # Charge is the divisor of the Coulombic efficiency, so it must be strictly positive.
        if not (math.isfinite(charge) and charge > 0):
            raise ValueError(f"CycleSummary.charge_capacity must be finite and > 0, got {charge!r}")
        if not (math.isfinite(discharge) and discharge >= 0):
            raise ValueError(
                f"CycleSummary.discharge_capacity must be finite and >= 0, got {discharge!r}"
            )
        object.__setattr__(self, "charge_capacity", charge)
        object.__setattr__(self, "discharge_capacity", discharge)

    @property
    def coulombic_efficiency(self) -> float:
        """Discharge over charge capacity (a fraction; 1.0 means no charge lost)."""
        return self.discharge_capacity / self.charge_capacity


def cycles_to_plot(cycles: Iterable[int], max_cycles: int) -> tuple[int, ...]:
    """At most `max_cycles` distinct cycles, evenly spread, always keeping the first and last.

    More lines than that turn a V–Q plot into an unreadable band of colour.
    """
    if isinstance(max_cycles, bool) or not isinstance(max_cycles, int) or max_cycles < 2:
        raise ValueError(f"max_cycles must be an integer >= 2, got {max_cycles!r}")
    unique = sorted(set(cycles))
    n = len(unique)
    if n <= max_cycles:
        return tuple(unique)
    # Integer floor spacing: the step (n-1)/(max_cycles-1) is >= 1, so indices are distinct,
    # start at 0 and end at n-1.
    return tuple(unique[i * (n - 1) // (max_cycles - 1)] for i in range(max_cycles))


def voltage_capacity_plot(
    curves: Sequence[CycleCurve],
    path: Path,
    *,
    title: str,
    max_cycles: int = 8,
) -> Path:
    """Write a PNG of voltage vs capacity, one colour per cycle; returns `path`.

    Charge is solid, discharge dashed; beyond `max_cycles` cycles an even subset is drawn.
    """
    if not curves:
        raise ValueError("curves must hold at least one CycleCurve, got none")
    counts = Counter((c.cycle, c.step) for c in curves)
    duplicates = sorted(k for k, n in counts.items() if n > 1)
    if duplicates:
        raise ValueError(f"curves must hold one curve per (cycle, step), duplicated: {duplicates}")
    shown = cycles_to_plot((c.cycle for c in curves), max_cycles)
    # vmax > vmin even for a single cycle, so the colorbar has a non-empty range.
    norm = Normalize(vmin=shown[0], vmax=max(shown[-1], shown[0] + 1))
    cmap = plt.get_cmap(_COLORMAP)

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120, layout="constrained")
    kept = set(shown)
    for curve in sorted(curves, key=lambda c: (c.cycle, c.step)):
        if curve.cycle in kept:
            ax.plot(
                curve.capacity,
                curve.voltage,
                color=cmap(norm(curve.cycle)),
                linestyle=_LINESTYLE[curve.step],
                linewidth=1.3,
            )
    colorbar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax)
    colorbar.set_label("cycle")
    # Ticks on the drawn cycles say exactly which ones are shown; beyond ~10 they would crowd.
    if len(shown) <= 10:
        colorbar.set_ticks(list(shown))
    else:
        colorbar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    steps = sorted({c.step for c in curves})
    ax.legend(
        handles=[Line2D([], [], color="0.2", linestyle=_LINESTYLE[s], label=s) for s in steps],
        loc="best",
    )
    ax.set_xlabel("capacity [mAh]")
    ax.set_ylabel("voltage [V]")
    n_cycles = len({c.cycle for c in curves})
    ax.set_title(
        title if len(shown) == n_cycles else f"{title} ({len(shown)} of {n_cycles} cycles)"
    )
    ax.grid(alpha=0.3)
    fig.savefig(path)
    plt.close(fig)
    return path


def capacity_fade_plot(
    summaries: Sequence[CycleSummary],
    path: Path,
    *,
    title: str,
    nominal_capacity: float | None = None,
) -> Path:
    """Write a PNG of discharge capacity, retention and Coulombic efficiency per cycle.

    Retention [%] is relative to `nominal_capacity` [mAh] when given, else to the first cycle's
    discharge capacity. Returns `path`.
    """
    if not summaries:
        raise ValueError("summaries must hold at least one CycleSummary, got none")
    counts = Counter(s.cycle for s in summaries)
    duplicates = sorted(c for c, n in counts.items() if n > 1)
    if duplicates:
        raise ValueError(
            f"summaries must hold one CycleSummary per cycle, duplicated: {duplicates}"
        )
    ordered = sorted(summaries, key=lambda s: s.cycle)
    if nominal_capacity is not None:
        if not (math.isfinite(nominal_capacity) and nominal_capacity > 0):
            raise ValueError(f"nominal_capacity must be finite and > 0, got {nominal_capacity!r}")
        reference, reference_label = float(nominal_capacity), "nominal"
    else:
        reference, reference_label = ordered[0].discharge_capacity, f"cycle {ordered[0].cycle}"
        if reference <= 0:
            raise ValueError(
                "summaries[first cycle].discharge_capacity must be > 0 to serve as the "
                "retention reference; pass nominal_capacity instead"
            )

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (ax_q, ax_ce) = plt.subplots(
        2,
        1,
        sharex=True,
        figsize=(6.4, 5.6),
        dpi=120,
        layout="constrained",
        gridspec_kw={"height_ratios": (2, 1)},
    )
    x = [s.cycle for s in ordered]
    ax_q.plot(x, [s.discharge_capacity for s in ordered], marker="o", ms=3, color="tab:blue")
    ax_q.set_ylabel("discharge capacity [mAh]")
    # A secondary axis is a pure rescaling of the left one, so the two can never disagree.
    retention = ax_q.secondary_yaxis(
        "right", functions=(lambda q: 100.0 * q / reference, lambda r: r * reference / 100.0)
    )
    retention.set_ylabel(f"retention vs {reference_label} [%]")
    ax_q.set_title(title)
    ax_q.grid(alpha=0.3)

    ax_ce.plot(
        x, [100.0 * s.coulombic_efficiency for s in ordered], marker="o", ms=3, color="tab:green"
    )
    ax_ce.set_ylabel("Coulombic eff. [%]")
    ax_ce.set_xlabel("cycle")
    ax_ce.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_ce.grid(alpha=0.3)
    fig.savefig(path)
    plt.close(fig)
    return path
