"""The campaign's event vocabulary and the fold that turns a log of events into current state.

Events are facts that happened, in order; nothing is ever updated in place. Whatever the
orchestrator needs after a crash (what was proposed, measured, told, failed) is derived from
them by `fold`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from electroloop.models import (
    Candidate,
    DosingRecord,
    Estimate,
    FrozenModel,
    Goal,
    Measurement,
    Objective,
    Observation,
)
from electroloop.orchestrator.progress import best_feasible
from electroloop.orchestrator.safety import SafetyOverride


class CampaignStarted(FrozenModel):
    kind: Literal["campaign_started"] = "campaign_started"
    spec: dict[str, Any] = Field(description="The validated campaign spec as JSON.")
    planner: str
    versions: dict[str, str] = Field(
        default_factory=dict,
        description="What produced the campaign's data: the kind's version, the planner's model "
        "(class, settings, source hash) and each instrument's reply parsing.",
    )


class SafetyChecked(FrozenModel):
    """What the safety rules found when the campaign started: refusals a named person overrode
    (with who and why) and cautions."""

    kind: Literal["safety_checked"] = "safety_checked"
    hazards: tuple[dict[str, Any], ...] = Field(description="Each: rule, message, refuse.")
    overrides: tuple[SafetyOverride, ...] = ()


class CandidatesProposed(FrozenModel):
    kind: Literal["candidates_proposed"] = "candidates_proposed"
    iteration: int = Field(ge=0)
    candidates: tuple[Candidate, ...]
    planner_state: dict[str, Any] | None = Field(
        None,
        description="The planner right after it proposed these: a resumed campaign restores "
        "it, so nothing proposed is lost and no id is handed out twice.",
    )


class BatchReviewed(FrozenModel):
    """A person looked at a proposed batch before anything was dosed (approval mode)."""

    kind: Literal["batch_reviewed"] = "batch_reviewed"
    iteration: int = Field(ge=0)
    decisions: dict[str, Literal["approve", "edit", "reject"]]
    reviewer: str = ""


class CandidateEdited(FrozenModel):
    """A reviewer replaced a proposed design: the original is abandoned, this one is run."""

    kind: Literal["candidate_edited"] = "candidate_edited"
    original_id: str
    candidate: Candidate
    reason: str


class DosingStarted(FrozenModel):
    """Liquid is about to move for a candidate; without a DosingRecorded after it, the dosing
    was interrupted and its vial is discarded."""

    kind: Literal["dosing_started"] = "dosing_started"
    candidate_id: str


class VialMoved(FrozenModel):
    """A vial went from one place to another (`electroloop.samples`) for a candidate's trial;
    the first move of a vial takes it from its rack slot."""

    kind: Literal["vial_moved"] = "vial_moved"
    vial: str = Field(description="The vial's label, e.g. EL-3F2A1C-0001.")
    candidate_id: str
    source: str
    target: str
    by: str = Field(description="Who moved it: the sample handler's name.")


class AlertRaised(FrozenModel):
    """An alerting rule fired (`orchestrator.alerts`): a page or a ticket, with its runbook."""

    kind: Literal["alert_raised"] = "alert_raised"
    rule: str
    severity: Literal["page", "ticket"]
    subject: str = Field(description="What it is about, e.g. a cell id.")
    message: str
    runbook: str


class StandardChecked(FrozenModel):
    """The meter read a certified check standard; `passed` when the mean lay within tolerance."""

    kind: Literal["standard_checked"] = "standard_checked"
    standard: str
    vial: str = Field(description="The standard's label.")
    temperature: float = Field(description="Probe temperature during the check, °C.")
    expected: float = Field(description="Certified conductivity at that temperature, mS/cm.")
    readings: tuple[float, ...] = Field(description="Each reading, mS/cm.")
    tolerance: float = Field(description="Allowed relative error of the mean.")
    passed: bool
    measured_before: int = Field(description="Samples the campaign had measured before it.")


class ManualStepDone(FrozenModel):
    """A technician did something the robot cannot (refill a bottle, load a cell)."""

    kind: Literal["manual_step_done"] = "manual_step_done"
    step: str
    instructions: str
    response: dict[str, Any]


class LibraryScreened(FrozenModel):
    """A surrogate ranked the campaign's solvent combinations before it started; the campaign
    searches the best one. Every option keeps the model that scored it."""

    kind: Literal["library_screened"] = "library_screened"
    scored_by: str
    options: tuple[dict[str, Any], ...] = Field(
        description="Each: solvents, best predicted mean and std, the formulation behind it."
    )
    chosen: tuple[str, ...]


class TwinCalibrated(FrozenModel):
    """Measured cells recalibrated a physics twin's uncertain parameters; trials after this
    are scored with the `estimates` (the electrode kind, `kinds.electrode.recalibration`)."""

    kind: Literal["twin_calibrated"] = "twin_calibrated"
    design: dict[str, float] = Field(description="The design the measured cells were built of.")
    properties: dict[str, float] = Field(
        description="Its electrode as the twin measured it (porosity, tortuosity, ...)."
    )
    cells: tuple[str, ...] = Field(description="The measured cells (cycler channels or ids).")
    estimates: dict[str, float] = Field(description="Parameter -> fitted value.")
    standard_errors: dict[str, float] = Field(description="Parameter -> its standard error.")
    rmse_before_v: float = Field(description="Voltage RMSE of the twin before the fit, V.")
    rmse_after_v: float = Field(description="Voltage RMSE of the twin after the fit, V.")
    method: str
    bpx: str = Field("", description="The calibrated parameter set as a BPX file, if written.")
    measured_before: int = Field(description="Trials the campaign had run before it.")


class CampaignResumed(FrozenModel):
    """A campaign whose flow died was picked up again: what was recovered and how."""

    kind: Literal["campaign_resumed"] = "campaign_resumed"
    run: str = Field("", description="Who resumed it, e.g. the Prefect flow run id.")
    redosed: tuple[str, ...] = Field((), description="Interrupted while dosing: fresh vial.")
    remeasured: tuple[str, ...] = Field((), description="Dosed, not measured: vial measured.")
    notes: tuple[str, ...] = ()
    versions: dict[str, str] = Field(
        default_factory=dict, description="As `CampaignStarted.versions`, for what runs now."
    )


class DosingRecorded(FrozenModel):
    kind: Literal["dosing_recorded"] = "dosing_recorded"
    record: DosingRecord


class MeasurementRecorded(FrozenModel):
    kind: Literal["measurement_recorded"] = "measurement_recorded"
    measurement: Measurement


class ObservationAdded(FrozenModel):
    kind: Literal["observation_added"] = "observation_added"
    observation: Observation


class CandidateFailed(FrozenModel):
    kind: Literal["candidate_failed"] = "candidate_failed"
    candidate_id: str
    reason: str


class CandidateAbandoned(FrozenModel):
    """A human or safety veto: the candidate is never run, and never proposed again."""

    kind: Literal["candidate_abandoned"] = "candidate_abandoned"
    candidate_id: str
    reason: str


class CellAssembled(FrozenModel):
    """A cell filled with the candidate's electrolyte sits on a cycler channel, leased to it
    for its whole test."""

    kind: Literal["cell_assembled"] = "cell_assembled"
    candidate_id: str
    cell_id: str
    cycler: str = Field(description="The cycler's VISA address.")
    channel: int = Field(ge=1)
    capacity: float = Field(gt=0.0, description="Nominal capacity, Ah.")


class PhaseStarted(FrozenModel):
    """A phase's protocol is loaded on the cell's channel and about to start; its records
    begin at `first_index` (the channel's record count before START)."""

    kind: Literal["phase_started"] = "phase_started"
    candidate_id: str
    phase: str
    protocol: str = Field(description="The step list as loaded (PROT:LOAD format).")
    roles: tuple[str, ...] = Field(description="Role of each step: charge, cv, rest, ...")
    first_index: int = Field(ge=0)


class InterimObservation(FrozenModel):
    """What a running cell's first cycles predict, told to the planner before it finishes."""

    kind: Literal["interim_observation"] = "interim_observation"
    candidate_id: str
    cycle: int = Field(ge=1, description="Cycling cycles complete when estimated.")
    values: dict[str, Estimate]


class CellFinished(FrozenModel):
    """A cell's test ended (all cycles, the capacity floor, or stopped early); its channel is
    free once its records are stored."""

    kind: Literal["cell_finished"] = "cell_finished"
    candidate_id: str
    reason: str
    early: bool = Field(False, description="Stopped by the stop rule to free its channel.")


class IterationCompleted(FrozenModel):
    kind: Literal["iteration_completed"] = "iteration_completed"
    iteration: int = Field(ge=0)
    planner_state: dict[str, Any]


class CampaignFinished(FrozenModel):
    kind: Literal["campaign_finished"] = "campaign_finished"
    reason: str


Event = Annotated[
    CampaignStarted
    | SafetyChecked
    | CandidatesProposed
    | BatchReviewed
    | CandidateEdited
    | DosingStarted
    | VialMoved
    | AlertRaised
    | StandardChecked
    | ManualStepDone
    | LibraryScreened
    | TwinCalibrated
    | CampaignResumed
    | DosingRecorded
    | MeasurementRecorded
    | ObservationAdded
    | CandidateFailed
    | CandidateAbandoned
    | CellAssembled
    | PhaseStarted
    | InterimObservation
    | CellFinished
    | IterationCompleted
    | CampaignFinished,
    Field(discriminator="kind"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


@dataclass
class CellState:
    """One cell's test as the log has it: where it runs, its phases, what it predicted."""

    assembled: CellAssembled
    phases: list[PhaseStarted] = field(default_factory=list)
    interim: list[InterimObservation] = field(default_factory=list)
    finished: CellFinished | None = None


@dataclass
class VialTrack:
    """One vial as the log has it: the candidate it holds and every move, in order."""

    candidate_id: str
    moves: list[VialMoved] = field(default_factory=list)

    @property
    def place(self) -> str:
        """Where the vial is now."""
        return self.moves[-1].target

    @property
    def slot(self) -> str:
        """The rack slot it was taken from (and goes back to)."""
        return self.moves[0].source


@dataclass
class CampaignState:
    """Current state of one campaign, derived from its events (never stored on its own)."""

    spec: dict[str, Any] | None = None
    planner: str | None = None
    candidates: dict[str, Candidate] = field(default_factory=dict)
    trial_index: dict[str, int] = field(default_factory=dict)
    batches: dict[int, list[str]] = field(default_factory=dict)
    reviewed: set[int] = field(default_factory=set)
    edited: dict[str, str] = field(default_factory=dict)  # original id -> replacement id
    dosing_started: set[str] = field(default_factory=set)
    manual_steps: list[ManualStepDone] = field(default_factory=list)
    alerts: list[AlertRaised] = field(default_factory=list)
    standard_checks: list[StandardChecked] = field(default_factory=list)
    vials: dict[str, VialTrack] = field(default_factory=dict)
    dosings: dict[str, DosingRecord] = field(default_factory=dict)
    measurements: dict[str, list[Measurement]] = field(default_factory=dict)
    observations: dict[str, Observation] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    abandoned: dict[str, str] = field(default_factory=dict)
    cells: dict[str, CellState] = field(default_factory=dict)
    iterations_completed: int = 0
    iterations_proposed: int = 0
    planner_state: dict[str, Any] | None = None
    finished: str | None = None
    calibrations: list[TwinCalibrated] = field(default_factory=list)
    """A twin's recalibrations, in order; the last one's overrides are the twin's now."""

    def snapshot(self) -> CampaignState:
        """A copy whose containers later events do not change."""
        copy = replace(self)
        for name in (
            "candidates",
            "trial_index",
            "dosings",
            "observations",
            "failures",
            "abandoned",
        ):
            setattr(copy, name, dict(getattr(self, name)))
        copy.measurements = {k: list(v) for k, v in self.measurements.items()}
        copy.batches = {k: list(v) for k, v in self.batches.items()}
        copy.reviewed, copy.edited = set(self.reviewed), dict(self.edited)
        copy.dosing_started = set(self.dosing_started)
        copy.manual_steps = list(self.manual_steps)
        copy.alerts = list(self.alerts)
        copy.calibrations = list(self.calibrations)
        copy.vials = {k: replace(v, moves=list(v.moves)) for k, v in self.vials.items()}
        copy.cells = {
            k: replace(v, phases=list(v.phases), interim=list(v.interim))
            for k, v in self.cells.items()
        }
        return copy

    def best(self, goal: Goal, objective: Objective | None = None) -> Observation | None:
        """The feasible observation best in `objective` (default: the goal's primary) so far."""
        return best_feasible(goal, objective or goal.primary, list(self.observations.values()))

    @property
    def trials_run(self) -> int:
        """Trials that reached an end: observed, failed or abandoned."""
        return len(self.observations) + len(self.failures) + len(self.abandoned)

    @property
    def budget_used(self) -> int:
        """Candidates that count towards the budget: every one not vetoed before dosing."""
        return len(self.candidates) - len(self.abandoned)

    def trial_number(self, candidate_id: str) -> int:
        """The candidate's place (from 0) among the trials that count towards the budget:
        candidates vetoed before dosing (rejected, or replaced by a reviewer's edit) take no
        place, so the last trial of a campaign is numbered budget - 1."""
        mine = self.trial_index[candidate_id]
        return sum(
            1
            for other, index in self.trial_index.items()
            if index < mine and other not in self.abandoned
        )

    def vial_of(self, candidate_id: str) -> str | None:
        """The last vial taken for the candidate (None before its first)."""
        mine = [v for v, track in self.vials.items() if track.candidate_id == candidate_id]
        return mine[-1] if mine else None

    def iteration_of(self, candidate_id: str) -> int:
        """The iteration whose batch holds the candidate (KeyError if none does)."""
        for iteration, members in self.batches.items():
            if candidate_id in members:
                return iteration
        raise KeyError(candidate_id)

    def open_batches(self) -> list[list[Candidate]]:
        """Proposed batches whose iteration is not concluded yet, oldest first."""
        return [
            [self.candidates[c] for c in self.batches[i]]
            for i in sorted(self.batches)
            if i >= self.iterations_completed
        ]

    @property
    def pending(self) -> list[Candidate]:
        """Proposed candidates with neither an observation nor a failure, in proposal order."""
        done = self.observations.keys() | self.failures.keys() | self.abandoned.keys()
        return [c for c in self.candidates.values() if c.id not in done]


def apply(state: CampaignState, event: Event) -> None:
    """Advance `state` by one event, in place."""
    match event:
        case CampaignStarted():
            state.spec, state.planner = event.spec, event.planner
        case CandidatesProposed():
            for candidate in event.candidates:
                state.trial_index[candidate.id] = len(state.candidates)
                state.candidates[candidate.id] = candidate
            state.batches.setdefault(event.iteration, []).extend(c.id for c in event.candidates)
            state.iterations_proposed = event.iteration + 1
            if event.planner_state is not None:
                state.planner_state = event.planner_state
        case BatchReviewed():
            state.reviewed.add(event.iteration)
        case CandidateEdited():
            new = event.candidate
            state.abandoned[event.original_id] = event.reason
            state.edited[event.original_id] = new.id
            state.trial_index[new.id] = len(state.candidates)
            state.candidates[new.id] = new
            batch = next(b for b in state.batches.values() if event.original_id in b)
            batch.append(new.id)
        case DosingStarted():
            state.dosing_started.add(event.candidate_id)
        case VialMoved():
            track = state.vials.setdefault(event.vial, VialTrack(event.candidate_id))
            track.moves.append(event)
        case AlertRaised():
            state.alerts.append(event)
        case StandardChecked():
            state.standard_checks.append(event)
        case ManualStepDone():
            state.manual_steps.append(event)
        case CampaignResumed() | LibraryScreened() | SafetyChecked():
            pass
        case TwinCalibrated():
            state.calibrations.append(event)
        case DosingRecorded():
            state.dosings[event.record.candidate_id] = event.record
        case MeasurementRecorded():
            m = event.measurement
            state.measurements.setdefault(m.candidate_id, []).append(m)
        case ObservationAdded():
            state.observations[event.observation.candidate_id] = event.observation
        case CandidateFailed():
            state.failures[event.candidate_id] = event.reason
        case CandidateAbandoned():
            state.abandoned[event.candidate_id] = event.reason
        case CellAssembled():
            state.cells[event.candidate_id] = CellState(assembled=event)
        case PhaseStarted():
            state.cells[event.candidate_id].phases.append(event)
        case InterimObservation():
            state.cells[event.candidate_id].interim.append(event)
        case CellFinished():
            state.cells[event.candidate_id].finished = event
        case IterationCompleted():
            state.iterations_completed = event.iteration + 1
            state.planner_state = event.planner_state
        case CampaignFinished():
            state.finished = event.reason


def fold(events: list[Event]) -> CampaignState:
    """Replay events in order into a `CampaignState`."""
    state = CampaignState()
    for event in events:
        apply(state, event)
    return state
