"""The jelly roll in a 4680 can: windings follow the coating thickness; masses and volume."""

from __future__ import annotations

import math

import pytest

from electroloop.simulations.cell_stack import CAN_4680, Can, CanError, wind

CHEN = {"porosity": 0.335, "am_fraction": 0.665}
"""Chen2020's positive electrode (no carbon-binder)."""


def test_the_4680_can_has_the_published_outer_volume_and_a_steel_mass_of_tens_of_grams() -> None:
    # 46 mm × 80 mm: π/4 · 4.6² · 8.0 cm³ = 132.9 cm³.
    assert CAN_4680.volume * 1e6 == pytest.approx(132.95, abs=0.05)
    assert 0.045 < CAN_4680.mass < 0.09  # 0.5 mm steel + 15 g hardware, of a 355 g cell
    assert CAN_4680.inner_diameter == pytest.approx(0.045, abs=1e-9)


def test_a_chen2020_roll_resembles_the_4680_teardown() -> None:
    """Chen2020's 75.6 µm cathode and an N/P-balanced 83 µm anode: the teardown cell weighs about
    355 g (Ank et al. 2023) and batterydesign.net estimates 3.3–3.5 m of cathode; ours is a
    little longer (thinner foils and no excess electrolyte), within ±25 %."""
    stack = wind(75.6e-6, 82.9e-6, can=CAN_4680, **CHEN)
    assert 3.0 < stack.length < 5.0
    assert 0.30 < stack.mass < 0.42
    assert stack.area == pytest.approx(2 * stack.length * CAN_4680.coated_height, rel=1e-12)
    # The spiral fills the annulus between core and wall.
    annulus = math.pi / 4 * (CAN_4680.inner_diameter**2 - CAN_4680.core_diameter**2)
    assert stack.length * stack.repeat_thickness == pytest.approx(annulus, rel=1e-9)


def test_thicker_electrodes_wind_fewer_turns_with_less_foil_and_separator() -> None:
    thin = wind(40e-6, 44e-6, **CHEN)
    thick = wind(120e-6, 132e-6, **CHEN)
    assert thick.windings < 0.5 * thin.windings
    for part in ("aluminium foil", "copper foil", "separator"):
        assert thick.masses[part] < 0.5 * thin.masses[part]
    # More of the can is then active material.
    thin_share, thick_share = (s.masses["positive active material"] / s.mass for s in (thin, thick))
    assert thick_share > thin_share + 0.02


def test_carbon_binder_takes_the_solid_that_is_not_active_material() -> None:
    pure = wind(75e-6, 80e-6, porosity=0.3, am_fraction=0.7)
    mixed = wind(75e-6, 80e-6, porosity=0.3, am_fraction=0.6)
    assert pure.masses["positive carbon-binder"] == pytest.approx(0.0, abs=1e-12)
    assert mixed.masses["positive carbon-binder"] > 0.0
    assert mixed.masses["positive active material"] < pure.masses["positive active material"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (
            {"positive_thickness": 75e-6, "porosity": 0.5, "am_fraction": 0.6},
            r"porosity \+ am_fraction",
        ),
        ({"positive_thickness": 1e-6, "porosity": 0.3, "am_fraction": 0.6}, "positive_thickness"),
        ({"positive_thickness": 75e-6, "porosity": -0.1, "am_fraction": 0.6}, "porosity"),
    ],
)
def test_a_stack_that_cannot_exist_is_refused_with_its_field(kwargs: dict, field: str) -> None:
    with pytest.raises(CanError, match=field):
        wind(negative_thickness=80e-6, **kwargs)


def test_a_winding_thicker_than_the_room_in_the_can_is_refused() -> None:
    small = Can(diameter=0.006, height=0.02, core_diameter=0.004, coated_height=0.015)
    with pytest.raises(CanError, match="between the core and the can wall"):
        wind(400e-6, 500e-6, porosity=0.3, am_fraction=0.6, can=small)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"coated_height": 0.0795}, "coated_height"),
        ({"core_diameter": 0.046}, "core_diameter"),
        ({"wall": -0.001}, "wall"),
    ],
)
def test_a_can_that_cannot_be_built_is_refused_with_its_field(kwargs: dict, field: str) -> None:
    with pytest.raises(CanError, match=field):
        Can(**kwargs)
