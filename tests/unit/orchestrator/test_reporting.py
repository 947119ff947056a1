"""Report plots are readable PNG files, and the Pareto plot highlights the true front."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from electroloop.orchestrator.reporting import (
    best_so_far,
    convergence_plot,
    front_points,
    pareto_plot,
    parity_plot,
)


def assert_png(path: Path, height: int, width: int) -> None:
    """The file is a PNG of the figure's size with something drawn on it."""
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (height, width)
    assert float(np.std(image[..., :3])) > 0.01


def brute_force_front(
    points: list[tuple[float, float]], maximize: tuple[bool, bool]
) -> list[tuple[float, float]]:
    """Points no other point beats, checked pair by pair in the original directions."""

    def at_least(a: float, b: float, larger: bool) -> bool:
        return a >= b if larger else a <= b

    def dominates(p: tuple[float, float], q: tuple[float, float]) -> bool:
        return all(at_least(p[i], q[i], maximize[i]) for i in range(2)) and p != q

    return sorted(q for q in points if not any(dominates(p, q) for p in points))


def test_best_so_far_follows_the_direction() -> None:
    values: list[float | None] = [2.0, 1.0, 3.0, 2.5]
    assert best_so_far(values, maximize=True) == [2.0, 2.0, 3.0, 3.0]
    assert best_so_far(values, maximize=False) == [2.0, 1.0, 1.0, 1.0]


def test_best_so_far_carries_the_best_over_failed_trials() -> None:
    assert best_so_far([None, 1.0, None, 0.5, 4.0, None]) == [None, 1.0, 1.0, 1.0, 4.0, 4.0]
    assert best_so_far([None, None], maximize=False) == [None, None]


def test_convergence_plot_writes_a_png(tmp_path: Path) -> None:
    path = tmp_path / "plots" / "convergence.png"
    written = convergence_plot(
        [None, 3.0, 2.0, 5.0], path, title="demo", ylabel="conductivity [mS/cm]", optimum=6.0
    )
    assert written == path
    assert_png(path, 480, 768)


@pytest.mark.parametrize(
    "maximize", [(True, True), (True, False), (False, True), (False, False)], ids=str
)
def test_front_points_are_the_non_dominated_subset(maximize: tuple[bool, bool]) -> None:
    rng = np.random.default_rng(sum(maximize) + 2 * maximize[0])
    # Coarse values give ties and copies.
    points = [(float(x), float(y)) for x, y in rng.integers(0, 8, size=(40, 2))]
    assert front_points(points, maximize) == brute_force_front(points, maximize)


def test_front_points_by_hand() -> None:
    points = [(1.0, 5.0), (2.0, 4.0), (2.0, 6.0), (3.0, 1.0), (0.5, 0.5)]
    assert front_points(points, (True, True)) == [(2.0, 6.0), (3.0, 1.0)]
    assert front_points(points, (True, False)) == [(0.5, 0.5), (3.0, 1.0)]
    assert front_points([], (True, True)) == []


def test_pareto_plot_writes_a_png_and_highlights_the_front(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures: list[Figure] = []
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figure to inspect
    rng = np.random.default_rng(7)
    points = [(float(x), float(y)) for x, y in rng.random((30, 2))]
    maximize = (True, False)
    path = tmp_path / "nested" / "pareto.png"
    written = pareto_plot(
        points,
        path,
        names=("conductivity", "viscosity"),
        units=("mS/cm", "mPa s"),
        maximize=maximize,
        reference=(0.0, 1.0),
        title="demo",
        infeasible=[(0.5, 0.5), (0.9, 0.1)],
    )
    assert written == path
    assert_png(path, 576, 768)
    (figure,) = figures
    try:
        (line,) = [ln for ln in figure.axes[0].get_lines() if ln.get_label() == "Pareto front"]
        corners = set(zip(line.get_xdata(), line.get_ydata(), strict=True))  # type: ignore[arg-type]
        front = brute_force_front(points, maximize)
        # The corners are the points' own coordinates (at most sign-flipped twice): copies.
        assert set(front) <= corners
        assert set(points) & corners == set(front)
    finally:
        plt.close(figure)


def test_pareto_plot_without_feasible_points_still_writes(tmp_path: Path) -> None:
    path = pareto_plot(
        [],
        tmp_path / "pareto.png",
        names=("a", "b"),
        units=("", ""),
        maximize=(True, True),
        title="nothing feasible",
        infeasible=[(1.0, 2.0)],
    )
    assert_png(path, 576, 768)


def test_parity_plot_writes_a_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    truth = rng.normal(10.0, 2.0, size=25)
    predicted = [(float(t + rng.normal(0.0, 0.5)), 0.5) for t in truth]
    path = tmp_path / "deep" / "parity.png"
    written = parity_plot(
        predicted, list(truth), path, name="conductivity", unit="mS/cm", title="demo"
    )
    assert written == path
    assert_png(path, 624, 624)


def test_parity_plot_without_predictions_says_so(tmp_path: Path) -> None:
    path = parity_plot([], [], tmp_path / "parity.png", name="x", unit="", title="empty")
    assert_png(path, 624, 624)


def test_parity_plot_rejects_mismatched_lengths(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="predicted has 2 entries but measured has 3"):
        parity_plot(
            [(1.0, 0.1), (2.0, 0.1)],
            [1.0, 2.0, 3.0],
            tmp_path / "parity.png",
            name="x",
            unit="",
            title="bad",
        )
    assert not (tmp_path / "parity.png").exists()


def test_parity_plot_rejects_negative_spread(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        parity_plot([(1.0, -0.1)], [1.0], tmp_path / "p.png", name="x", unit="", title="bad")
