"""Running a campaign through Prefect and printing where its results are: what `demo`, `run` and
`resume` share once they know which campaign to run.
"""

from __future__ import annotations

from electroloop.cli.common import prepare_environment
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign
from electroloop.models import Formulation
from electroloop.settings import Settings


def _describe(formulation: Formulation) -> str:
    mix = ", ".join(f"{name} {value:.3f}" for name, value in formulation.fractions.items())
    return f"{mix} (mass fractions); {formulation.salt} {formulation.molality:.3f} mol/kg"


def run_campaign(spec: ElectrolyteCampaign, settings: Settings, resume: str | None = None) -> int:
    """Run (or resume) a campaign through Prefect and print where its results are; a campaign
    whose lab file or physics is wrong is refused first, before Prefect starts."""
    if not resume:
        from electroloop.workflows.build import preflight

        preflight(spec)
    settings = prepare_environment(settings)
    from electroloop.workflows.flows import (  # imports Prefect: after env
        conductivity_campaign,
        resume_campaign,
    )

    summary = resume_campaign(resume) if resume else conductivity_campaign(spec)
    print()
    print(
        f"campaign {summary.campaign_id}: {summary.trials} trials, {summary.failures} failed, "
        f"{summary.wall_time:.1f} s"
    )
    if summary.best is not None:
        primary = spec.goal.primary.name
        value, unit = summary.best.values[primary], spec.unit(primary)
        print(
            f"best found:      {primary} {value:.4g} {unit}  {_describe(summary.best.formulation)}"
        )
        if summary.best.as_dosed is not None:
            print(f"  as dosed:      {_describe(summary.best.as_dosed)}")
    if summary.true_optimum is not None and summary.true_optimum_value is not None:
        print(
            f"true optimum:    {summary.true_optimum_value:.3f} mS/cm  "
            f"{_describe(summary.true_optimum)}  (simulator)"
        )
        if summary.best_true_value is not None:
            gap = 1.0 - summary.best_true_value / summary.true_optimum_value
            print(
                f"gap to optimum:  {100 * gap:.2f} % (noise-free σ of the best sample as dosed: "
                f"{summary.best_true_value:.3f} mS/cm)"
            )
    if summary.finished is None:
        print(f"not finished: continue with `electroloop resume {summary.campaign_id}`")
    print(f"convergence plot: {summary.plot}")
    print(f"event log:        {summary.store}")
    print(
        f"MLflow:           {settings.resolved_tracking_uri} "
        f"(experiment {spec.study}, run {summary.mlflow_run_id})"
    )
    return 0
