"""What an electrode campaign is refused for before any microstructure is drawn or cell solved.

Four named errors, each also a `ValueError` so that a campaign file's validation lists them
with its other problems (`orchestrator.campaign.validate_spec`):

- `NoRoomForPhase`: a corner of the design box leaves the pore, the active material (AM) or
  the carbon-binder domain (CBD) less than `MIN_PHASE_FRACTION` of the volume;
- `VolumeTooSmall`: a cube narrower than `MIN_DIAMETERS_ACROSS` particle diameters;
- `OutsideTwin`: a corner the cell model does not cover (an electrode too thick or too thin
  for its loading, `electrode_cell.ElectrodeProperties`);
- `PowerBeyondDesigns` (a `simulations.electrode_cell.PowerNotDeliverable`): a power above
  what the most capable corner of the box could deliver by `electrode_cell.max_power`, judged
  on optimistic estimates of its microstructure (`optimistic_properties`), so no design inside
  could either.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from electroloop.errors import ConfigError
from electroloop.simulations.electrode_cell import PowerNotDeliverable

if TYPE_CHECKING:
    from electroloop.kinds.electrode.campaign import MicrostructureSettings
    from electroloop.simulations.electrode_cell import ElectrodeProperties

MIN_PHASE_FRACTION = 0.005
"""Least volume fraction of each phase: 0.5 % of a 64³ cube is about 1,300 voxels, a few
particle surfaces' worth of CBD; below it the voxel volume no longer resolves the phase."""
MIN_DIAMETERS_ACROSS = 4
"""Least particle diameters across a cube. Representative volumes of electrodes span several
particle diameters (F. L. E. Usseglio-Viretta et al., *J. Electrochem. Soc.* 165 (2018) A3403);
`electroloop electrode converge` says how many a material needs for ±1 %."""
CBD_CONDUCTIVITY = 100.0
"""S/m, as `simulations.microstructure.measure` assumes for the carbon-binder domain."""


class NoRoomForPhase(ConfigError, ValueError):
    """A design leaves one of the three phases (almost) no volume."""


class VolumeTooSmall(ConfigError, ValueError):
    """The voxel cube is too small for the particles it must hold."""


class OutsideTwin(ConfigError, ValueError):
    """A corner of the box makes an electrode the cell model does not cover (e.g. too thick)."""


class PowerBeyondDesigns(PowerNotDeliverable, ValueError):
    """No design in the campaign's box could deliver the campaign's power."""


def phase_fractions(porosity: float, am_share: float) -> dict[str, float]:
    """Volume fractions of pore, AM and CBD for a design."""
    solid = 1.0 - porosity
    return {"pore": porosity, "am": solid * am_share, "cbd": solid * (1.0 - am_share)}


def check_phases(corners: Sequence[Mapping[str, float]]) -> None:
    """`NoRoomForPhase` naming the corner and the phase, if one leaves a phase no room."""
    for corner in corners:
        for phase, fraction in phase_fractions(corner["porosity"], corner["am_share"]).items():
            if fraction < MIN_PHASE_FRACTION:
                raise NoRoomForPhase(
                    f"design: porosity {corner['porosity']:g} with am_share "
                    f"{corner['am_share']:g} leaves the {phase} {fraction:.4f} of the volume; "
                    f"allowed: every phase >= {MIN_PHASE_FRACTION} (lower am_share or porosity)"
                )


def check_volume(size: int, particle_radius: int) -> None:
    """`VolumeTooSmall` if a `size`-voxel cube holds fewer than `MIN_DIAMETERS_ACROSS`
    particles of `particle_radius` voxels across."""
    least = MIN_DIAMETERS_ACROSS * 2 * particle_radius
    if size < least:
        raise VolumeTooSmall(
            f"microstructure.size {size} voxels holds {size / (2 * particle_radius):.1f} "
            f"particle diameters across; allowed: size >= {least} for particle_radius "
            f"{particle_radius} ({MIN_DIAMETERS_ACROSS} diameters)"
        )


def optimistic_properties(
    corner: Mapping[str, float], particle_radius_um: float
) -> ElectrodeProperties:
    """A corner's electrode as no drawn microstructure could beat: Bruggeman's tortuosity
    ε^-0.5 (a lower bound for real electrodes; B. Tjaden et al., *Curr. Opin. Chem. Eng.* 12
    (2016) 44), the whole AM surface of separate spheres 3 ε_AM / r, and the solid's
    conductivity as if all of it were CBD."""
    from electroloop.simulations.electrode_cell import ElectrodeProperties, ElectrodePropertyError

    fractions = phase_fractions(corner["porosity"], corner["am_share"])
    try:
        return ElectrodeProperties(
            porosity=fractions["pore"],
            am_fraction=fractions["am"],
            tortuosity=fractions["pore"] ** -0.5,
            surface_area=3.0 * fractions["am"] / (particle_radius_um * 1e-6),
            conductivity=CBD_CONDUCTIVITY * (1.0 - fractions["pore"]),
            mass_loading=corner["mass_loading"],
            particle_radius=particle_radius_um * 1e-6,
        )
    except ElectrodePropertyError as exc:
        shown = ", ".join(f"{k} {v:g}" for k, v in corner.items())
        raise OutsideTwin(f"design corner ({shown}): {exc}") from None


def check_power(
    corners: Sequence[Mapping[str, float]], particle_radius_um: float, power_w: float
) -> None:
    """`PowerNotDeliverable` if `power_w` exceeds every corner's optimistic maximum power."""
    best = max(_max_power(optimistic_properties(c, particle_radius_um)) for c in corners)
    if power_w > best:
        raise PowerBeyondDesigns(
            f"discharge.power_w {power_w:g} W; allowed: <= {best:.0f} W, the most any design "
            "in the box could deliver from this 4680 cell (lower the power or allow thinner, "
            "more porous electrodes)"
        )


@functools.lru_cache(maxsize=256)
def _max_power(props: ElectrodeProperties) -> float:
    """`electrode_cell.max_power`, once per corner: a campaign is validated again whenever it is
    read (form, flow, resume), and each bound builds a PyBaMM parameter set."""
    from electroloop.simulations.electrode_cell import max_power

    return max_power(props)


def check_box(
    corners: Sequence[Mapping[str, float]],
    microstructure: MicrostructureSettings,
    power_w: float | None,
) -> None:
    """Every check above, for a campaign's design box (no microstructure, no solve)."""
    check_phases(corners)
    check_volume(microstructure.size, microstructure.particle_radius)
    radius_um = microstructure.particle_radius * microstructure.voxel_size
    for corner in corners:
        optimistic_properties(corner, radius_um)  # OutsideTwin for an electrode it cannot run
    if power_w is not None:
        check_power(corners, radius_um, power_w)
