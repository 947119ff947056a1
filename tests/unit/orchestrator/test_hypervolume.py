"""Pareto masks and hypervolumes agree with hand calculations and with BoTorch's exact code."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from botorch.utils.multi_objective.hypervolume import Hypervolume
from botorch.utils.multi_objective.pareto import is_non_dominated

from electroloop.orchestrator.hypervolume import hypervolume, pareto_mask

HAND = 1e-12
"""Relative tolerance against a hand calculation: the boxes' sides are small binary fractions,
so the sweep's sums and products differ from the exact volume by their rounding only."""

NOTHING = 1e-12
"""Absolute tolerance for "adds no volume": the volumes here are of order 1, so anything above
rounding would be a box counted that should not be."""


def botorch_hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """BoTorch's exact hypervolume (maximising), given only the non-dominated points."""
    y = torch.tensor(points, dtype=torch.double)
    front = y[is_non_dominated(y)]
    return float(Hypervolume(torch.tensor(reference, dtype=torch.double)).compute(front))


def sphere_front(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    """`n x m` mutually non-dominated points on the positive unit sphere (the hard case)."""
    z = np.abs(rng.normal(size=(n, m)))
    unit: np.ndarray = z / np.linalg.norm(z, axis=1, keepdims=True)
    return unit


def test_pareto_mask_keeps_copies_and_drops_weakly_dominated() -> None:
    points = np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 2.0], [0.0, 1.0], [0.5, 0.5]])
    assert pareto_mask(points).tolist() == [True, True, True, False, False]


def test_pareto_mask_of_no_points_is_empty() -> None:
    assert pareto_mask(np.empty((0, 3))).shape == (0,)


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_pareto_mask_matches_botorch(m: int) -> None:
    rng = np.random.default_rng(m)
    # Coarse values give ties and exact copies, the cases where definitions differ.
    points = rng.integers(0, 5, size=(60, m)).astype(float)
    expected = is_non_dominated(torch.tensor(points, dtype=torch.double), deduplicate=False)
    assert pareto_mask(points).tolist() == expected.tolist()


def test_staircase_in_two_objectives() -> None:
    points = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    # Columns of width 1 and heights 3, 2, 1.
    assert hypervolume(points, np.zeros(2)) == pytest.approx(6.0, rel=HAND)
    assert hypervolume(points, np.array([1.0, 0.0])) == pytest.approx(3.0, rel=HAND)


def test_boxes_in_three_and_four_objectives() -> None:
    assert hypervolume(np.array([[1.0, 2.0, 3.0]]), np.zeros(3)) == pytest.approx(6.0, rel=HAND)
    overlapping = np.array([[2.0, 1.0, 1.0], [1.0, 2.0, 1.0]])
    assert hypervolume(overlapping, np.zeros(3)) == pytest.approx(2.0 + 2.0 - 1.0, rel=HAND)
    cube_and_slab = np.array([[1.0, 1.0, 1.0, 1.0], [2.0, 0.5, 0.5, 0.5]])
    assert hypervolume(cube_and_slab, np.zeros(4)) == pytest.approx(1.0 + 0.125, rel=HAND)


def test_one_objective_is_the_best_margin_over_the_reference() -> None:
    assert hypervolume(np.array([[3.0], [5.0], [4.0]]), np.array([1.0])) == pytest.approx(
        4.0, rel=HAND
    )


def test_points_not_strictly_beyond_the_reference_add_nothing() -> None:
    reference = np.array([1.0, 1.0])
    assert hypervolume(np.array([[1.0, 5.0], [5.0, 0.5]]), reference) == pytest.approx(
        0.0, abs=NOTHING
    )
    assert hypervolume(np.array([[1.0, 5.0], [2.0, 3.0]]), reference) == pytest.approx(
        2.0, rel=HAND
    )


def test_no_points_give_zero() -> None:
    assert hypervolume(np.empty((0, 3)), np.zeros(3)) == pytest.approx(0.0, abs=NOTHING)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_invariant_to_order_and_to_dominated_points(m: int) -> None:
    rng = np.random.default_rng(10 + m)
    points = rng.random((40, m))
    reference = np.full(m, 0.05)
    base = hypervolume(points, reference)
    # Same volume, summed in another order (and with boxes that add nothing): rounding only.
    assert hypervolume(points[rng.permutation(40)], reference) == pytest.approx(base, rel=1e-12)
    dominated = points[rng.integers(0, 40, size=15)] * rng.uniform(0.2, 1.0, size=(15, m))
    padded = np.vstack((points, dominated, points[:5]))
    assert hypervolume(padded, reference) == pytest.approx(base, rel=1e-12)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_adding_a_point_never_lowers_the_hypervolume(m: int) -> None:
    rng = np.random.default_rng(20 + m)
    points = rng.random((30, m))
    reference = np.zeros(m)
    values = [hypervolume(points[:k], reference) for k in range(31)]
    # Summation order changes with each point, so allow for rounding.
    assert all(b >= a - 1e-12 for a, b in zip(values, values[1:], strict=False))
    assert values[0] == pytest.approx(0.0, abs=NOTHING) and values[-1] > values[0]


@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize("n", [1, 7, 80])
def test_random_sets_match_botorch(m: int, n: int) -> None:
    rng = np.random.default_rng(100 * m + n)
    points = rng.normal(size=(n, m))
    reference = np.full(m, -1.0)
    expected = botorch_hypervolume(points, reference)
    # Another exact algorithm: the two differ by the rounding of their own sums of many boxes
    # (abs for a front that barely clears the reference and has a volume near 0).
    assert hypervolume(points, reference) == pytest.approx(expected, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_tied_coordinates_match_botorch(m: int) -> None:
    rng = np.random.default_rng(30 + m)
    points = rng.integers(1, 6, size=(50, m)).astype(float)
    reference = np.zeros(m)
    expected = botorch_hypervolume(points, reference)
    # Integer coordinates: every box is exact, both algorithms only round their sums.
    assert hypervolume(points, reference) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("m", [3, 4])
def test_whole_fronts_match_botorch(m: int) -> None:
    points = sphere_front(np.random.default_rng(m), 100, m)
    reference = np.zeros(m)
    expected = botorch_hypervolume(points, reference)
    # Another exact algorithm over ~100 boxes per slice: their rounding differs, nothing else.
    assert hypervolume(points, reference) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(
    "points",
    [np.zeros(3), np.zeros((2, 2, 2)), np.zeros((4, 0))],
    ids=["1-D", "3-D", "no objectives"],
)
def test_bad_point_shapes_are_rejected(points: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"points must be an n x m array"):
        hypervolume(points, np.zeros(2))
    with pytest.raises(ValueError, match=r"points must be an n x m array"):
        pareto_mask(points)


@pytest.mark.parametrize("reference", [np.zeros(3), np.zeros((1, 2)), np.float64(0.0)])
def test_bad_reference_shapes_are_rejected(reference: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"reference must have shape \(2,\)"):
        hypervolume(np.ones((3, 2)), reference)


def test_non_finite_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="points must be finite"):
        hypervolume(np.array([[1.0, np.nan]]), np.zeros(2))
    with pytest.raises(ValueError, match="reference must be finite"):
        hypervolume(np.ones((1, 2)), np.array([0.0, np.inf]))
