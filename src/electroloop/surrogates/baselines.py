"""Tabular baselines for the mixture surrogate: what a GNN has to beat to earn its keep.

Both see the features of `MixtureFeaturizer.design_matrix` (fraction-weighted component
descriptors, salt descriptors, molality, °C) and, like the network, model ln σ; predictions are
reported in mS/cm as a median and the std of the matching 90 % interval width.

- `GradientBoostingBaseline`: scikit-learn's histogram gradient boosting (the LightGBM algorithm:
  Ke et al., NeurIPS 2017). Hyperparameters are chosen from `GRID` by grouped K-fold
  cross-validation over the *training* sources only (MAE in mS/cm), the interval by two extra
  models with the pinball loss at 5 % and 95 % (quantile regression, Koenker & Bassett,
  Econometrica 46 (1978) 33).
- `GaussianProcessBaseline`: a GP with an ARD RBF kernel plus white noise on standardised
  features (Rasmussen & Williams, "Gaussian Processes for Machine Learning", MIT Press 2006,
  ch. 5: hyperparameters by maximum marginal likelihood on the training set). Exact GPs scale as
  n³, so it is fitted on a random subset of at most `max_points` rows.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.model_selection import GroupKFold

from electroloop.errors import ConfigError
from electroloop.surrogates.calibration import Z90
from electroloop.surrogates.ensemble import Prediction
from electroloop.surrogates.mixture import (
    FLOOR,
    MixtureFeaturizer,
    MixtureRecord,
    log_normal_summary,
)

GRID: tuple[dict[str, Any], ...] = tuple(
    {"learning_rate": 0.1, "max_leaf_nodes": leaves, "min_samples_leaf": leaf}
    for leaves, leaf in itertools.product((15, 31), (20, 100))
)
"""Hyperparameters tried by the inner grouped cross-validation (200 boosting rounds, L2 1.0)."""


def log_targets(records: Sequence[MixtureRecord]) -> np.ndarray:
    """ln(max(σ, `FLOOR`)) per record, the scale every model here trains on."""
    if any(r.target is None for r in records):
        raise ConfigError("a training record has no target; allowed: every target set")
    return np.log(np.maximum([float(r.target) for r in records], FLOOR))  # type: ignore[arg-type]


def _hgb(params: Mapping[str, Any], seed: int, **extra: Any) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(
        max_iter=200,
        l2_regularization=1.0,
        early_stopping=False,  # its validation split is random rows, i.e. the same sources
        random_state=seed,
        **params,
        **extra,
    )


def tune(
    x: np.ndarray,
    y: np.ndarray,
    groups: Sequence[str],
    grid: Sequence[Mapping[str, Any]] = GRID,
    folds: int = 3,
    seed: int = 0,
) -> tuple[dict[str, Any], float]:
    """The grid point with the least grouped-CV MAE of exp(prediction), and that MAE (mS/cm).

    With fewer than two groups there is nothing to hold out and the first grid point is returned.
    """
    n_groups = len(set(groups))
    if n_groups < 2:
        return dict(grid[0]), math.nan
    splitter = GroupKFold(n_splits=min(folds, n_groups))
    splits = list(splitter.split(x, y, groups))
    best: tuple[float, dict[str, Any]] | None = None
    for params in grid:
        errors = []
        for train, test in splits:
            model = _hgb(params, seed).fit(x[train], y[train])
            errors.append(np.abs(np.exp(model.predict(x[test])) - np.exp(y[test])))
        mae = float(np.mean(np.concatenate(errors)))
        if best is None or mae < best[0]:
            best = (mae, dict(params))
    assert best is not None
    return best[1], best[0]


class GradientBoostingBaseline:
    """Tuned gradient boosting on ln σ (squared error, the loss it was tuned with) with 5 %/95 %
    quantile models for the interval."""

    def __init__(
        self,
        featurizer: MixtureFeaturizer,
        median: HistGradientBoostingRegressor,
        low: HistGradientBoostingRegressor,
        high: HistGradientBoostingRegressor,
        params: dict[str, Any],
    ) -> None:
        self.featurizer = featurizer
        self.median, self.low, self.high = median, low, high
        self.params = params

    @classmethod
    def fit(
        cls,
        records: Sequence[MixtureRecord],
        grid: Sequence[Mapping[str, Any]] = GRID,
        inner_folds: int = 3,
        seed: int = 0,
    ) -> GradientBoostingBaseline:
        """Tune on grouped folds of `records` (by `group`), then fit on all of them."""
        featurizer = MixtureFeaturizer.fit(records)
        x, y = featurizer.design_matrix(records), log_targets(records)
        params, _ = tune(x, y, [r.group for r in records], grid, inner_folds, seed)
        return cls(
            featurizer,
            _hgb(params, seed).fit(x, y),
            _hgb(params, seed, loss="quantile", quantile=0.05).fit(x, y),
            _hgb(params, seed, loss="quantile", quantile=0.95).fit(x, y),
            params,
        )

    def quantiles(self, records: Sequence[MixtureRecord]) -> np.ndarray:
        """ln σ at 5 %, centre, 95 % `n x 3`, sorted per row (separate models may cross)."""
        x = self.featurizer.design_matrix(records)
        q = np.stack([m.predict(x) for m in (self.low, self.median, self.high)], axis=1)
        return np.sort(q, axis=1)

    def predict(self, records: Sequence[MixtureRecord]) -> Prediction:
        """Median σ (mS/cm) and the std matching the width of the 5–95 % interval."""
        q = self.quantiles(records)
        low, mid, high = np.exp(q[:, 0]), np.exp(q[:, 1]), np.exp(q[:, 2])
        return Prediction(mean=mid, std=np.maximum((high - low) / (2.0 * Z90), 1e-6))


class GaussianProcessBaseline:
    """Exact GP (ARD RBF + white noise) on standardised features and standardised ln σ."""

    def __init__(
        self,
        featurizer: MixtureFeaturizer,
        gp: GaussianProcessRegressor,
        center: np.ndarray,
        scale: np.ndarray,
    ) -> None:
        self.featurizer = featurizer
        self.gp = gp
        self.center, self.scale = center, scale

    @classmethod
    def fit(
        cls, records: Sequence[MixtureRecord], max_points: int = 800, seed: int = 0
    ) -> GaussianProcessBaseline:
        """Maximum-marginal-likelihood fit on at most `max_points` random training rows."""
        featurizer = MixtureFeaturizer.fit(records)
        x, y = featurizer.design_matrix(records), log_targets(records)
        if len(y) > max_points:
            keep = np.random.default_rng(seed).choice(len(y), max_points, replace=False)
            x, y = x[keep], y[keep]
        center, scale = x.mean(axis=0), x.std(axis=0)
        scale = np.where(scale > 1e-9, scale, np.inf)  # constant columns drop out (x / inf = 0)
        kernel = ConstantKernel(1.0, (1e-2, 1e2)) * RBF(
            np.ones(x.shape[1]), (1e-2, 1e3)
        ) + WhiteKernel(1e-2, (1e-6, 1.0))
        gp = GaussianProcessRegressor(kernel, normalize_y=True, random_state=seed)
        with warnings.catch_warnings():
            # ARD sends irrelevant features to the length-scale bound; that is the point of ARD
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit((x - center) / scale, y)
        return cls(featurizer, gp, center, scale)

    def predict(self, records: Sequence[MixtureRecord]) -> Prediction:
        """Median σ (mS/cm) and the std matching the width of the log-normal 90 % interval."""
        x = (self.featurizer.design_matrix(records) - self.center) / self.scale
        mu, sd = self.gp.predict(x, return_std=True)
        return log_normal_summary(np.asarray(mu), np.maximum(np.asarray(sd), 1e-6))
