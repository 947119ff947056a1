"""A cycling campaign: an electrolyte campaign whose formulations also fill cells that cycle.

`CyclingCampaign` is an `ElectrolyteCampaign` with a `[cycling]` table (`CyclingSpec`) and the
metrics a cell's test produces (`cell_metrics.cell_values`).
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from electroloop.kinds.cycling.spec import CyclingSpec
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign
from electroloop.kinds.electrolyte.metrics import METRICS as ELECTROLYTE_METRICS
from electroloop.kinds.electrolyte.safety import voltage_hazards
from electroloop.orchestrator.campaign import CampaignSpec
from electroloop.orchestrator.safety import Hazard

CELL_METRICS = {
    "retention": "fraction",
    "rate_ratio": "fraction",
    "coulombic_efficiency": "fraction",
    "discharge_capacity": "mAh",
}
"""Metric name -> unit of a cell's cycling test (`kinds.cycling.cell_metrics`)."""


class CyclingCampaign(ElectrolyteCampaign):
    """Dose and measure each formulation, then build a cell from it and cycle it."""

    METRICS = {**ELECTROLYTE_METRICS, **CELL_METRICS}

    kind: Literal["cycling"] = Field(  # type: ignore[assignment]  # a narrower kind
        "cycling", description="Build a cell from each formulation and cycle it."
    )
    cycling: CyclingSpec = Field(
        description="What each cell goes through: formation, rate test, cycling, stop rule."
    )

    def hazards(self) -> list[Hazard]:
        """The formulations' hazards, and charging their cells beyond a solvent's window."""
        window = self.cycling.window
        cells = voltage_hazards(self.space, window.max_voltage, self.cycling.chemistry)
        return [*super().hazards(), *cells]

    def unknown_metrics(self, names: list[str]) -> str:
        return CampaignSpec.unknown_metrics(self, names)  # no "add a [cycling] table" hint

    @model_validator(mode="after")
    def _cells_can_take_it(self) -> Self:
        window = self.cycling.window
        if self.temperature > window.max_temperature:
            raise ValueError(
                f"temperature {self.temperature} °C; allowed: <= "
                f"{window.max_temperature} °C for {self.cycling.chemistry} cells"
            )
        if self.pipeline:
            raise ValueError(
                "pipeline: a cycling campaign proposes as channels free up; "
                "allowed: pipeline = false"
            )
        return self
