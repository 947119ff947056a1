"""Accuracy and calibration of a predictive distribution, reported side by side.

A surrogate that is accurate but over-confident misleads the planner as much as an inaccurate
one, so every evaluation reports both: MAE, RMSE and R² for the mean, and for the Gaussian
(mean, std): the fraction of held-out points inside the central 90 % interval (ideal 0.90) and
the mean negative log-likelihood (lower is better; Gneiting & Raftery, J. Am. Stat. Assoc. 102
(2007) 359, a proper scoring rule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from electroloop.errors import ConfigError

Z90 = 1.6448536269514722
"""Standard-normal quantile at 95 %: the central 90 % interval is mean ± Z90·std."""


@dataclass(frozen=True)
class Report:
    """Accuracy (mae, rmse, r2) and calibration (coverage90, nll) over `n` points."""

    mae: float
    rmse: float
    r2: float
    coverage90: float
    nll: float
    n: int

    def row(self) -> str:
        """A Markdown table row fragment: MAE | RMSE | R² | coverage90 | NLL | n."""
        return (
            f"{self.mae:.3f} | {self.rmse:.3f} | {self.r2:.3f} | {self.coverage90:.2f} | "
            f"{self.nll:.2f} | {self.n}"
        )


def regression_report(y: ArrayLike, mean: ArrayLike, std: ArrayLike) -> Report:
    """Compare predictions with the truth; `std` must be positive wherever it is used."""
    y_, mu, sd = (np.asarray(a, dtype=float).ravel() for a in (y, mean, std))
    if not (len(y_) == len(mu) == len(sd)) or len(y_) == 0:
        raise ConfigError(
            f"y, mean and std have lengths {len(y_)}, {len(mu)}, {len(sd)}; allowed: equal, > 0"
        )
    if not np.all(np.isfinite(np.concatenate([y_, mu, sd]))) or np.any(sd <= 0.0):
        raise ConfigError("y, mean and std must be finite and std > 0")
    error = mu - y_
    total = float(np.sum((y_ - y_.mean()) ** 2))
    r2 = 1.0 - float(np.sum(error**2)) / total if total > 0.0 else float("nan")
    nll = 0.5 * np.log(2.0 * math.pi * sd**2) + 0.5 * (error / sd) ** 2
    return Report(
        mae=float(np.mean(np.abs(error))),
        rmse=float(np.sqrt(np.mean(error**2))),
        r2=r2,
        coverage90=float(np.mean(np.abs(error) <= Z90 * sd)),
        nll=float(np.mean(nll)),
        n=len(y_),
    )
