"""Prefect flows: a campaign is one flow run; proposing, each trial and telling are task runs.

One long flow with many tasks (not a flow per trial) because each flow run costs Prefect about
1–1.5 s of overhead (../shared/STACK.md). Tasks never cache: a trial moves liquid, and running
it again because its inputs "look the same" would be wrong.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from electroloop.kinds.cycling.campaign import CyclingCampaign
from electroloop.kinds.cycling.lineage import export_lineage
from electroloop.kinds.cycling.loop import CellSteps, CyclingLoop, CyclingRig, drive_cells
from electroloop.kinds.cycling.spec import CyclingSpec
from electroloop.kinds.electrode.campaign import ElectrodeCampaign
from electroloop.kinds.electrode.ragone import campaign_ragone
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign
from electroloop.kinds.registry import AnyCampaign, design_types, parse_campaign
from electroloop.models import Candidate, DesignPoint, Formulation, FrozenModel, Observation
from electroloop.orchestrator.campaign_plots import campaign_plots, primary_values
from electroloop.orchestrator.closed_loop import (
    Campaign,
    Steps,
    TrialRecord,
    drive,
    trial_records,
)
from electroloop.orchestrator.database import redact
from electroloop.orchestrator.events import CampaignState, CandidatesProposed, IterationCompleted
from electroloop.orchestrator.lease_queue import LeaseQueue, queued_hold
from electroloop.orchestrator.leases import (
    Acquired,
    Lease,
    LeaseBook,
    LeaseHeld,
    LeaseKeeper,
    process_gone,
    process_note,
)
from electroloop.orchestrator.progress import Oracle
from electroloop.orchestrator.store import CampaignStore
from electroloop.settings import Settings
from electroloop.workflows.approvals import ApprovalPolicy, PauseForManualSteps, review_batch
from electroloop.workflows.build import assemble, simulator_oracle
from electroloop.workflows.surrogate_use import campaign_surrogate, choose_solvents
from electroloop.workflows.tracking import MlflowTracker
from electroloop.workflows.twin_build import twin_cache


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
    plots: list[str] = Field(default_factory=list)
    store: str
    wall_time: float
    finished: str | None = Field(None, description="Why the campaign ended (None: it did not).")


@task(cache_policy=NO_CACHE, retries=0)
def propose(campaign: Campaign) -> list[Candidate]:
    """Ask the planner for the next batch and record it."""
    return campaign.propose()


@task(cache_policy=NO_CACHE, retries=0, task_run_name="trial-{candidate.id}")
def run_trial(campaign: Campaign, candidate: Candidate) -> TrialRecord:
    """Dose and measure one candidate; instrument faults fail the trial, not the flow."""
    return campaign.run_trial(candidate)


@task(cache_policy=NO_CACHE, retries=0)
def propose_cells(cells: CyclingLoop) -> list[Candidate]:
    """Ask the planner for as many candidates as cycler channels are free, and record them."""
    return cells.propose()


@task(cache_policy=NO_CACHE, retries=0, task_run_name="cell-{candidate.id}")
def set_up_cell(cells: CyclingLoop, candidate: Candidate) -> None:
    """Dose and measure the candidate, build its cell (a technician confirms in the UI when
    one is watching), lease it a channel and start its formation."""
    cells.set_up(candidate)


@task(cache_policy=NO_CACHE, retries=0)
def cell_step(action: Callable[[], None]) -> None:
    """One step of a cell's life (a phase's start, a checkpoint told to the planner, its end),
    run under the step's name (e.g. ``t0003-rate-2C``, ``t0003-cycle-10``, ``t0003-end``)."""
    action()


def _run_cell_step(name: str, action: Callable[[], None]) -> None:
    cell_step.with_options(task_run_name=name)(action)


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
        design = trial.candidate.design
        if isinstance(design, DesignPoint):
            what = " ".join(f"{k} {v:.3g}" for k, v in design.values.items())
        else:
            f = trial.candidate.formulation
            mix = " ".join(f"{k} {v:.2f}" for k, v in f.fractions.items())
            what = f"{mix} | {f.molality:.2f} mol/kg"
        head = f"trial {trial.index + 1:>3}/{self.budget} {trial.candidate.id} [{what}]"
        if trial.measurement is None and trial.observation is not None:
            best = f"{trial.best:.4g}" if trial.best is not None else "-"
            value = trial.observation.values[self.primary]
            error = trial.observation.errors.get(self.primary)
            shown = f"{value:.4g}" + (f" ± {error:.2g}" if error is not None else "")
            print(f"{head} -> {self.primary} {shown} (best {best})")
        elif trial.measurement is not None:
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


def new_campaign_id(spec: ElectrolyteCampaign) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{spec.name}-{stamp}-{uuid.uuid4().hex[:6]}"


def _this_run() -> str:
    """The current Prefect flow run's id (a fresh id outside Prefect)."""
    from prefect.runtime import flow_run

    return str(flow_run.id or uuid.uuid4())


def _take_over_campaign(book: LeaseBook, campaign_id: str, holder: str, ttl: float) -> Acquired:
    """The campaign's lease. A live flow renews it, so a second flow for the same campaign is
    refused; a dead one's lease expires within `ttl` (`Settings.lease_ttl`), which a resume
    waits out, unless the holder's process is provably gone (`process_gone`: same host, no
    such process): then it is taken over at once."""
    deadline = time.monotonic() + ttl + 1.0  # a dead holder's lease is gone by then
    while True:
        try:
            return book.acquire(f"campaign:{campaign_id}", holder, ttl, note=process_note())
        except LeaseHeld as exc:
            if process_gone(exc.lease):
                book.expire_holder(exc.lease.holder)
                print(f"campaign {campaign_id}: its holder {exc.lease.describe()} is gone")
                continue
            if time.monotonic() > deadline:
                raise
            wait = min(exc.remaining + 0.5, 5.0)
            print(f"campaign {campaign_id} is still leased ({exc}); waiting {wait:.0f} s")
            time.sleep(wait)


def _mark_dead_run_crashed(previous: Lease | None, by: str) -> None:
    """A flow run whose worker died stays 'Running' in Prefect; say what happened to it."""
    if previous is None or "/" not in previous.holder:
        return
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    run_id = previous.holder.rsplit("/", 1)[1]
    try:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(uuid.UUID(run_id))
            if run.state is not None and not run.state.is_final():
                client.set_flow_run_state(
                    run.id,
                    Crashed(message=f"its worker died; resumed by flow run {by}"),
                    force=True,
                )
    except Exception as exc:  # noqa: BLE001  bookkeeping in the UI only; never block a resume
        print(f"could not mark flow run {run_id} crashed: {exc}")


def run_campaign(
    spec: ElectrolyteCampaign,
    campaign_id: str | None = None,
    approval: ApprovalPolicy | None = None,
    *,
    resume: bool = False,
) -> CampaignSummary:
    """The body of every campaign flow: lease the campaign, then run it (`_run_leased`).

    The campaign's lease comes first, so a second flow for a campaign that is still running
    stops here, before it touches the campaign's MLflow run or its instruments.
    """
    settings = Settings()
    campaign_id = campaign_id or new_campaign_id(spec)
    this_run = _this_run()
    holder = f"{campaign_id}/{this_run}"
    with LeaseBook(settings.store) as book:
        taken = _take_over_campaign(book, campaign_id, holder, settings.lease_ttl)
        with LeaseKeeper(book, [taken.lease], settings.lease_ttl) as keeper:
            if resume and taken.previous is not None:
                stale = book.release_holder(taken.previous.holder)
                print(f"released {len(stale)} leases of the dead run {taken.previous.holder}")
                _mark_dead_run_crashed(taken.previous, this_run)
            return _run_leased(
                spec,
                settings,
                campaign_id,
                approval or ApprovalPolicy(),
                resume,
                book,
                keeper,
                holder,
            )


def _run_leased(
    spec: ElectrolyteCampaign,
    settings: Settings,
    campaign_id: str,
    approval: ApprovalPolicy,
    resume: bool,
    book: LeaseBook,
    keeper: LeaseKeeper,
    holder: str,
) -> CampaignSummary:
    """Assemble (leasing the instruments), drive, record and summarise one campaign.

    Each proposal, trial and tell is a task run. A resumed campaign continues in the same
    MLflow run and first records the trials its dead process never handed to MLflow.
    """
    started = time.perf_counter()
    if resume:
        with CampaignStore(settings.store, designs=design_types()) as store:
            earlier = store.state(campaign_id)
        if earlier.finished is not None:
            return _settle_finished(spec, settings, campaign_id, earlier, started)
    surrogate = None if resume else campaign_surrogate(spec, settings)
    screened: list[dict[str, Any]] = []
    if surrogate is not None:
        spec, screened = choose_solvents(spec, surrogate)
        for option in screened:
            print(
                f"{surrogate.label}: {'/'.join(option['solvents'])} best predicted "
                f"{option['mean']:.2f} ± {option['std']:.2f}"
            )
    # Before anything moves: a space outside the simulator's physics is refused here.
    oracle = simulator_oracle(spec)
    tracker: MlflowTracker | None = None
    verb = "resuming" if resume else "campaign"
    print(
        f"{verb} {campaign_id}: {spec.budget} trials in batches of {spec.batch_size}, "
        f"planner {spec.planner}, lab {spec.lab}"
        + (", each batch approved by a technician" if approval.required else "")
    )
    printer = TrialObserverPrinter(spec.budget, spec.goal.primary.name)
    keepers = [keeper]
    status = "FAILED"
    state: CampaignState | None = None
    try:
        with ExitStack() as stack:
            # Each step of a trial waits for this campaign's turn at its instruments (another
            # campaign may hold them: the flow's log says which) and keeps them while it runs.
            lease_instruments = queued_hold(
                LeaseQueue(book, poll=settings.lease_poll),
                holder,
                settings.lease_ttl,
                note=process_note(),
                may_hold=[f"campaign:{campaign_id}"],
                on_wait=lambda waiting: print(f"campaign {campaign_id}: {waiting.describe()}"),
                kept=keepers,
            )

            def check_leases() -> None:
                """Stop before moving anything if another flow took over a lease."""
                for held in keepers:
                    held.check()

            assembly = stack.enter_context(
                assemble(
                    spec,
                    settings,
                    campaign_id,
                    [printer],
                    oracle,
                    manual=PauseForManualSteps(approval),
                    lease=lease_instruments,
                    surrogate=surrogate,
                )
            )
            loop = assembly.campaign
            for note in assembly.reconciled:
                print(f"reconciled {note}")
            hazards = spec.hazards()
            for hazard in hazards:  # refusing ones got here only by a named override
                how = "overridden by a named person" if hazard.refuse else "caution"
                print(f"safety {hazard.rule} ({how}): {hazard.message}")
            if resume:
                loop.resume(run=holder)
            else:
                loop.start()
                if surrogate is not None and screened:
                    loop.record_screening(surrogate.label, screened, screened[0]["solvents"])
            # The MLflow run only after the campaign's first event: a crash in between leaves
            # a campaign that resume picks up and gives the run it lacks.
            tracker = _open_run(spec, settings, campaign_id, oracle, resume=resume)
            loop.observers.insert(0, tracker)
            try:
                tracker.tag_versions(loop.versions)
                tracker.tag_safety(hazards, spec.safety_overrides)
            except Exception as exc:  # noqa: BLE001  the event log records them as well
                print(f"MLflow did not take the versions ({exc}); the event log has them")
            if resume:
                _record_missed_trials(loop.trial_records(), tracker)
            try:
                if isinstance(spec, CyclingCampaign) and assembly.cycling is not None:
                    _drive_cells(
                        loop, spec.cycling, assembly.cycling, approval, resume, check_leases
                    )
                else:
                    drive(
                        loop,
                        Steps(
                            propose=lambda: propose(loop),
                            propose_later=lambda: propose.submit(loop),
                            run_trial=lambda candidate: run_trial(loop, candidate),
                            conclude=lambda batch: tell(loop, batch),
                            review=(
                                (lambda batch: review_batch(loop, batch, approval))
                                if approval.required
                                else None
                            ),
                            before_trial=check_leases,
                        ),
                    )
                if loop.state.finished is None:
                    loop.finish("budget spent")
                status = "FINISHED"
            finally:
                state = loop.state
    finally:
        if tracker is not None:  # None: it failed before its MLflow run existed
            state = state or CampaignState()
            summary = _summarise(spec, settings, campaign_id, state, tracker, oracle, started)
            try:
                _close_run(tracker, status, summary, state, settings)
            except Exception as exc:  # noqa: BLE001  results are in the event log and plots
                print(f"MLflow recording incomplete ({exc}); the event log and plots are complete")
    assert tracker is not None  # here only when the campaign ran
    if tracker.failure is not None:
        print(f"MLflow missed trials after: {tracker.failure}; the event log has all of them")
    return summary


def _drive_cells(
    loop: Campaign,
    spec: CyclingSpec,
    rig: CyclingRig,
    approval: ApprovalPolicy,
    resume: bool,
    check_leases: Callable[[], None],
) -> None:
    """A cycling campaign's loop. Proposals, tells, each cell's set-up and each step of its
    life (every phase started, every checkpoint told, its end) are task runs named after the
    cell; the flow itself polls the cells between them (thousands of polls over a test: not
    worth a task run each) and prints every phase, checkpoint and end into the run's log."""
    if approval.required:  # a technician follows the run: they confirm each cell too
        rig = replace(rig, confirm_assembly=True)
    cells = CyclingLoop(loop, spec, rig, say=print, step=_run_cell_step)
    if resume:
        cells.resume()
    drive_cells(
        cells,
        CellSteps(
            propose=lambda: propose_cells(cells),
            set_up=lambda candidate: set_up_cell(cells, candidate),
            poll=cells.poll,
            conclude=lambda batch: tell(loop, batch),
            review=(
                (lambda batch: review_batch(loop, batch, approval)) if approval.required else None
            ),
            before_step=check_leases,
        ),
    )


def _record_missed_trials(records: Sequence[TrialRecord], tracker: MlflowTracker) -> None:
    """Hand MLflow the trials (`records`) the dead process stored but never recorded there
    (or recorded only in part: those runs are replaced)."""
    for candidate_id in tracker.discard_unfinished_trials():
        print(f"MLflow trial run of {candidate_id} was cut off by the crash; recording it again")
    recorded = tracker.recorded_candidates()
    missed = [r for r in records if r.candidate.id not in recorded]
    for record in missed:
        tracker(record)
    if missed:
        print(f"recorded {len(missed)} trials the interrupted run had not sent to MLflow")


def _settle_finished(
    spec: ElectrolyteCampaign,
    settings: Settings,
    campaign_id: str,
    state: CampaignState,
    started: float,
) -> CampaignSummary:
    """Resume of a campaign whose log says it finished: nothing runs and no instrument is
    touched; its MLflow run (left RUNNING if the process died after the last event) gets the
    trials it lacks and ends FINISHED with the log's figures."""
    oracle = simulator_oracle(spec)
    tracker = _open_run(spec, settings, campaign_id, oracle, resume=True)
    records = trial_records(state, spec.goal, oracle)
    complete = tracker.finished_before and tracker.recorded_candidates() >= {
        r.candidate.id for r in records
    }
    _record_missed_trials(records, tracker)
    summary = _summarise(spec, settings, campaign_id, state, tracker, oracle, started)
    if complete:  # closed properly before: leave its figures as they were
        tracker.client.set_terminated(tracker.run_id, "FINISHED")
        print(f"campaign {campaign_id} had finished ({state.finished}); nothing to resume")
        return summary
    _close_run(tracker, "FINISHED", summary, state, settings)
    print(f"campaign {campaign_id} had finished ({state.finished}); its records are complete")
    return summary


def _open_run(
    spec: ElectrolyteCampaign,
    settings: Settings,
    campaign_id: str,
    oracle: Oracle | None,
    *,
    resume: bool,
) -> MlflowTracker:
    """The campaign's MLflow run: a new one, or (`resume`) the one it had."""
    return MlflowTracker(
        settings.resolved_tracking_uri,
        settings.artifact_root,
        spec,
        campaign_id,
        oracle_model=oracle.model if oracle else None,
        resume=resume,
    )


def _close_run(
    tracker: MlflowTracker,
    status: str,
    summary: CampaignSummary,
    state: CampaignState,
    settings: Settings,
) -> None:
    """Close the campaign's MLflow run with the summary's figures, its log and plots."""
    tracker.finish(
        status=status,
        trials=summary.trials,
        failures=summary.failures,
        true_optimum=summary.true_optimum_value,
        planner_state=state.planner_state,
        events=_event_log(settings, summary.campaign_id),
        plots=[Path(p) for p in summary.plots],
        summary=summary.model_dump(mode="json"),
    )


def _summarise(
    spec: ElectrolyteCampaign,
    settings: Settings,
    campaign_id: str,
    state: CampaignState,
    tracker: MlflowTracker,
    oracle: Oracle | None,
    started: float,
) -> CampaignSummary:
    if isinstance(spec, CyclingCampaign):
        _export_lineage(settings, campaign_id, state, tracker)
    plots = campaign_plots(
        state,
        spec,
        settings.resolved_home / campaign_id,
        title=f"{campaign_id} ({spec.planner})",
        optimum=oracle.optimum if oracle and oracle.applies_to(spec.goal) else None,
    )
    if isinstance(spec, ElectrodeCampaign):
        plots += _ragone(spec, settings, campaign_id, state)
    best = state.best(spec.goal)
    return CampaignSummary(
        campaign_id=campaign_id,
        mlflow_run_id=tracker.run_id,
        mlflow_experiment_id=tracker.experiment_id,
        trials=state.trials_run,
        failures=len(state.failures),
        values=primary_values(state, spec),
        best=best,
        best_true_value=(
            oracle.true_value(best.as_dosed or best.design)
            if oracle is not None and best is not None
            else None
        ),
        true_optimum=oracle.optimum_at if oracle else None,
        true_optimum_value=oracle.optimum if oracle else None,
        plot=str(plots[0]),
        plots=[str(p) for p in plots],
        store=redact(str(settings.store)),
        wall_time=time.perf_counter() - started,
        finished=state.finished,
    )


def _ragone(
    spec: ElectrodeCampaign, settings: Settings, campaign_id: str, state: CampaignState
) -> list[Path]:
    """The Ragone plot of an electrode campaign's best designs (`kinds.electrode.ragone`);
    printed, not raised, if the twin fails: the trials stand without it."""
    try:
        made = campaign_ragone(
            list(state.observations.values()),
            spec,
            twin_cache(settings),
            settings.resolved_home / campaign_id / "ragone.png",
            title=f"{campaign_id}: best designs",
        )
    except Exception as exc:  # noqa: BLE001  the campaign's results stand without it
        print(f"Ragone plot not drawn ({exc}); every trial's values are in the event log")
        return []
    if made is None:
        return []
    path, curves = made
    for curve in curves:
        points = ", ".join(
            f"{p:g} W: {e:.0f} Wh/L" for p, e in zip(curve.powers, curve.wh_per_l, strict=True)
        )
        print(f"Ragone {curve.label}: {points}")
    return [path]


def _export_lineage(
    settings: Settings, campaign_id: str, state: CampaignState, tracker: MlflowTracker
) -> None:
    """Each cell's lineage document (`kinds.cycling.lineage`) beside its other files, and on
    its trial's MLflow run beside its exports. A failure is printed, not raised: the event log
    and the records keep everything the documents are made from."""
    try:
        paths = export_lineage(
            settings.store, campaign_id, settings.resolved_home / campaign_id / "cells"
        )
    except Exception as exc:  # noqa: BLE001  the campaign's results stand without them
        print(f"lineage documents not written ({exc}); the event log has their facts")
        return
    candidates = {cell.assembled.cell_id: c for c, cell in state.cells.items()}
    files = {candidates[p.parent.name]: [p] for p in paths if p.parent.name in candidates}
    try:
        tracker.log_cell_files(files)
    except Exception as exc:  # noqa: BLE001  the documents are on disk
        print(f"MLflow did not take the lineage documents ({exc}); each is in its cell's folder")


@flow(name="conductivity-campaign", log_prints=True)
def conductivity_campaign(
    campaign: AnyCampaign,
    campaign_id: str | None = None,
    approval: ApprovalPolicy | None = None,
) -> CampaignSummary:
    """Run a closed-loop conductivity campaign on the lab the campaign names."""
    return run_campaign(campaign, campaign_id, approval)


@flow(name="resume-campaign", log_prints=True)
def resume_campaign(
    campaign_id: str,
    approval: ApprovalPolicy = ApprovalPolicy(),  # noqa: B008  a frozen model
) -> CampaignSummary:
    """Continue a campaign whose flow died, from its event log: nothing measured is run
    again, nothing proposed is lost, and the dead run's leases are taken over."""
    with CampaignStore(Settings().store, designs=design_types()) as store:
        spec = parse_campaign(store.started_spec(campaign_id), f"campaign {campaign_id}")
    return run_campaign(spec, campaign_id, approval, resume=True)


def _event_log(settings: Settings, campaign_id: str) -> list[dict[str, Any]]:
    """The campaign's events as JSON for the run's `events.jsonl` (empty if it never started).

    Planner snapshots (with each proposal and tell) are left out: each holds the planner's whole
    history, so together they grow with the square of the trials; `planner_state.json` keeps
    the last one.
    """
    with CampaignStore(settings.store, designs=design_types()) as store:
        events = store.events(campaign_id)
    return [
        event.model_dump(mode="json", exclude={"planner_state"})
        if isinstance(event, IterationCompleted | CandidatesProposed)
        else event.model_dump(mode="json")
        for event in events
    ]
