"""`Campaign`: the closed loop of ask → dose → measure → record → tell, event-sourced.

Every step writes its fact to the `CampaignStore` before the next step starts, and the planner
is told only what is already stored. Instrument faults fail the trial (the planner may propose
it again); they never stop the campaign, and nothing already dosed is dosed again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from electroloop.errors import CampaignError, InstrumentError, PlannerError
from electroloop.models import Candidate, DosingRecord, Measurement, Observation
from electroloop.orchestrator.campaign import CampaignSpec
from electroloop.orchestrator.events import (
    CampaignFinished,
    CampaignStarted,
    CampaignState,
    CandidateAbandoned,
    CandidateFailed,
    CandidatesProposed,
    DosingRecorded,
    Event,
    IterationCompleted,
    MeasurementRecorded,
    ObservationAdded,
    apply,
)
from electroloop.orchestrator.experiment import ConductivityExperiment
from electroloop.orchestrator.metrics import derived_metrics
from electroloop.orchestrator.progress import Oracle, progress_metrics
from electroloop.orchestrator.store import CampaignStore
from electroloop.planners.base import Planner


@dataclass(frozen=True)
class TrialRecord:
    """Everything one trial produced, handed to observers after it is stored."""

    index: int
    candidate: Candidate
    dosing: DosingRecord | None
    measurement: Measurement | None
    observation: Observation | None
    failure: str | None
    best: float | None  # the primary objective's feasible best so far
    progress: dict[str, float]  # campaign-level metrics after this trial (orchestrator.progress)


TrialObserver = Callable[[TrialRecord], None]

logger = logging.getLogger(__name__)


class Campaign:
    """Runs one campaign against a planner and an experiment, recording every fact."""

    def __init__(
        self,
        campaign_id: str,
        spec: CampaignSpec,
        store: CampaignStore,
        planner: Planner,
        experiment: ConductivityExperiment,
        observers: Sequence[TrialObserver] = (),
        oracle: Oracle | None = None,
    ) -> None:
        self.id = campaign_id
        self.spec = spec
        self.store = store
        self.planner = planner
        self.experiment = experiment
        self.observers = list(observers)
        self.oracle = oracle
        self._lock = threading.Lock()  # pipelined proposals record from a second thread
        known = campaign_id in store.campaign_ids()
        self._state = store.state(campaign_id) if known else CampaignState()

    @property
    def state(self) -> CampaignState:
        """The campaign's state: the fold of its log, kept current as events are recorded."""
        with self._lock:
            return self._state.snapshot()

    def _record(self, event: Event) -> None:
        """Append `event` durably, then advance the in-memory fold (no re-reading the log)."""
        with self._lock:
            self.store.append(self.id, event)
            apply(self._state, event)

    def start(self) -> None:
        """Record the campaign's start; a campaign id is started only once."""
        if self.id in self.store.campaign_ids():
            raise CampaignError(f"campaign {self.id!r} already exists in {self.store.path}")
        self._record(
            CampaignStarted(spec=self.spec.model_dump(mode="json"), planner=self.planner.name),
        )

    def done(self) -> bool:
        state = self.state
        return state.finished is not None or len(state.candidates) >= self.spec.budget

    def propose(self) -> list[Candidate]:
        """Ask the planner for the next batch (capped by the budget) and record it."""
        state = self.state
        n = min(self.spec.batch_size, self.spec.budget - len(state.candidates))
        candidates = self.planner.ask(n)
        space = self.spec.space
        for candidate in candidates:
            if candidate.id in state.candidates:
                raise PlannerError(f"{self.planner.name} re-used candidate id {candidate.id!r}")
            try:
                space.check(candidate.formulation)
            except ValueError as exc:
                raise PlannerError(
                    f"{self.planner.name} proposed {candidate.id} outside the search space: {exc}"
                ) from None
        self._record(
            CandidatesProposed(iteration=state.iterations_proposed, candidates=tuple(candidates)),
        )
        return candidates

    def run_trial(self, candidate: Candidate) -> TrialRecord:
        """Dose and measure one candidate, storing each fact as soon as it exists."""
        state = self.state
        if candidate.id not in state.candidates:
            raise CampaignError(f"candidate {candidate.id!r} was never proposed in {self.id!r}")
        if candidate.id in state.observations or candidate.id in state.failures:
            raise CampaignError(f"candidate {candidate.id!r} has already been run")
        if candidate.id in state.abandoned:
            raise CampaignError(f"candidate {candidate.id!r} was abandoned; it is never run")
        if candidate.id in state.dosings:
            return self._fail(candidate, state, None, "interrupted after dosing; not re-dosed")
        try:
            dosing = self.experiment.prepare(candidate)
        except InstrumentError as exc:
            return self._fail(candidate, state, None, f"dosing failed: {exc}")
        self._record(DosingRecorded(record=dosing))
        try:
            measurement = self.experiment.measure(candidate)
        except InstrumentError as exc:
            return self._fail(candidate, state, dosing, f"measurement failed: {exc}")
        self._record(MeasurementRecorded(measurement=measurement))
        observation = Observation(
            candidate_id=candidate.id,
            formulation=candidate.formulation,
            as_dosed=dosing.as_dosed,
            values={
                measurement.quantity: measurement.value,
                **derived_metrics(self.spec.space, dosing.as_dosed),
            },
        )
        self._record(ObservationAdded(observation=observation))
        record = TrialRecord(
            index=state.trial_index[candidate.id],
            candidate=candidate,
            dosing=dosing,
            measurement=measurement,
            observation=observation,
            failure=None,
            **self._progress(),
        )
        self._notify(record)
        return record

    def conclude_iteration(self, candidates: Sequence[Candidate]) -> None:
        """Tell the planner what the batch produced, then snapshot its state in the log."""
        state = self.state
        observed = [state.observations[c.id] for c in candidates if c.id in state.observations]
        if observed:
            self.planner.tell(observed)
        for candidate in candidates:
            if candidate.id in state.failures:
                self.planner.mark_failed(candidate.id, state.failures[candidate.id])
            elif candidate.id in state.abandoned:
                self._abandon_in_planner(candidate.id, state.abandoned[candidate.id])
        self._record(
            IterationCompleted(
                iteration=state.iterations_completed, planner_state=self.planner.state()
            ),
        )

    def abandon(self, candidate: Candidate, reason: str) -> None:
        """Veto a proposed candidate (a person or a safety rule): it is never run or re-proposed.

        The planner hears of it when its iteration concludes, like every other outcome.
        """
        state = self.state
        if candidate.id not in state.candidates:
            raise CampaignError(f"candidate {candidate.id!r} was never proposed in {self.id!r}")
        if candidate.id in state.dosings or candidate.id in state.observations:
            raise CampaignError(f"candidate {candidate.id!r} has already been dosed")
        self._record(CandidateAbandoned(candidate_id=candidate.id, reason=reason))

    def _abandon_in_planner(self, candidate_id: str, reason: str) -> None:
        # Planners written before abandonment existed only know failure; for them an abandoned
        # candidate is failed, which may re-propose it (the log still records the veto).
        mark_abandoned = getattr(self.planner, "mark_abandoned", None)
        if mark_abandoned is None:
            self.planner.mark_failed(candidate_id, f"abandoned: {reason}")
        else:
            mark_abandoned(candidate_id, reason)

    def finish(self, reason: str) -> None:
        self._record(CampaignFinished(reason=reason))

    def run(self) -> CampaignState:
        """Run until the budget is spent (without Prefect; the flow does the same with tasks).

        With `spec.pipeline`, the next batch is proposed in a worker thread while the current
        one is measured, so a slow planner never idles the robot; that batch then cannot know
        the current batch's results (the planner sees them as pending).
        """
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="propose") as proposer:
            batch = self.propose()
            while batch:
                upcoming = proposer.submit(self.propose) if self.pipelining() else None
                for candidate in batch:
                    self.run_trial(candidate)
                following = upcoming.result() if upcoming else []
                self.conclude_iteration(batch)
                batch = following or ([] if self.done() else self.propose())
        self.finish("budget spent")
        return self.state

    def pipelining(self) -> bool:
        """Whether to propose the next batch while the current one is measured."""
        return self.spec.pipeline and not self.done()

    def _progress(self) -> dict[str, Any]:
        """`best` and `progress` of a TrialRecord: the campaign-level metrics as of now."""
        goal = self.spec.goal
        state = self.state
        observations = [state.observations[c] for c in state.candidates if c in state.observations]
        progress = progress_metrics(goal, observations, self.oracle)
        return {"best": progress.get(f"best_{goal.primary.name}"), "progress": progress}

    def _fail(
        self, candidate: Candidate, state: CampaignState, dosing: DosingRecord | None, reason: str
    ) -> TrialRecord:
        self._record(CandidateFailed(candidate_id=candidate.id, reason=reason))
        record = TrialRecord(
            index=state.trial_index[candidate.id],
            candidate=candidate,
            dosing=dosing,
            measurement=None,
            observation=None,
            failure=reason,
            **self._progress(),
        )
        self._notify(record)
        return record

    def _notify(self, record: TrialRecord) -> None:
        """Hand the stored trial to each observer; a failing observer (say, a tracking server
        that is down) costs its own record of the trial, never the campaign."""
        for observer in self.observers:
            try:
                observer(record)
            except Exception as exc:  # noqa: BLE001  any observer fault; the fact is stored
                logger.warning(
                    "observer %r failed on trial %s of %s (the event log has it): %s",
                    observer,
                    record.candidate.id,
                    self.id,
                    exc,
                )
