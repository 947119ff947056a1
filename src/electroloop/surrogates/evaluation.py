"""Leave-one-group-out evaluation: how a surrogate does on a source it has never seen.

Random splits of CALiSol-23 put points from one temperature sweep on both sides and reward
memorising a lab's systematic offset; holding out whole sources (DOIs) measures what the lab
needs, a prediction for a recipe nobody in the training data measured. Any model fits: the
driver takes a `fit` callable that returns something with `predict(records) -> (mean, std)`.

Sources with fewer than `min_group_size` points are pooled into one extra fold: every one of them
is still held out (none of the pooled sources is in its training set), at the price of training
that fold on slightly less data. Pooling bounds the number of fits, which dominates the cost.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from electroloop.errors import ConfigError
from electroloop.surrogates.calibration import Report, regression_report
from electroloop.surrogates.ensemble import Prediction


class Grouped(Protocol):
    """A record with a measured `target` and the `group` (source) it came from."""

    @property
    def group(self) -> str: ...

    @property
    def target(self) -> float | None: ...


R = TypeVar("R", bound=Grouped)
R_contra = TypeVar("R_contra", contravariant=True)


class Fitted(Protocol[R_contra]):
    """A trained model: a Gaussian summary (mean, std) per record, in the target's units."""

    def predict(self, records: Sequence[R_contra], /) -> Prediction: ...


@dataclass(frozen=True)
class Fold:
    """The groups held out together, and the indices of their records."""

    name: str
    groups: tuple[str, ...]
    test: tuple[int, ...]


@dataclass(frozen=True)
class GroupEvaluation:
    """Per-point out-of-group predictions (`n`), their reports, and the total fit time (s)."""

    y: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    fold: tuple[str, ...]
    key: tuple[str, ...]
    overall: Report
    by_key: dict[str, Report]
    fit_seconds: float
    folds: tuple[Fold, ...]

    def report(self, mask: np.ndarray) -> Report:
        """`regression_report` on the points selected by the boolean `mask` `n`."""
        return regression_report(self.y[mask], self.mean[mask], self.std[mask])


def group_folds(records: Sequence[Grouped], min_group_size: int = 1) -> tuple[Fold, ...]:
    """One fold per group with ≥ `min_group_size` records, plus one fold pooling the rest."""
    index: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        index.setdefault(r.group, []).append(i)
    large = sorted(g for g, rows in index.items() if len(rows) >= min_group_size)
    small = sorted(g for g in index if g not in large)
    folds = [Fold(g, (g,), tuple(index[g])) for g in large]
    if small:
        rows = tuple(sorted(i for g in small for i in index[g]))
        folds.append(Fold(f"pooled ({len(small)} sources)", tuple(small), rows))
    return tuple(folds)


def _fit_predict(
    records: Sequence[R], fit: Callable[[Sequence[R]], Fitted[R]], fold: Fold
) -> tuple[np.ndarray, np.ndarray, float]:
    held = set(fold.groups)
    train = [r for r in records if r.group not in held]
    start = time.perf_counter()
    model = fit(train)
    seconds = time.perf_counter() - start
    prediction = model.predict([records[i] for i in fold.test])
    return np.asarray(prediction.mean), np.asarray(prediction.std), seconds


def leave_one_group_out(
    records: Sequence[R],
    fit: Callable[[Sequence[R]], Fitted[R]],
    *,
    min_group_size: int = 1,
    key: Callable[[R], str] = lambda r: "all",
    folds: Sequence[Fold] | None = None,
    jobs: int = 1,
) -> GroupEvaluation:
    """Fit on all groups but one fold, predict the fold; reports overall and per `key`.

    `folds` (from `group_folds`) fixes the splits, so that several models see the same ones.
    `jobs` > 1 runs folds in that many spawned processes: `fit` and the records must then
    pickle (a module-level function or `functools.partial`, not a lambda); `fit_seconds` stays
    the sum of the folds' fit times, not the wall time.
    """
    if any(r.target is None for r in records):
        raise ConfigError("a record has no target; allowed: every record measured")
    folds = tuple(folds) if folds is not None else group_folds(records, min_group_size)
    if len(folds) < 2:
        raise ConfigError(f"{len(folds)} fold(s); allowed: at least 2 groups to hold out")
    if jobs > 1:
        context = multiprocessing.get_context("spawn")  # fork would copy OpenMP/torch threads
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = [pool.submit(_fit_predict, records, fit, fold) for fold in folds]
            results = [f.result() for f in futures]
    else:
        results = [_fit_predict(records, fit, fold) for fold in folds]
    n = len(records)
    mean, std = np.full(n, np.nan), np.full(n, np.nan)
    fold_of = [""] * n
    seconds = 0.0
    for fold, (fold_mean, fold_std, fold_seconds) in zip(folds, results, strict=True):
        mean[list(fold.test)] = fold_mean
        std[list(fold.test)] = fold_std
        seconds += fold_seconds
        for i in fold.test:
            fold_of[i] = fold.name
    scored = np.array([f != "" for f in fold_of])
    if not scored.all():
        raise ConfigError(f"{int((~scored).sum())} records are in no fold; allowed: every one")
    y = np.array([float(r.target) for r in records])  # type: ignore[arg-type]
    keys = tuple(key(r) for r in records)
    by_key = {}
    for k in sorted(set(keys)):
        mask = np.array([kk == k for kk in keys])
        by_key[k] = regression_report(y[mask], mean[mask], std[mask])
    return GroupEvaluation(
        y=y,
        mean=mean,
        std=std,
        fold=tuple(fold_of),
        key=keys,
        overall=regression_report(y, mean, std),
        by_key=by_key,
        fit_seconds=seconds,
        folds=folds,
    )
