"""Ragone curves: where an energy design's and a power design's curves cross."""

from __future__ import annotations

from pathlib import Path

import pytest

from electroloop.kinds.electrode.ragone import RagoneCurve, crossover, plot_ragone

POWERS = [10.0, 100.0, 1000.0]


def curve(label: str, wh_per_l: list[float]) -> RagoneCurve:
    return RagoneCurve(label, {}, POWERS, [v / 3 for v in wh_per_l], wh_per_l)


def test_the_crossover_is_interpolated_in_log_power_between_the_bracketing_powers() -> None:
    energy = curve("energy", [800.0, 500.0, 10.0])
    power = curve("power", [600.0, 600.0, 200.0])
    # gap +200 at 10 W, -100 at 100 W: two thirds of the way in log power
    assert crossover(energy, power) == pytest.approx(10 ** (1 + 2 / 3), rel=1e-9)
    assert crossover(energy, power, "wh_per_kg") == pytest.approx(10 ** (1 + 2 / 3), rel=1e-9)
    assert crossover(energy, curve("lower", [100.0, 50.0, 1.0])) is None
    with pytest.raises(ValueError, match="different powers"):
        crossover(energy, RagoneCurve("x", {}, [1.0, 2.0, 3.0], [1, 1, 1], [1, 1, 1]))


def test_a_design_that_delivers_nothing_at_some_power_still_plots(tmp_path: Path) -> None:
    path = plot_ragone(
        [curve("energy", [800.0, 500.0, 0.0]), curve("power", [600.0, 600.0, 200.0])],
        tmp_path / "ragone.png",
    )
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert path.stat().st_size > 1000  # two axes drawn, not an empty figure
