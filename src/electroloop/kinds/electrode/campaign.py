"""An electrode campaign: the design of a positive electrode, scored by its physics twin.

`ElectrodeCampaign` adds to `CampaignSpec` the design box (porosity, active-material share of
the solid, how the carbon-binder domain clings to the particles, mass loading: each a range or a
fixed value), how each design's microstructure is drawn (`MicrostructureSettings`) and the
discharge each design is judged at (`DischargeCondition`: a constant power or a C-rate of the
whole 4680 cell). The case studies of A. Kench et al. (*Matter* 2024) are the example files
`examples/campaigns/electrode/case*.toml`.

Everything a file can get wrong is refused here, before any microstructure or solve: a box
corner that leaves a phase no room, a volume too small for its particles, a power no design in
the box can deliver (`kinds.electrode.limits`).
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from electroloop.kinds.electrode.limits import check_box
from electroloop.models import BoxSpace, FrozenModel, RangeParameter
from electroloop.orchestrator.campaign import CampaignSpec

METRICS = {
    "mah_per_g_am": "mAh/g",
    "wh_per_kg": "Wh/kg",
    "wh_per_l": "Wh/L",
}
"""Metric name -> unit: capacity per gram of cathode active material, and the whole cell's
gravimetric and volumetric energy, each at the campaign's discharge condition."""

DESIGN_BOUNDS = {
    "porosity": (0.15, 0.7, ""),
    "am_share": (0.5, 0.99, ""),
    "cbd_adhesion": (0.0, 1.0, ""),
    "mass_loading": (2.0, 60.0, "mg/cm²"),
}
"""Parameter -> (lowest, highest, unit) a design may take: the generator's validity
(`simulations.microstructure.ElectrodeDesign`) and, for the loading, 2–60 mg/cm² of NMC (thin
power electrodes to the thickest slurry-cast ones)."""


class DesignRanges(FrozenModel):
    """Each design parameter: a [low, high] range the planner searches, or one fixed value."""

    porosity: tuple[float, float] | float = Field(
        (0.25, 0.5), description="Pore volume fraction of the electrode."
    )
    am_share: tuple[float, float] | float = Field(
        (0.85, 0.97), description="Active material's share of the solid volume (the rest: CBD)."
    )
    cbd_adhesion: tuple[float, float] | float = Field(
        0.5, description="0: carbon-binder as free blobs .. 1: as a film on the particles."
    )
    mass_loading: tuple[float, float] | float = Field(
        20.0, description="Cathode active material per electrode area, mg/cm²."
    )

    @model_validator(mode="after")
    def _within_bounds(self) -> Self:
        for name, (low, high, unit) in DESIGN_BOUNDS.items():
            value = getattr(self, name)
            values = value if isinstance(value, tuple) else (value,)
            for v in values:
                if not low <= v <= high:
                    raise ValueError(f"{name} {v!r}; allowed: {low}..{high} {unit}".rstrip())
            if isinstance(value, tuple) and value[0] >= value[1]:
                raise ValueError(f"{name} range {list(value)}; allowed: low < high")
        return self

    def searched(self) -> dict[str, tuple[float, float]]:
        """The ranged parameters, by name."""
        return {n: v for n, v in self.model_dump().items() if isinstance(v, tuple | list)}

    def fixed(self) -> dict[str, float]:
        """The fixed parameters, by name."""
        return {
            n: float(v) for n, v in self.model_dump().items() if not isinstance(v, tuple | list)
        }

    def corners(self) -> list[dict[str, float]]:
        """Every corner of the box (fixed values held), for the checks before any solve."""
        corners: list[dict[str, float]] = [self.fixed()]
        for name, (low, high) in self.searched().items():
            corners = [{**c, name: v} for c in corners for v in (low, high)]
        return corners


class MicrostructureSettings(FrozenModel):
    """How each design's voxel volumes are drawn and measured (`simulations.microstructure`)."""

    size: int = Field(64, ge=16, le=256, description="Voxels per side of each cube.")
    voxel_size: float = Field(
        0.87,
        gt=0.0,
        le=10.0,
        description="Edge of a voxel, µm: with 6-voxel particles, 0.87 µm makes them Chen2020's "
        "5.22 µm NMC811 particles.",
    )
    particle_radius: int = Field(6, ge=2, le=20, description="AM particle radius, voxels.")
    realisations: int = Field(
        3,
        ge=2,
        le=1024,
        description="Cubes drawn per design; their spread is each value's standard error "
        "(`electroloop electrode converge` says how many a ±1 % mean needs).",
    )


class DischargeCondition(FrozenModel):
    """What each design's cell is judged at: a constant power (W) or a C-rate."""

    power_w: float | None = Field(None, gt=0.0, le=1e5, description="Constant power, W.")
    c_rate: float | None = Field(None, gt=0.0, le=20.0, description="Constant current, C.")

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.power_w is None) == (self.c_rate is None):
            raise ValueError("allowed: exactly one of power_w (W) or c_rate (C)")
        return self

    @property
    def label(self) -> str:
        return f"{self.power_w:g} W" if self.power_w is not None else f"{self.c_rate:g} C"


class CalibrationPlan(FrozenModel):
    """When the twin meets built cells: after `after` trials, cells of the best design so far
    are built and discharged at `c_rates` on the lab's cycler, the twin's uncertain parameters
    are refitted to their curves (`kinds.electrode.recalibration`), and every later trial is
    scored by the refitted twin (the fit is a `TwinCalibrated` event)."""

    after: int = Field(ge=1, le=10_000, description="Trials before the built cells are measured.")
    c_rates: tuple[float, ...] = Field(
        (0.2, 2.0),
        min_length=2,
        max_length=8,
        description="C-rates of the measured discharges, one cell each (at least two distinct: "
        "at one rate an ohmic drop and a diffusion loss look alike).",
    )

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if len(set(self.c_rates)) < 2:
            raise ValueError(f"c_rates {list(self.c_rates)}; allowed: at least two distinct")
        return self


class ElectrodeCampaign(CampaignSpec):
    """Search a positive electrode's design for the best cell it makes in a 4680 can."""

    METRICS = METRICS

    kind: Literal["electrode"] = Field(  # type: ignore[assignment]  # a narrower kind
        "electrode", description="Score electrode designs with the physics twin."
    )
    study: str = Field(
        "electrode-design",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$",
        max_length=100,
        description="MLflow experiment to record into.",
    )
    design: DesignRanges = Field(default_factory=DesignRanges)
    microstructure: MicrostructureSettings = Field(default_factory=MicrostructureSettings)
    discharge: DischargeCondition = Field(
        default_factory=lambda: DischargeCondition(power_w=10.0),
        description="The discharge every design is judged at.",
    )
    calibration: CalibrationPlan | None = Field(
        None, description="When to recalibrate the twin against built cells (none: never)."
    )
    ragone_powers: tuple[float, ...] = Field(
        (),
        max_length=12,
        description="Powers (W) at which the best designs' Ragone curves are drawn at the end.",
    )

    @model_validator(mode="after")
    def _designs_possible(self) -> Self:
        if not self.design.searched():
            raise ValueError("design: every parameter is fixed; allowed: at least one range")
        check_box(self.design.corners(), self.microstructure, self.discharge.power_w)
        if self.calibration is not None and self.calibration.after >= self.budget:
            raise ValueError(
                f"calibration.after {self.calibration.after}; allowed: < budget "
                f"({self.budget}), so that later trials use the recalibrated twin"
            )
        return self

    @property
    def space(self) -> BoxSpace:
        """The box the planner searches: the ranged design parameters."""
        return BoxSpace(
            parameters=tuple(
                RangeParameter(name=name, low=low, high=high, unit=DESIGN_BOUNDS[name][2])
                for name, (low, high) in self.design.searched().items()
            )
        )
