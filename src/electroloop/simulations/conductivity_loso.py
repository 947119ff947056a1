"""Leave-one-source-out (LOSO) scoring of a conductivity model over *every* held-out row.

Why: a model judged only on held-out rows inside its own validity box looks better than it is,
since the rows it refuses are exactly the unusual ones (low molality, high EC, EC-free blends)
another lab will measure. Here each CALiSol-23 source (DOI; de Blasio et al., Sci. Data 2024,
doi:10.1038/s41597-024-03575-8) is held out in turn, the model is refitted on the others (the
held-out source never enters the fit), and every held-out row is counted: scored in the model's
domain, scored by extrapolation (the model is asked anyway), or refused (the model cannot give a
value at all). The report gives MAE overall, per source, and the signed bias (model − measured)
per molality band, where the issue found the simulator's physics biased.

A model enters as a `Fitter`: `fit(training_points) -> Predictor`; a `Predictor` maps one
`CalisolPoint` to a `Scored` value or `None` (refused). `conductivity_fitters` holds the fitters
of the simulator's physics, old and new.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from electroloop.errors import SimulationError
from electroloop.simulations.calisol import CalisolPoint

CARBONATES = frozenset({"EC", "PC", "DMC", "EMC", "DEC", "FEC"})
"""Solvents of the "LiPF6 in carbonates" benchmark (as `electrolyte.CARBONATES`)."""

BANDS: tuple[tuple[str, float, float], ...] = (
    ("< 0.5", 0.0, 0.5),
    ("0.5–1.5", 0.5, 1.5),
    ("> 1.5", 1.5, math.inf),
)
"""Molality bands (mol/kg, lower bound inclusive) in which bias is reported (issue 20)."""


@dataclass(frozen=True)
class Scored:
    """A prediction (mS/cm) and whether the model had to extrapolate past its domain for it."""

    conductivity: float
    extrapolated: bool = False


Predictor = Callable[[CalisolPoint], Scored | None]
"""One held-out row -> its prediction, or `None` when the model refuses it."""

Fitter = Callable[[Sequence[CalisolPoint]], Predictor]
"""Training rows (the held-out source already removed) -> a predictor."""


@dataclass(frozen=True)
class Stats:
    """Errors of one group of held-out rows.

    `n`: rows in the group; `refused`: rows without a value; `extrapolated`: scored rows outside
    the model's domain; `mae` (mS/cm) and `bias` (mean of model − measured) over scored rows
    (NaN if none).
    """

    n: int
    refused: int
    extrapolated: int
    mae: float
    bias: float

    @property
    def scored(self) -> int:
        """Rows with a value (in-domain or extrapolated)."""
        return self.n - self.refused


@dataclass(frozen=True)
class LosoReport:
    """LOSO errors of one model: `overall`, `by_source` (DOI -> stats), `by_band` (`BANDS`)."""

    model: str
    overall: Stats
    by_source: dict[str, Stats]
    by_band: dict[str, Stats]


def band_of(molality: float) -> str:
    """Name of the `BANDS` entry holding `molality` (mol/kg)."""
    for name, low, high in BANDS:
        if low <= molality < high:
            return name
    raise SimulationError(f"molality is {molality!r}; allowed: >= 0 mol/kg")


def lipf6_in_carbonates(points: Iterable[CalisolPoint]) -> list[CalisolPoint]:
    """LiPF6 rows whose solvents are all in `CARBONATES` (the benchmark's scored rows)."""
    return [p for p in points if p.salt == "LiPF6" and p.solvents <= CARBONATES]


def _stats(errors: Sequence[float | None], flags: Sequence[bool]) -> Stats:
    values = np.array([e for e in errors if e is not None], dtype=float)
    n, refused = len(errors), sum(1 for e in errors if e is None)
    extrapolated = sum(1 for e, f in zip(errors, flags, strict=True) if e is not None and f)
    if len(values) == 0:
        return Stats(n, refused, extrapolated, math.nan, math.nan)
    return Stats(n, refused, extrapolated, float(np.mean(np.abs(values))), float(np.mean(values)))


def loso(
    model: str,
    fitter: Fitter,
    scored: Sequence[CalisolPoint],
    pool: Sequence[CalisolPoint],
    *,
    sources: Sequence[str] | None = None,
) -> LosoReport:
    """Hold out each source of `scored` in turn, fit on `pool` without it, score all its rows.

    `scored`: the rows to predict (e.g. `lipf6_in_carbonates`); `pool`: every row a fold may
    train on (rows of the held-out DOI are removed before the fit); `sources`: restrict the folds
    to these DOIs (default: every DOI in `scored`).
    """
    dois = sorted({p.doi for p in scored}) if sources is None else list(sources)
    rows: list[tuple[CalisolPoint, float | None, bool]] = []
    for doi in dois:
        predict = fitter([p for p in pool if p.doi != doi])
        for p in scored:
            if p.doi != doi:
                continue
            result = predict(p)
            if result is None or not math.isfinite(result.conductivity):
                rows.append((p, None, False))
            else:
                rows.append((p, result.conductivity - p.conductivity, result.extrapolated))
    by_source = {
        doi: _stats(
            [e for p, e, _ in rows if p.doi == doi], [f for p, _, f in rows if p.doi == doi]
        )
        for doi in dois
    }
    by_band = {}
    for name, _, _ in BANDS:
        group = [(e, f) for p, e, f in rows if band_of(p.molality) == name]
        by_band[name] = _stats([e for e, _ in group], [f for _, f in group])
    overall = _stats([e for _, e, _ in rows], [f for _, _, f in rows])
    return LosoReport(model=model, overall=overall, by_source=by_source, by_band=by_band)
