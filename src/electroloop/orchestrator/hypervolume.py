"""Pareto fronts and the dominated hypervolume, in plain numpy.

Multi-objective campaigns log the dominated hypervolume after each trial, so that two
campaigns (or two planners) compare with one number per step, as a single-objective campaign
compares with its best-so-far value. The orchestrator and the reports need this without
importing torch, so the exact algorithms live here; the tests check them against BoTorch's
`Hypervolume` and `is_non_dominated`.

Every objective is maximised: flip the sign of a minimised objective (and of its reference
coordinate) before calling.

The hypervolume uses "hypervolume by slicing objectives" (HSO): While, Hingston, Barone and
Huband, "A faster algorithm for calculating hypervolume", IEEE Transactions on Evolutionary
Computation 10(1):29-38, 2006. The last objective is cut into slabs at the points' values; each
slab's volume is its depth times the (m-1)-dimensional hypervolume of the points above it. Two
objectives use the usual sweep, and three compute all the slabs' areas at once on a grid, so a
few hundred points in up to four objectives take tens of milliseconds. The cost grows about as
n**(m-1): five or more objectives work but slow down quickly.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["hypervolume", "pareto_mask"]

# Pairwise dominance is checked in row blocks so memory stays near this many booleans.
_PAIRWISE_BUDGET = 4_000_000


def _as_points(points: npt.ArrayLike, name: str = "points") -> npt.NDArray[np.float64]:
    """Validate an `n x m` array of finite objective values (m >= 1) and return it as float."""
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] < 1:
        raise ValueError(
            f"{name} must be an n x m array with m >= 1 objectives, got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return array


def pareto_mask(points: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Return the `n`-long boolean mask of the non-dominated rows of `n x m` `points`.

    All objectives are maximised. A row is dominated when another row is at least as good in
    every objective and strictly better in one, so weakly dominated rows are dropped. Exact
    duplicates do not dominate each other: every copy of a non-dominated row is kept (this is
    BoTorch's `is_non_dominated(..., deduplicate=False)`), so the mask does not depend on the
    order of the rows.
    """
    y = _as_points(points)
    n, m = y.shape
    dominated = np.zeros(n, dtype=bool)
    block = max(1, _PAIRWISE_BUDGET // max(1, n * m))
    for start in range(0, n, block):
        rows = y[start : start + block, None, :]  # `b x 1 x m`
        at_least = (y[None, :, :] >= rows).all(axis=-1)  # `b x n`: row j is >= row i everywhere
        better = (y[None, :, :] > rows).any(axis=-1)  # `b x n`: row j beats row i somewhere
        dominated[start : start + block] = (at_least & better).any(axis=-1)
    return ~dominated


def hypervolume(points: npt.ArrayLike, reference: npt.ArrayLike) -> float:
    """Return the volume dominated by `n x m` `points` and bounded below by `reference`.

    All objectives are maximised; `reference` has length `m` and is the worst acceptable
    outcome. Points that are not strictly better than the reference in every objective add
    nothing, and no points gives 0.0. Dominated points may be passed; they add nothing either.
    """
    y = _as_points(points)
    ref = np.asarray(reference, dtype=np.float64)
    if ref.shape != (y.shape[1],):
        raise ValueError(
            f"reference must have shape ({y.shape[1]},) to match points of shape {y.shape}, "
            f"got shape {ref.shape}"
        )
    if not np.all(np.isfinite(ref)):
        raise ValueError("reference must be finite (no NaN or inf)")
    # Measure from the reference so it sits at the origin; only the positive orthant counts.
    y = y[(y > ref).all(axis=1)] - ref
    if y.shape[0] == 0:
        return 0.0
    return float(_hso(y))


def _hso(y: npt.NDArray[np.float64]) -> float:
    """Hypervolume of `n x m` points, all strictly positive, w.r.t. the origin (HSO)."""
    m = y.shape[1]
    if m == 1:
        return float(y[:, 0].max())
    if m == 2:
        return _sweep_2d(y)
    if m == 3:
        return _slices_3d(y)
    # Slice the last objective from the top: the slab between the k-th and (k+1)-th largest
    # values is covered exactly by the k highest points projected onto the other objectives.
    # Those projections grow by one point per slab, so their front is kept incrementally.
    y = y[np.argsort(-y[:, -1], kind="stable")]
    depths = y[:, -1] - np.append(y[1:, -1], 0.0)
    front = np.empty((0, m - 1))
    total = 0.0
    for point, depth in zip(y[:, :-1], depths, strict=True):
        if not (front >= point).all(axis=1).any():  # a copy or a dominated point adds nothing
            front = np.vstack((front[~(point >= front).all(axis=1)], point))
        if depth > 0.0:
            total += depth * _hso(front)
    return total


def _sweep_2d(y: npt.NDArray[np.float64]) -> float:
    """Area dominated by `n x 2` positive points: sweep down the first objective.

    Each point, taken in decreasing first objective, adds the band between the highest second
    objective seen so far and its own, as wide as its first objective.
    """
    y = y[np.argsort(-y[:, 0], kind="stable")]
    seen = np.maximum.accumulate(y[:, 1])
    below = np.concatenate(([0.0], seen[:-1]))
    return float(np.sum(y[:, 0] * np.clip(y[:, 1] - below, 0.0, None)))


def _slices_3d(y: npt.NDArray[np.float64]) -> float:
    """Volume dominated by `n x 3` positive points: HSO on the third objective, vectorised.

    Sorting by decreasing third objective, slab k (between the k-th and (k+1)-th values) has
    the area covered by the first k points in the first two objectives. Those areas come at
    once from an `nx x ny` grid over the distinct coordinates: cell (a, b) is first covered by
    the lowest-indexed point whose ranks are at least (a, b), a 2-D suffix minimum.
    """
    n = y.shape[0]
    y = y[np.argsort(-y[:, 2], kind="stable")]
    xs, rank_x = np.unique(y[:, 0], return_inverse=True)
    ys, rank_y = np.unique(y[:, 1], return_inverse=True)
    first = np.full((xs.size, ys.size), n, dtype=np.intp)  # n means "never covered"
    np.minimum.at(first, (rank_x, rank_y), np.arange(n))
    first = np.minimum.accumulate(first[::-1, :], axis=0)[::-1, :]
    first = np.minimum.accumulate(first[:, ::-1], axis=1)[:, ::-1]
    cell = np.outer(np.diff(xs, prepend=0.0), np.diff(ys, prepend=0.0))  # `nx x ny`
    gained = np.bincount(first.ravel(), weights=cell.ravel(), minlength=n + 1)[:n]
    areas = np.cumsum(gained)  # `n`: area covered by the first k + 1 points
    depths = y[:, 2] - np.append(y[1:, 2], 0.0)
    return float(np.dot(depths, areas))
