"""Prefect flows: a campaign is one flow run; proposing, each trial and telling are task runs.

One long flow with many tasks (not a flow per trial) because each flow run costs Prefect about
1–1.5 s of overhead (../shared/STACK.md). Tasks never cache: a trial moves liquid, and running
it again because its inputs "look the same" would be wrong.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from electroloop.models import Candidate, Formulation, FrozenModel, Observation
from electroloop.orchestrator.campaign import CampaignSpec
from electroloop.orchestrator.campaign_plots import campaign_plots, primary_values
from electroloop.orchestrator.closed_loop import Campaign, TrialRecord
from electroloop.orchestrator.events import CampaignState, IterationCompleted
from electroloop.orchestrator.store import CampaignStore
from electroloop.settings import Settings
from electroloop.workflows.build import assemble, simulator_oracle
from electroloop.workflows.tracking import MlflowTracker


class CampaignSummary(FrozenModel):
    """What a finished campaign produced and where to find it."""

    campaign_id: str
    mlflow_run_id: str
    mlflow_experiment_id: str
    trials: int
    failures: int
    values: list[float | None]
    best: Observation | None
    best_true_value: float | None = Field(
        None, description="Noise-free σ of the best sample as dosed (simulated labs only)."
    )
    true_optimum: Formulation | None
    true_optimum_value: float | None
    plot: str
    store: str
    wall_time: float


@task(cache_policy=NO_CACHE, retries=0)
def propose(campaign: Campaign) -> list[Candidate]:
    """Ask the planner for the next batch and record it."""
    return campaign.propose()


@task(cache_policy=NO_CACHE, retries=0, task_run_name="trial-{candidate.id}")
def run_trial(campaign: Campaign, candidate: Candidate) -> TrialRecord:
    """Dose and measure one candidate; instrument faults fail the trial, not the flow."""
    return campaign.run_trial(candidate)


@task(cache_policy=NO_CACHE, retries=0)
def tell(campaign: Campaign, batch: list[Candidate]) -> None:
    """Tell the planner the batch's outcomes and snapshot its state."""
    campaign.conclude_iteration(batch)


class TrialObserverPrinter:
    """Prints one line per trial (Prefect captures prints into the run's logs and the UI)."""

    def __init__(self, budget: int, primary: str) -> None:
        self.budget = budget
        self.primary = primary

    def __call__(self, trial: TrialRecord) -> None:
        f = trial.candidate.formulation
        mix = " ".join(f"{k} {v:.2f}" for k, v in f.fractions.items())
        head = (
            f"trial {trial.index + 1:>3}/{self.budget} {trial.candidate.id} [{mix} | "
            f"{f.molality:.2f} mol/kg]"
        )
        if trial.measurement is not None:
            best = f"{trial.best:.3f}" if trial.best is not None else "-"
            extra = "".join(
                f", {k} {v:.4g}" for k, v in trial.progress.items() if k != f"best_{self.primary}"
            )
            print(
                f"{head} -> {trial.measurement.value:.3f} {trial.measurement.unit} "
                f"(best {best}{extra})"
            )
        else:
            print(f"{head} FAILED: {trial.failure}")


def new_campaign_id(spec: CampaignSpec) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{spec.name}-{stamp}-{uuid.uuid4().hex[:6]}"


@flow(name="conductivity-campaign", log_prints=True)
def conductivity_campaign(
    campaign: CampaignSpec, campaign_id: str | None = None
) -> CampaignSummary:
    """Run a closed-loop conductivity campaign on the lab the campaign names."""
    started = time.perf_counter()
    settings = Settings()
    spec = campaign
    campaign_id = campaign_id or new_campaign_id(spec)
    # Before anything moves: a space outside the simulator's physics is refused here.
    oracle = simulator_oracle(spec)
    tracker = MlflowTracker(
        settings.resolved_tracking_uri,
        settings.artifact_root,
        spec,
        campaign_id,
        oracle_model=oracle.model if oracle else None,
    )
    print(
        f"campaign {campaign_id}: {spec.budget} trials in batches of {spec.batch_size}, "
        f"planner {spec.planner}, lab {spec.lab}"
    )
    printer = TrialObserverPrinter(spec.budget, spec.goal.primary.name)
    status = "FAILED"
    state: CampaignState | None = None
    try:
        with assemble(spec, settings, campaign_id, [tracker, printer], oracle) as assembly:
            loop = assembly.campaign
            loop.start()
            try:
                batch = propose(loop)
                while batch:
                    # With pipelining the next batch is proposed in a task thread meanwhile.
                    upcoming = propose.submit(loop) if loop.pipelining() else None
                    for candidate in batch:
                        run_trial(loop, candidate)
                    following = upcoming.result() if upcoming else []
                    tell(loop, batch)
                    batch = following or ([] if loop.done() else propose(loop))
                loop.finish("budget spent")
                status = "FINISHED"
            finally:
                state = loop.state
    finally:
        state = state or CampaignState()
        plots = campaign_plots(
            state,
            spec,
            settings.resolved_home / campaign_id,
            title=f"{campaign_id} ({spec.planner})",
            optimum=oracle.optimum if oracle and oracle.applies_to(spec.goal) else None,
        )
        best = state.best(spec.goal)
        summary = CampaignSummary(
            campaign_id=campaign_id,
            mlflow_run_id=tracker.run_id,
            mlflow_experiment_id=tracker.experiment_id,
            trials=state.trials_run,
            failures=len(state.failures),
            values=primary_values(state, spec),
            best=best,
            best_true_value=(
                oracle.true_value(best.as_dosed or best.formulation)
                if oracle is not None and best is not None
                else None
            ),
            true_optimum=oracle.optimum_at if oracle else None,
            true_optimum_value=oracle.optimum if oracle else None,
            plot=str(plots[0]),
            store=str(settings.store_path),
            wall_time=time.perf_counter() - started,
        )
        try:
            tracker.finish(
                status=status,
                trials=summary.trials,
                failures=summary.failures,
                true_optimum=summary.true_optimum_value,
                planner_state=state.planner_state,
                events=_event_log(settings, campaign_id),
                plots=plots,
                summary=summary.model_dump(mode="json"),
            )
        except Exception as exc:  # noqa: BLE001  results are in the event log and the plots
            print(f"MLflow recording incomplete ({exc}); the event log and plots are complete")
    if tracker.failure is not None:
        print(f"MLflow missed trials after: {tracker.failure}; the event log has all of them")
    return summary


def _event_log(settings: Settings, campaign_id: str) -> list[dict[str, Any]]:
    """The campaign's events as JSON for the run's `events.jsonl` (empty if it never started).

    Planner snapshots are left out: each holds the planner's whole history, so together they grow
    with the square of the trials; `planner_state.json` keeps the last one.
    """
    with CampaignStore(settings.store_path) as store:
        events = store.events(campaign_id)
    return [
        event.model_dump(mode="json", exclude={"planner_state"})
        if isinstance(event, IterationCompleted)
        else event.model_dump(mode="json")
        for event in events
    ]
