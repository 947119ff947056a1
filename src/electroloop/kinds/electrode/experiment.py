"""The electrode kind's trial: a proposed design scored by the twin (`evaluation.evaluate`).

Nothing moves in this kind: a trial draws the design's cubes, measures them and discharges the
4680 cell they make. Its outcome is each metric's mean over the cubes with its standard error
(told to the planner as noise), and its artifacts are the middle slice of its first cube
(`<trial>.slice.png`) and every cube's metrics and cell properties (`<trial>.metrics.json`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from electroloop.errors import ElectroloopError, SimulationError
from electroloop.kinds.electrode.campaign import ElectrodeCampaign
from electroloop.kinds.electrode.evaluation import (
    ContentCache,
    Evaluation,
    electrode_design,
    evaluate,
    mean_properties,
    middle_slice,
)
from electroloop.kinds.electrode.recalibration import bpx_path, recalibrate, twin_overrides
from electroloop.models import Candidate, Design, DesignPoint
from electroloop.orchestrator.events import TwinCalibrated
from electroloop.orchestrator.experiment import Outcome, TrialFailed
from electroloop.simulations.calibration import DischargeCurve
from electroloop.simulations.electrode_cell import ElectrodeProperties

if TYPE_CHECKING:
    from electroloop.orchestrator.closed_loop import Campaign

PHASE_COLOURS = ("#f2f2f2", "#35608d", "#e07b39")
"""Pore, active material, carbon-binder domain in the slice pictures."""


CellMeasurer = Callable[
    [ElectrodeProperties, Sequence[float]], tuple[list[DischargeCurve], list[str]]
]
"""Builds cells with an electrode, discharges one at each C-rate on a cycler, and returns their
curves and names (the composition root provides it: `workflows.twin_build`)."""


class ElectrodeTwinExperiment:
    """Score each candidate electrode with the twin; results cached by content in `cache`.
    With `measure`, the campaign's `calibration` plan recalibrates the twin against built cells
    once it is due (`recalibrate_if_due`)."""

    def __init__(
        self,
        spec: ElectrodeCampaign,
        cache: ContentCache,
        artifacts: Path | None = None,
        measure: CellMeasurer | None = None,
        executor: Executor | None = None,
    ) -> None:
        """`executor`: where the cubes' microstructure solves run (`workflows.compute`: the
        lab's Dask cluster); None: here."""
        self.spec = spec
        self.cache = cache
        self.artifacts = artifacts
        self.measure = measure
        self.executor = executor

    def check(self, design: Design) -> None:
        """ValueError naming the field if `design` lies outside the campaign's box."""
        self.spec.space.check(design)

    def full_design(self, design: Design) -> dict[str, float]:
        """The design's searched values with the campaign's fixed ones."""
        assert isinstance(design, DesignPoint)
        return {**self.spec.design.fixed(), **design.values}

    def run(self, candidate: Candidate, campaign: Campaign | None) -> Outcome:
        """The twin's metrics of the candidate, with the parameters of the campaign's last
        recalibration (`TwinCalibrated`) if it had one (no campaign: the twin as built);
        `TrialFailed` if a solver gives up."""
        values = self.full_design(candidate.design)
        overrides = None
        if campaign is not None:
            self.recalibrate_if_due(campaign)
            if campaign.state.calibrations:
                overrides = fitted_overrides(campaign.state.calibrations[-1])
        try:
            result = evaluate(
                values,
                self.spec.microstructure,
                self.spec.discharge,
                self.spec.seed,
                self.cache,
                overrides,
                self.executor,
            )
        except SimulationError as exc:
            raise TrialFailed(f"twin: {exc}") from exc
        return Outcome(
            values=result.values,
            errors=result.errors,
            artifacts=self._write(candidate.id, values, result),
        )

    def recalibrate_if_due(self, campaign: Campaign) -> None:
        """Once `calibration.after` trials are observed (and not before, nor twice): build cells
        of the best design so far (its cubes' mean properties), measure them, refit the twin
        (`recalibration.recalibrate`) and record the fit as a `TwinCalibrated` event, which
        every later trial's twin uses. A failed measurement or fit fails this trial and is
        tried again at the next."""
        plan, state = self.spec.calibration, campaign.state
        if plan is None or self.measure is None or state.calibrations:
            return
        best = state.best(self.spec.goal)
        if len(state.observations) < plan.after or best is None:
            return
        design = self.full_design(best.design)
        cubes = evaluate(
            design,
            self.spec.microstructure,
            self.spec.discharge,
            self.spec.seed,
            self.cache,
            executor=self.executor,
        )
        props = mean_properties(cubes.properties)
        try:
            curves, cells = self.measure(props, plan.c_rates)
            fit = recalibrate(props, curves, folder=self.artifacts)
        except ElectroloopError as exc:
            raise TrialFailed(f"recalibrating the twin: {exc}") from exc
        campaign.record(
            TwinCalibrated(
                design=design,
                properties=asdict(props),
                cells=tuple(cells),
                estimates=fit.estimates,
                standard_errors=fit.standard_errors,
                rmse_before_v=fit.rmse_before_v,
                rmse_after_v=fit.rmse_after_v,
                method=fit.method,
                bpx=str(bpx_path(self.artifacts)) if self.artifacts is not None else "",
                measured_before=len(state.observations),
            )
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


def fitted_overrides(
    event: TwinCalibrated,
) -> Callable[[ElectrodeProperties], dict[str, float]]:
    """The twin's parameters after `event`'s fit, for any cube (`recalibration.twin_overrides`:
    the contact resistance follows each design's own current collectors)."""
    built = ElectrodeProperties(**event.properties)
    return lambda props: twin_overrides(event.estimates, built, props)


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
