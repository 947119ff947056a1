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
    FrozenModel,
    Goal,
    Measurement,
    Objective,
    Observation,
)
from electroloop.orchestrator.progress import best_feasible


class CampaignStarted(FrozenModel):
    kind: Literal["campaign_started"] = "campaign_started"
    spec: dict[str, Any] = Field(description="The validated campaign spec as JSON.")
    planner: str


class CandidatesProposed(FrozenModel):
    kind: Literal["candidates_proposed"] = "candidates_proposed"
    iteration: int = Field(ge=0)
    candidates: tuple[Candidate, ...]


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


class IterationCompleted(FrozenModel):
    kind: Literal["iteration_completed"] = "iteration_completed"
    iteration: int = Field(ge=0)
    planner_state: dict[str, Any]


class CampaignFinished(FrozenModel):
    kind: Literal["campaign_finished"] = "campaign_finished"
    reason: str


Event = Annotated[
    CampaignStarted
    | CandidatesProposed
    | DosingRecorded
    | MeasurementRecorded
    | ObservationAdded
    | CandidateFailed
    | CandidateAbandoned
    | IterationCompleted
    | CampaignFinished,
    Field(discriminator="kind"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


@dataclass
class CampaignState:
    """Current state of one campaign, derived from its events (never stored on its own)."""

    spec: dict[str, Any] | None = None
    planner: str | None = None
    candidates: dict[str, Candidate] = field(default_factory=dict)
    trial_index: dict[str, int] = field(default_factory=dict)
    dosings: dict[str, DosingRecord] = field(default_factory=dict)
    measurements: dict[str, list[Measurement]] = field(default_factory=dict)
    observations: dict[str, Observation] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    abandoned: dict[str, str] = field(default_factory=dict)
    iterations_completed: int = 0
    iterations_proposed: int = 0
    planner_state: dict[str, Any] | None = None
    finished: str | None = None

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
        return copy

    def best(self, goal: Goal, objective: Objective | None = None) -> Observation | None:
        """The feasible observation best in `objective` (default: the goal's primary) so far."""
        return best_feasible(goal, objective or goal.primary, list(self.observations.values()))

    @property
    def trials_run(self) -> int:
        """Trials that reached an end: observed, failed or abandoned."""
        return len(self.observations) + len(self.failures) + len(self.abandoned)

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
            state.iterations_proposed = event.iteration + 1
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
