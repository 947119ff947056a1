"""A jelly roll wound into a fixed cylindrical can (a 4680), and its mass and volume.

Why: at cell level the can is fixed, so a thicker electrode means fewer windings, less current
collector and separator per gram of active material, and a different Wh/kg and Wh/L — the
trade-off of the cell-level case study of A. Kench et al., *Matter* 2024. This module turns
coating thicknesses into the roll's length, facing area, windings and a mass breakdown; the
electrochemistry is in `electroloop.simulations.electrode_cell`.

Geometry (one repeat unit of the roll, wound as an Archimedean spiral between the hollow core
and the can's inner wall, the method of batterydesign.net, "Cylindrical Cell Electrode
Estimation"): a double-side-coated cathode (2 L_p + Al foil), a separator, a double-side-coated
anode (2 L_n + Cu foil), a separator. The roll's length is the annulus area over the repeat
thickness; each length of roll carries two cathode–anode facings over the coated height.

The can: the 4680 format is 46 mm × 80 mm (Tesla Battery Day, 2020; S. Ank et al., "Lithium-Ion
Cells in Automotive Applications: Tesla 4680 Cylindrical Cell Teardown and Characterization",
*J. Electrochem. Soc.* 170 (2023) 120536, which weighs the cell at about 355 g). Its wall is
thicker than a 21700's: 0.5–0.6 mm of nickel-plated steel for the 4680 against 0.22–0.34 mm
(batterydesign.net, "Cylindrical Cell Electrode Estimation"; M. Baazouzi et al., "Design,
Properties, and Manufacturing of Cylindrical Li-Ion Battery Cells—A Generic Overview",
*Batteries* 9 (2023) 309). The coated height is about 85 % of the can height (68 mm), the
estimate batterydesign.net derives from the 4680 teardown; the rest is the tabless design's
folded foil edges, collector discs and cap. Assumptions of this project, stated as such: a
hollow core of 5 mm (the 4680 is wound without a solid mandrel), end plates as thick as the
wall, and 15 g of other hardware (collector discs, terminal, gasket, insulators: about 4 % of
the teardown mass).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from electroloop.errors import SimulationError

__all__ = [
    "AL_DENSITY",
    "AL_THICKNESS",
    "CAN_4680",
    "CBD_DENSITY",
    "CU_DENSITY",
    "CU_THICKNESS",
    "ELECTROLYTE_DENSITY",
    "GRAPHITE_DENSITY",
    "NEGATIVE_POROSITY",
    "NMC811_DENSITY",
    "SEPARATOR_DENSITY",
    "SEPARATOR_POROSITY",
    "SEPARATOR_THICKNESS",
    "Can",
    "CanError",
    "Stack",
    "wind",
]

NMC811_DENSITY = 4780.0
"""kg/m³: X-ray density of LiNi0.8Mn0.1Co0.1O2 (R-3m, Z = 3, M = 97.3 g/mol) from its typical
lattice parameters a = 2.872 Å, c = 14.20 Å (e.g. H.-J. Noh et al., *J. Power Sources* 233
(2013) 121); batterydesign.net uses 4.87 g/cm³."""
CBD_DENSITY = 1800.0
"""kg/m³: carbon-binder domain, between PVDF (1.78 g/cm³) and carbon black (1.8–2.0 g/cm³);
its own nanoporosity is not resolved (this project's simplification)."""
GRAPHITE_DENSITY = 2260.0
"""kg/m³: crystalline graphite; Chen2020's negative solid is all graphite (ε_s + ε = 1)."""
NEGATIVE_POROSITY = 0.25
"""Porosity of the graphite anode: Chen2020 (C.-H. Chen et al., *J. Electrochem. Soc.* 167
(2020) 080534), PyBaMM's "Negative electrode porosity"."""
AL_THICKNESS = 16e-6
"""m: the LG M50's aluminium foil (Chen2020, "Positive current collector thickness")."""
CU_THICKNESS = 12e-6
"""m: the LG M50's copper foil (Chen2020, "Negative current collector thickness")."""
AL_DENSITY = 2700.0
"""kg/m³ (Chen2020, "Positive current collector density")."""
CU_DENSITY = 8960.0
"""kg/m³ (Chen2020, "Negative current collector density")."""
SEPARATOR_THICKNESS = 12e-6
"""m (Chen2020, "Separator thickness")."""
SEPARATOR_POROSITY = 0.47
"""Chen2020, "Separator porosity"."""
SEPARATOR_DENSITY = 950.0
"""kg/m³: the polyethylene skeleton of a polyolefin separator (PE 0.94–0.96 g/cm³)."""
ELECTROLYTE_DENSITY = 1200.0
"""kg/m³: 1 mol/L LiPF6 in EC:EMC 3:7 at 25 °C (L. S. Kremer et al., *Batteries & Supercaps* 3
(2020) 1172; the value `electroloop.simulations.density` is calibrated to). The electrolyte
fills the pores of both electrodes and the separators, with no excess."""


class CanError(SimulationError):
    """A can or a jelly roll that cannot be built (it names the field and the allowed range)."""


@dataclass(frozen=True)
class Can:
    """A cylindrical can: outer `diameter` and `height` (m), `wall` thickness (m, also the end
    plates'), the roll's hollow `core_diameter` (m), the electrodes' `coated_height` (m), the
    steel's `density` (kg/m³) and the other `hardware_mass` (kg). See the module docstring."""

    diameter: float = 0.046
    height: float = 0.080
    wall: float = 0.0005
    core_diameter: float = 0.005
    coated_height: float = 0.068
    density: float = 7900.0
    hardware_mass: float = 0.015

    def __post_init__(self) -> None:
        checks = {
            "diameter": (self.diameter, 0.005, 0.2),
            "height": (self.height, 0.01, 0.5),
            "wall": (self.wall, 1e-5, 0.005),
            "core_diameter": (self.core_diameter, 0.0, 0.05),
            "coated_height": (self.coated_height, 0.005, 0.5),
            "density": (self.density, 1000.0, 20000.0),
            "hardware_mass": (self.hardware_mass, 0.0, 1.0),
        }
        for name, (value, low, high) in checks.items():
            if not (math.isfinite(value) and low <= value <= high):
                raise CanError(f"can {name} is {value!r}; allowed: {low}..{high} (SI units)")
        if self.core_diameter >= self.inner_diameter:
            raise CanError(
                f"can core_diameter is {self.core_diameter!r} m; allowed: < the inner "
                f"diameter {self.inner_diameter:.4g} m"
            )
        if self.coated_height > self.height - 2 * self.wall:
            raise CanError(
                f"can coated_height is {self.coated_height!r} m; allowed: <= height - 2 walls "
                f"= {self.height - 2 * self.wall:.4g} m"
            )

    @property
    def inner_diameter(self) -> float:
        """m: the roll's outer diameter."""
        return self.diameter - 2 * self.wall

    @property
    def volume(self) -> float:
        """m³: the can's outer volume, the denominator of Wh/L."""
        return math.pi / 4 * self.diameter**2 * self.height

    @property
    def mass(self) -> float:
        """kg: steel shell and two end plates, plus the other hardware."""
        shell = math.pi / 4 * (self.diameter**2 - self.inner_diameter**2) * self.height
        ends = 2 * math.pi / 4 * self.inner_diameter**2 * self.wall
        return self.density * (shell + ends) + self.hardware_mass


CAN_4680 = Can()
"""The 4680 can of the module docstring."""


@dataclass(frozen=True)
class Stack:
    """A wound cell: coating thicknesses per side (m), the repeat unit's thickness (m), the
    roll's `length` (m of double-coated cathode), its `windings`, the cathode–anode facing
    `area` (m², both sides), the mass of each part (kg) and the can's outer `volume` (m³)."""

    positive_thickness: float
    negative_thickness: float
    repeat_thickness: float
    length: float
    windings: float
    area: float
    masses: dict[str, float]
    volume: float

    @property
    def mass(self) -> float:
        """kg: the whole cell."""
        return sum(self.masses.values())


def wind(
    positive_thickness: float,
    negative_thickness: float,
    *,
    porosity: float,
    am_fraction: float,
    can: Can = CAN_4680,
) -> Stack:
    """Wind a cathode of `positive_thickness` (m per side; pore fraction `porosity`, AM volume
    fraction `am_fraction`, the rest carbon-binder) and an anode of `negative_thickness` into
    `can`. Thicker coatings → a thicker repeat unit → fewer windings and less foil and separator.
    """
    checks = {
        "positive_thickness": (positive_thickness, 5e-6, 500e-6),
        "negative_thickness": (negative_thickness, 5e-6, 600e-6),
        "porosity": (porosity, 0.0, 1.0),
        "am_fraction": (am_fraction, 0.0, 1.0),
    }
    for name, (value, low, high) in checks.items():
        if not (math.isfinite(value) and low <= value <= high):
            raise CanError(f"{name} is {value!r}; allowed: {low}..{high}")
    if porosity + am_fraction > 1.0 + 1e-12:
        raise CanError(
            f"porosity + am_fraction is {porosity + am_fraction:.4g}; allowed: <= 1 "
            "(the rest is carbon-binder)"
        )
    repeat = (
        2 * positive_thickness
        + AL_THICKNESS
        + 2 * negative_thickness
        + CU_THICKNESS
        + 2 * SEPARATOR_THICKNESS
    )
    gap = (can.inner_diameter - can.core_diameter) / 2
    if repeat > gap:
        raise CanError(
            f"one winding is {repeat * 1e6:.0f} µm thick; allowed: <= the {gap * 1e3:.3g} mm "
            "between the core and the can wall"
        )
    annulus = math.pi / 4 * (can.inner_diameter**2 - can.core_diameter**2)
    length = annulus / repeat
    height = can.coated_height
    area = 2 * length * height
    positive_volume = area * positive_thickness
    negative_volume = area * negative_thickness
    separator_volume = area * SEPARATOR_THICKNESS
    pores = (
        porosity * positive_volume
        + NEGATIVE_POROSITY * negative_volume
        + SEPARATOR_POROSITY * separator_volume
    )
    masses = {
        "positive active material": NMC811_DENSITY * am_fraction * positive_volume,
        "positive carbon-binder": CBD_DENSITY * (1 - porosity - am_fraction) * positive_volume,
        "negative active material": GRAPHITE_DENSITY * (1 - NEGATIVE_POROSITY) * negative_volume,
        "aluminium foil": AL_DENSITY * AL_THICKNESS * length * height,
        "copper foil": CU_DENSITY * CU_THICKNESS * length * height,
        "separator": SEPARATOR_DENSITY * (1 - SEPARATOR_POROSITY) * separator_volume,
        "electrolyte": ELECTROLYTE_DENSITY * pores,
        "can and hardware": can.mass,
    }
    return Stack(
        positive_thickness=positive_thickness,
        negative_thickness=negative_thickness,
        repeat_thickness=repeat,
        length=length,
        windings=gap / repeat,
        area=area,
        masses=masses,
        volume=can.volume,
    )
