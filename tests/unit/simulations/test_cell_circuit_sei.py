"""The cell's SEI multiplier: both fade laws scale with it, and VC/FEC reach it via `sei_rate`."""

from __future__ import annotations

import math

import pytest

from electroloop.errors import SimulationError
from electroloop.simulations.cell_circuit import (
    K_CALENDAR,
    K_CYCLE,
    CellSpec,
    EquivalentCircuitCell,
)
from electroloop.simulations.sei import sei_rate

Q = 0.005  # Ah, the default cell


def _cycled_fade(spec: CellSpec, cycles: int = 10) -> float:
    """Fade after `cycles` 1C CC charge/discharge cycles between 2.5 and 4.2 V (30 s steps)."""
    cell = EquivalentCircuitCell(spec, seed=3)
    for _ in range(cycles):
        while cell.terminal_voltage(Q) < 4.2:
            cell.step(Q, 30.0)
        while cell.terminal_voltage(-Q) > 2.5:
            cell.step(-Q, 30.0)
    return cell.fade


def test_default_multiplier_keeps_the_published_fade_laws() -> None:
    cell = EquivalentCircuitCell(CellSpec(initial_soc=0.5))
    assert cell.spec.sei_multiplier == 1.0  # the field's default, stored as given
    cell.step(Q, 3600.0)  # 1 h at 1C: 5 mAh of throughput, 0.5 equivalent full cycles
    calendar = K_CALENDAR * math.sqrt(3600.0 / 86400.0)
    cycling = K_CYCLE * 0.005 / (2.0 * cell.nominal_capacity)
    assert cell.fade == pytest.approx(calendar + cycling, rel=1e-12)


def test_multiplier_scales_calendar_and_cycle_fade_alike() -> None:
    idle = {m: EquivalentCircuitCell(CellSpec(sei_multiplier=m)) for m in (1.0, 0.5, 3.0)}
    for cell in idle.values():
        cell.step(0.0, 30 * 86400.0)  # a month on the shelf: calendar fade only
    assert idle[0.5].fade == pytest.approx(0.5 * idle[1.0].fade, rel=1e-9)
    assert idle[3.0].fade == pytest.approx(3.0 * idle[1.0].fade, rel=1e-9)
    base = EquivalentCircuitCell(CellSpec(initial_soc=0.5))
    half = EquivalentCircuitCell(CellSpec(initial_soc=0.5, sei_multiplier=0.5))
    for cell in (base, half):
        for _ in range(100):  # 1C pulses: calendar and throughput fade together
            cell.step(Q, 1.0)
            cell.step(-Q, 1.0)
    assert half.fade == pytest.approx(0.5 * base.fade, rel=1e-9)


def test_half_the_multiplier_loses_about_half_the_capacity_over_cycling() -> None:
    full = _cycled_fade(CellSpec())
    half = _cycled_fade(CellSpec(sei_multiplier=0.5))
    assert full > 5e-4  # ten 1C cycles over about 20 h: measurable fade
    assert half == pytest.approx(0.5 * full, rel=0.02)  # throughput differs a little


def test_fec_electrolyte_fades_slower_end_to_end() -> None:
    rate = sei_rate({"EC": 0.3, "EMC": 0.65, "FEC": 0.05})
    bare = sei_rate({"EC": 0.3, "EMC": 0.7})
    assert rate.multiplier < bare.multiplier
    baseline = _cycled_fade(CellSpec(sei_multiplier=bare.multiplier))
    with_fec = _cycled_fade(CellSpec(sei_multiplier=rate.multiplier))
    assert with_fec < baseline
    assert with_fec / baseline == pytest.approx(rate.multiplier / bare.multiplier, rel=0.02)


@pytest.mark.parametrize("value", [0.0, 0.049, 20.5, -1.0, math.nan, math.inf])
def test_out_of_range_multiplier_names_the_field_and_range(value: float) -> None:
    with pytest.raises(SimulationError, match=r"sei_multiplier.*allowed: 0\.05\.\.20"):
        CellSpec(sei_multiplier=value)


@pytest.mark.parametrize("value", [0.05, 20.0])
def test_multiplier_range_is_inclusive(value: float) -> None:
    assert CellSpec(sei_multiplier=value).sei_multiplier == value
