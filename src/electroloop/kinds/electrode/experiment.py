"""The electrode kind's trial: a proposed design scored by the twin (`evaluation.evaluate`).

Nothing moves in this kind: a trial draws the design's cubes, measures them and discharges the
4680 cell they make. Its outcome is each metric's mean over the cubes with its standard error
(told to the planner as noise), and its artifacts are the middle slice of its first cube
(`<trial>.slice.png`) and every cube's metrics and cell properties (`<trial>.metrics.json`).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from electroloop.errors import SimulationError
from electroloop.kinds.electrode.campaign import ElectrodeCampaign
from electroloop.kinds.electrode.evaluation import (
    ContentCache,
    Evaluation,
    electrode_design,
    evaluate,
    middle_slice,
)
from electroloop.models import Candidate, Design, DesignPoint
from electroloop.orchestrator.experiment import Outcome, TrialFailed

if TYPE_CHECKING:
    from electroloop.orchestrator.closed_loop import Campaign

PHASE_COLOURS = ("#f2f2f2", "#35608d", "#e07b39")
"""Pore, active material, carbon-binder domain in the slice pictures."""


class ElectrodeTwinExperiment:
    """Score each candidate electrode with the twin; results cached by content in `cache`."""

    def __init__(
        self, spec: ElectrodeCampaign, cache: ContentCache, artifacts: Path | None = None
    ) -> None:
        self.spec = spec
        self.cache = cache
        self.artifacts = artifacts

    def check(self, design: Design) -> None:
        """ValueError naming the field if `design` lies outside the campaign's box."""
        self.spec.space.check(design)

    def full_design(self, design: Design) -> dict[str, float]:
        """The design's searched values with the campaign's fixed ones."""
        assert isinstance(design, DesignPoint)
        return {**self.spec.design.fixed(), **design.values}

    def run(self, candidate: Candidate, campaign: Campaign) -> Outcome:
        """The twin's metrics of the candidate, with the parameters of the campaign's last
        recalibration (`TwinCalibrated`) if it had one; `TrialFailed` if a solver gives up."""
        values = self.full_design(candidate.design)
        calibrations = campaign.state.calibrations if campaign is not None else []
        overrides = calibrations[-1].overrides if calibrations else None
        try:
            result = evaluate(
                values,
                self.spec.microstructure,
                self.spec.discharge,
                self.spec.seed,
                self.cache,
                overrides,
            )
        except SimulationError as exc:
            raise TrialFailed(f"twin: {exc}") from exc
        return Outcome(
            values=result.values,
            errors=result.errors,
            artifacts=self._write(candidate.id, values, result),
        )

    def _write(self, trial: str, values: dict[str, float], result: Evaluation) -> list[Path]:
        if self.artifacts is None:
            return []
        self.artifacts.mkdir(parents=True, exist_ok=True)
        metrics = self.artifacts / f"{trial}.metrics.json"
        metrics.write_text(
            json.dumps(
                {
                    "design": values,
                    "condition": self.spec.discharge.model_dump(),
                    "values": result.values,
                    "standard_errors": result.errors,
                    "cubes": [asdict(c) for c in result.cubes],
                    "properties": [asdict(p) for p in result.properties],
                },
                indent=2,
            ),
            "utf-8",
        )
        picture = self.artifacts / f"{trial}.slice.png"
        save_slice(
            middle_slice(
                electrode_design(values, self.spec.microstructure),
                self.spec.microstructure,
                self.spec.seed,
            ),
            picture,
            f"{trial}: " + ", ".join(f"{k} {v:.3g}" for k, v in values.items()),
        )
        return [metrics, picture]


def save_slice(labels: object, path: Path, title: str) -> None:
    """A slice of phase labels as a PNG: pore light, AM blue, CBD orange."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    figure, axes = plt.subplots(figsize=(4, 4.3))
    axes.imshow(labels, cmap=ListedColormap(PHASE_COLOURS), vmin=0, vmax=2, interpolation="none")
    axes.set_title(title, fontsize=7)
    axes.set_axis_off()
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
