"""Cycling plots: real PyBaMM cycles become readable PNGs, and bad cycling data fails loudly."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pytest

from electroloop.kinds.cycling.plots import (
    CycleCurve,
    CycleSummary,
    capacity_fade_plot,
    cycles_to_plot,
    voltage_capacity_plot,
)

MAH_PER_AH = 1000.0
N_CYCLES = 3


@dataclass(frozen=True)
class Cycled:
    """Plain values extracted from one PyBaMM cycling run."""

    curves: tuple[CycleCurve, ...]
    summaries: tuple[CycleSummary, ...]
    nominal_capacity: float  # mAh


def _throughput(steps: list[Any]) -> tuple[float, ...]:
    """Charge passed since the start of `steps` [mAh]; consecutive steps form one curve."""
    q = np.concatenate([s["Discharge capacity [A.h]"].entries for s in steps])
    return tuple(float(x) for x in np.abs(q - q[0]) * MAH_PER_AH)


def _voltage(steps: list[Any]) -> tuple[float, ...]:
    return tuple(float(v) for v in np.concatenate([s["Voltage [V]"].entries for s in steps]))


@pytest.fixture(scope="module")
def cycled() -> Cycled:
    """Run PyBaMM once: SPM, Chen2020 (LG M50), 1C discharge then 1C CC-CV charge, 3 cycles.

    SPM is the fastest lithium-ion model that cycles this (~0.25 s after import; SPMe ~0.4 s).
    The CV hold to C/50 makes the charge complete, so each cycle's Coulombic efficiency is
    meaningful; a CC-only charge stops near 4.0 Ah and gives a spurious CE of ~1.25.
    """
    import pybamm  # the `cell` extra, which `make` installs: a missing PyBaMM fails, not skips

    parameter_values = pybamm.ParameterValues("Chen2020")
    experiment = pybamm.Experiment(
        [("Discharge at 1C until 2.5 V", "Charge at 1C until 4.2 V", "Hold at 4.2 V until C/50")]
        * N_CYCLES
    )
    solution = pybamm.Simulation(
        pybamm.lithium_ion.SPM(), parameter_values=parameter_values, experiment=experiment
    ).solve()
    curves: list[CycleCurve] = []
    summaries: list[CycleSummary] = []
    for index, pb_cycle in enumerate(solution.cycles):
        cycle = index + 1  # PyBaMM counts cycles from 0, cyclers from 1
        discharge, charge = [pb_cycle.steps[0]], list(pb_cycle.steps[1:])
        q_discharge, q_charge = _throughput(discharge), _throughput(charge)
        curves.append(CycleCurve(cycle, "discharge", q_discharge, _voltage(discharge)))
        curves.append(CycleCurve(cycle, "charge", q_charge, _voltage(charge)))
        summaries.append(CycleSummary(cycle, q_charge[-1], q_discharge[-1]))
    return Cycled(
        curves=tuple(curves),
        summaries=tuple(summaries),
        nominal_capacity=parameter_values["Nominal cell capacity [A.h]"] * MAH_PER_AH,
    )


def _assert_png(path: Path) -> None:
    image = matplotlib.image.imread(path)
    assert image.shape[0] >= 300 and image.shape[1] >= 400
    assert float(np.std(image)) > 0.01  # not a blank canvas


def test_pybamm_run_gives_every_cycle(cycled: Cycled) -> None:
    assert [s.cycle for s in cycled.summaries] == list(range(1, N_CYCLES + 1))
    assert len(cycled.curves) == 2 * N_CYCLES


def test_discharge_capacity_is_plausible_for_chen2020(cycled: Cycled) -> None:
    # Chen et al., J. Electrochem. Soc. 167, 080534 (2020): LG M50 21700 cell, nominal 5 Ah.
    # At 1C the cell delivers slightly less than nominal (polarisation); SPM gives ~4.96 Ah.
    # the parameter set's 5 Ah, in mAh: one multiplication, rounding only
    assert cycled.nominal_capacity == pytest.approx(5000.0, rel=1e-12, abs=0.0)
    for summary in cycled.summaries:
        assert 0.9 * cycled.nominal_capacity <= summary.discharge_capacity
        assert summary.discharge_capacity <= 1.01 * cycled.nominal_capacity


def test_coulombic_efficiency_is_physical(cycled: Cycled) -> None:
    for summary in cycled.summaries:
        assert 0.9 <= summary.coulombic_efficiency <= 1.05


def test_voltage_stays_within_chen2020_cutoffs(cycled: Cycled) -> None:
    # 1 mV slack: the solver overshoots 4.2 V by ~16 µV at the CC-to-CV switch.
    for curve in cycled.curves:
        assert 2.5 - 1e-3 <= min(curve.voltage) and max(curve.voltage) <= 4.2 + 1e-3


def test_voltage_capacity_plot_writes_png(cycled: Cycled, tmp_path: Path) -> None:
    path = tmp_path / "nested" / "vq.png"
    assert voltage_capacity_plot(cycled.curves, path, title="SPM Chen2020, 1C") == path
    _assert_png(path)


def test_voltage_capacity_plot_with_subset(cycled: Cycled, tmp_path: Path) -> None:
    path = voltage_capacity_plot(cycled.curves, tmp_path / "vq.png", title="subset", max_cycles=2)
    _assert_png(path)


@pytest.mark.parametrize("nominal", [None, "cell"])
def test_capacity_fade_plot_writes_png(cycled: Cycled, tmp_path: Path, nominal: str | None) -> None:
    path = tmp_path / "nested" / "fade.png"
    nominal_capacity = cycled.nominal_capacity if nominal else None
    out = capacity_fade_plot(
        cycled.summaries, path, title="SPM Chen2020, 1C", nominal_capacity=nominal_capacity
    )
    assert out == path
    _assert_png(path)


def test_curve_values_become_plain_float_tuples() -> None:
    curve = CycleCurve(1, "charge", np.array([0.0, 1.0]), [3.0, 4.0])  # type: ignore[arg-type]
    assert curve.capacity == (0.0, 1.0) and type(curve.capacity[0]) is float
    assert isinstance(curve.voltage, tuple)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"capacity": (0.0, 1.0, 2.0), "voltage": (3.0, 4.0)}, "equal lengths"),
        ({"capacity": (0.0,), "voltage": (3.0,)}, "capacity"),
        ({"cycle": 0}, "cycle"),
        ({"capacity": (0.0, math.nan)}, "capacity"),
        ({"voltage": (3.0, math.inf)}, "voltage"),
        ({"step": "rest"}, "step"),
    ],
)
def test_curve_rejects_bad_values(kwargs: dict[str, Any], field: str) -> None:
    values: dict[str, Any] = {
        "cycle": 1,
        "step": "discharge",
        "capacity": (0.0, 1.0),
        "voltage": (4.0, 3.0),
    }
    with pytest.raises(ValueError, match=field):
        CycleCurve(**(values | kwargs))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cycle": 0}, "cycle"),
        ({"charge_capacity": 0.0}, "charge_capacity"),
        ({"charge_capacity": math.nan}, "charge_capacity"),
        ({"discharge_capacity": -1.0}, "discharge_capacity"),
        ({"discharge_capacity": math.inf}, "discharge_capacity"),
    ],
)
def test_summary_rejects_bad_values(kwargs: dict[str, Any], field: str) -> None:
    values: dict[str, Any] = {"cycle": 1, "charge_capacity": 2.0, "discharge_capacity": 1.9}
    with pytest.raises(ValueError, match=field):
        CycleSummary(**(values | kwargs))


def test_summary_coulombic_efficiency() -> None:
    # 1.9 / 2.0: one division, rounding only
    assert CycleSummary(4, 2.0, 1.9).coulombic_efficiency == pytest.approx(0.95, rel=1e-12, abs=0.0)


def test_plots_reject_empty_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="curves"):
        voltage_capacity_plot([], tmp_path / "vq.png", title="empty")
    with pytest.raises(ValueError, match="summaries"):
        capacity_fade_plot([], tmp_path / "fade.png", title="empty")
    assert not list(tmp_path.iterdir())  # nothing written on failure


def test_plots_reject_duplicate_cycles(tmp_path: Path) -> None:
    curve = CycleCurve(2, "charge", (0.0, 1.0), (3.0, 4.0))
    with pytest.raises(ValueError, match=r"curves.*\(2, 'charge'\)"):
        voltage_capacity_plot([curve, curve], tmp_path / "vq.png", title="dup")
    summary = CycleSummary(2, 2.0, 1.9)
    with pytest.raises(ValueError, match=r"summaries.*\[2\]"):
        capacity_fade_plot([summary, summary], tmp_path / "fade.png", title="dup")


def test_fade_plot_rejects_bad_nominal_capacity(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nominal_capacity"):
        capacity_fade_plot(
            [CycleSummary(1, 2.0, 1.9)], tmp_path / "f.png", title="t", nominal_capacity=0.0
        )


@pytest.mark.parametrize(
    ("cycles", "max_cycles", "expected"),
    [
        (range(1, 4), 8, (1, 2, 3)),
        ([3, 1, 2, 2, 1], 8, (1, 2, 3)),  # charge and discharge share a cycle number
        (range(1, 11), 2, (1, 10)),
        (range(1, 11), 4, (1, 4, 7, 10)),
        (range(1, 101), 8, (1, 15, 29, 43, 57, 71, 85, 100)),
        ([1, 50, 500, 1000], 3, (1, 50, 1000)),
    ],
)
def test_cycles_to_plot(cycles: range | list[int], max_cycles: int, expected: tuple[int]) -> None:
    assert cycles_to_plot(cycles, max_cycles) == expected


def test_cycles_to_plot_keeps_first_and_last_and_count() -> None:
    for n in range(2, 60):
        for max_cycles in range(2, n + 1):
            chosen = cycles_to_plot(range(1, n + 1), max_cycles)
            assert chosen[0] == 1 and chosen[-1] == n
            assert len(chosen) == max_cycles == len(set(chosen))
            assert list(chosen) == sorted(chosen)


@pytest.mark.parametrize("max_cycles", [1, 0, -3])
def test_cycles_to_plot_rejects_too_few(max_cycles: int) -> None:
    with pytest.raises(ValueError, match="max_cycles"):
        cycles_to_plot([1, 2, 3], max_cycles)
