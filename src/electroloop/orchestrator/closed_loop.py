"""`Campaign`: the closed loop of ask → dose → measure → record → tell, event-sourced.

Every step writes its fact to the `CampaignStore` before the next step starts, and the planner
is told only what is already stored. Instrument faults fail the trial (the planner may propose
it again); they never stop the campaign, and nothing already dosed is dosed again.

A campaign whose process died is resumed from its log (`resume`): the planner comes back from
the snapshot stored with its last proposal or tell, a vial dosed but not measured is measured,
a dosing cut off half-way is redone in a fresh vial, and nothing measured is run again.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import Field, SerializeAsAny, field_validator, model_validator

from electroloop.ask_tell import AskTell, Later, run_ask_tell
from electroloop.errors import CampaignError, CampaignHalted, PlannerError
from electroloop.models import (
    Candidate,
    Design,
    DosingRecord,
    FrozenModel,
    Goal,
    Measurement,
    Observation,
    renamed,
    typed_design,
)
from electroloop.orchestrator.alerts import Alert, notify
from electroloop.orchestrator.campaign import CampaignSpec
from electroloop.orchestrator.events import (
    AlertRaised,
    BatchReviewed,
    CampaignFinished,
    CampaignResumed,
    CampaignStarted,
    CampaignState,
    CandidateAbandoned,
    CandidateEdited,
    CandidateFailed,
    CandidatesProposed,
    Event,
    IterationCompleted,
    LibraryScreened,
    ManualStepDone,
    ObservationAdded,
    SafetyChecked,
    apply,
)
from electroloop.orchestrator.experiment import Experiment, Outcome, TrialFailed
from electroloop.orchestrator.progress import Oracle, progress_metrics
from electroloop.orchestrator.store import CampaignStore
from electroloop.planners.capabilities import PlannerPort
from electroloop.protocols import Planner


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
    series: Mapping[str, Sequence[tuple[int, float]]] = field(default_factory=dict)
    """Per-step metrics, e.g. a cell's discharge capacity per cycle: name -> (step, value)."""
    artifacts: Sequence[Path] = ()
    """Files that belong to the trial, e.g. a cell's plots and exported records."""


TrialObserver = Callable[[TrialRecord], None]


class Decision(FrozenModel):
    """A reviewer's verdict on one proposed candidate, before anything is dosed."""

    action: Literal["approve", "edit", "reject"] = "approve"
    design: SerializeAsAny[Design] | None = Field(None, description="The edited design (edit).")
    reason: str = ""

    _design = field_validator("design", mode="wrap")(typed_design)

    @model_validator(mode="before")
    @classmethod
    def _formulation_is_the_design(cls, data: Any) -> Any:
        return renamed(data, "formulation", "design")


@dataclass(frozen=True)
class ManualStep:
    """Something only a person can do, with what they must tell us when done."""

    key: str  # stable and unique within the campaign, e.g. "refill-EC-t0007"
    title: str
    instructions: str  # Markdown, shown in the UI's form
    fields: dict[str, tuple[float, float, float]]  # name -> (default, low, high)


class ManualSteps(Protocol):
    """Asks a person to do a manual step and waits for them (the workflow's pause)."""

    def __call__(self, step: ManualStep) -> dict[str, float]:
        """The person's answers, one per field; raises if they never answered."""
        ...


logger = logging.getLogger(__name__)

REPEATED_FAILURES = 3
"""Trials in a row failing for the same reason that stop a campaign (`Campaign.run_trial`)."""


def _failure_kind(reason: str) -> str:
    """A failure's message with its numbers blanked: the same fault, whatever it measured."""
    return re.sub(r"[-+]?\d+(\.\d+)?(e[-+]?\d+)?", "#", reason)


def checked_batch(
    planner: Planner,
    n: int,
    check: Callable[[Any], None],
    known: Collection[str] = (),
) -> list[Candidate]:
    """`planner.ask(n)`, refused unless it is what the engine can run: 1 to `n` candidates,
    each a `Candidate` with an id used nowhere before, each design inside the space (`check`
    raises ValueError otherwise). Anything else, and any exception the planner raises, is a
    `PlannerError` naming the planner."""
    name = getattr(planner, "name", type(planner).__name__)
    try:
        candidates = list(planner.ask(n))
    except PlannerError:
        raise
    except Exception as exc:  # a plug-in's own error, named, instead of its traceback
        failure = f"{type(exc).__name__}: {exc}"
        raise PlannerError(f"planner {name} failed to propose: {failure}") from exc
    if not 1 <= len(candidates) <= n:
        raise PlannerError(
            f"planner {name} proposed {len(candidates)} candidates when asked for {n}; "
            f"allowed: 1 to {n}"
        )
    seen: set[str] = set()
    for candidate in candidates:
        if not isinstance(candidate, Candidate):
            raise PlannerError(
                f"planner {name} proposed a {type(candidate).__name__}; allowed: Candidate"
            )
        if candidate.id in known or candidate.id in seen:
            raise PlannerError(f"planner {name} re-used candidate id {candidate.id!r}")
        seen.add(candidate.id)
        try:
            check(candidate.design)
        except ValueError as exc:
            raise PlannerError(
                f"planner {name} proposed {candidate.id} outside the search space: {exc}"
            ) from None
    return candidates


def trial_records(state: CampaignState, goal: Goal, oracle: Oracle | None) -> list[TrialRecord]:
    """Every trial of `state` that reached an end, in order, as its observers saw it then."""
    observed: list[Observation] = []
    records: list[TrialRecord] = []
    for candidate_id in sorted(state.trial_index, key=state.trial_index.__getitem__):
        if candidate_id in state.observations:
            observed.append(state.observations[candidate_id])
        elif candidate_id not in state.failures:
            continue
        progress = progress_metrics(goal, observed, oracle)
        measured = state.measurements.get(candidate_id)
        records.append(
            TrialRecord(
                index=state.trial_number(candidate_id),
                candidate=state.candidates[candidate_id],
                dosing=state.dosings.get(candidate_id),
                measurement=measured[-1] if measured else None,
                observation=state.observations.get(candidate_id),
                failure=state.failures.get(candidate_id),
                best=progress.get(f"best_{goal.primary.name}"),
                progress=progress,
            )
        )
    return records


class Campaign:
    """Runs one campaign against a planner and an experiment, recording every fact."""

    def __init__(
        self,
        campaign_id: str,
        spec: CampaignSpec,
        store: CampaignStore,
        planner: Planner,
        experiment: Experiment,
        observers: Sequence[TrialObserver] = (),
        oracle: Oracle | None = None,
        manual: ManualSteps | None = None,
        versions: Mapping[str, str] | None = None,
    ) -> None:
        self.id = campaign_id
        self.spec = spec
        self.store = store
        self.planner = planner
        self.port = PlannerPort(planner)  # its optional abilities, decided once
        self.experiment = experiment
        self.observers = list(observers)
        self.oracle = oracle
        self.manual = manual
        self.versions = dict(versions or {})
        """Provenance recorded when the campaign starts (`CampaignStarted.versions`)."""
        self._lock = threading.Lock()  # pipelined proposals record from a second thread
        known = campaign_id in store.campaign_ids()
        self._state = store.state(campaign_id) if known else CampaignState()

    @property
    def state(self) -> CampaignState:
        """The campaign's state: the fold of its log, kept current as events are recorded."""
        with self._lock:
            return self._state.snapshot()

    def record(self, event: Event) -> None:
        """Append `event` durably, then advance the in-memory fold (no re-reading the log)."""
        self._record(event)

    def _record(self, event: Event) -> None:
        with self._lock:
            self.store.append(self.id, event)
            apply(self._state, event)

    def start(self) -> None:
        """Record the campaign's start; a campaign id is started only once."""
        if self.id in self.store.campaign_ids():
            raise CampaignError(f"campaign {self.id!r} already exists in {self.store.location}")
        self._record(
            CampaignStarted(
                spec=self.spec.model_dump(mode="json"),
                planner=self.planner.name,
                versions=self.versions,
            ),
        )
        hazards = self.spec.hazards()
        if hazards:
            self._record(
                SafetyChecked(
                    hazards=tuple(asdict(h) for h in hazards),
                    overrides=self.spec.safety_overrides,
                )
            )

    def done(self) -> bool:
        state = self.state
        return state.finished is not None or state.budget_used >= self.spec.budget

    def propose(self, limit: int | None = None) -> list[Candidate]:
        """Ask the planner for the next batch (capped by the budget and `limit`, e.g. the free
        cycler channels) and record it, together with the planner's state right after (what a
        resumed campaign restores)."""
        state = self.state
        n = min(self.spec.batch_size, self.spec.budget - state.budget_used)
        if limit is not None:
            n = min(n, limit)
        candidates = checked_batch(
            self.planner, n, self.experiment.check, known=state.candidates.keys()
        )
        self._record(
            CandidatesProposed(
                iteration=state.iterations_proposed,
                candidates=tuple(candidates),
                planner_state=self.planner.state(),
            ),
        )
        return candidates

    def review(
        self, batch: Sequence[Candidate], decisions: Mapping[str, Decision], reviewer: str = ""
    ) -> list[Candidate]:
        """Apply a reviewer's decisions to a proposed batch; returns the candidates to run.

        All decisions are checked before any is recorded: an edit outside the search space
        raises `CampaignError` naming the candidate, and nothing changes (ask again).
        Rejected candidates are abandoned; an edited one is abandoned and its edit, a new
        candidate ``<id>-edit``, takes its place in the batch.
        """
        state = self.state
        ids = [c.id for c in batch]
        unknown = sorted(set(decisions) - set(ids))
        if unknown:
            raise CampaignError(f"decisions for {unknown}; allowed: the batch's candidates {ids}")
        try:
            iterations = {state.iteration_of(candidate_id) for candidate_id in ids}
        except KeyError:
            iterations = set()
        if len(iterations) != 1:
            raise CampaignError(f"candidates {ids} are not one proposed batch of {self.id!r}")
        edits: dict[str, Candidate] = {}
        for candidate in batch:
            decision = decisions.get(candidate.id, Decision())
            if candidate.id in state.dosing_started:
                raise CampaignError(f"candidate {candidate.id!r} is being dosed; too late")
            if decision.action != "edit":
                continue
            if decision.design is None:
                raise CampaignError(f"{candidate.id}: an edit needs the edited design")
            try:
                self.experiment.check(decision.design)
            except ValueError as exc:
                raise CampaignError(f"{candidate.id}: the edited design: {exc}") from None
            edits[candidate.id] = Candidate(
                id=f"{candidate.id}-edit",
                design=decision.design,
                planner="reviewer",
                scored_by=None,
            )
        iteration = iterations.pop()
        for candidate in batch:
            decision = decisions.get(candidate.id, Decision())
            why = f"{reviewer or 'reviewer'}: {decision.reason or decision.action}"
            if decision.action == "reject":
                self._record(CandidateAbandoned(candidate_id=candidate.id, reason=why))
            elif decision.action == "edit":
                self._record(
                    CandidateEdited(
                        original_id=candidate.id, candidate=edits[candidate.id], reason=why
                    )
                )
        self._record(
            BatchReviewed(
                iteration=iteration,
                decisions={c.id: decisions.get(c.id, Decision()).action for c in batch},
                reviewer=reviewer,
            )
        )
        return self.runnable(batch)

    def resume(self, run: str = "") -> list[list[Candidate]]:
        """Pick a campaign up after its process died; returns its unconcluded batches.

        Records what recovery will do: a dosing that started and never finished is redone in a
        fresh vial (the half-dosed vial is retired, never measured); a vial dosed but not
        measured is measured. Nothing measured is measured again (a measured candidate without
        its observation, e.g. a cell still cycling, keeps its measurement).
        """
        state = self.state
        if state.spec is None:
            raise CampaignError(f"campaign {self.id!r} has no events in {self.store.location}")
        if state.finished is not None:
            raise CampaignError(
                f"campaign {self.id!r} finished ({state.finished}); nothing to resume"
            )
        pending = {c.id for c in state.pending}
        redosed = sorted((state.dosing_started - state.dosings.keys()) & pending)
        remeasured = sorted((state.dosings.keys() - state.measurements.keys()) & pending)
        self._record(
            CampaignResumed(
                run=run,
                redosed=tuple(redosed),
                remeasured=tuple(remeasured),
                versions=self.versions,
            )
        )
        return self.state.open_batches()

    def record_screening(
        self, scored_by: str, options: Sequence[dict[str, Any]], chosen: Sequence[str]
    ) -> None:
        """Record how a surrogate chose the campaign's solvents (after `start`)."""
        self._record(
            LibraryScreened(scored_by=scored_by, options=tuple(options), chosen=tuple(chosen))
        )

    def alert(self, alert: Alert) -> bool:
        """Record `alert` (once per rule and subject: a cell that stays hot is one page, not
        one per poll), then hand it to the installed notifiers (`alerts.notify`, which never
        raises); True when it is new and so must be said."""
        if any(a.rule == alert.rule.name and a.subject == alert.subject for a in self.state.alerts):
            return False
        rule = alert.rule
        self._record(
            AlertRaised(
                rule=rule.name,
                severity=rule.severity,
                subject=alert.subject,
                message=alert.message,
                runbook=rule.runbook,
            )
        )
        notify(self.id, alert)
        return True

    def record_manual_step(self, step: ManualStep, response: Mapping[str, Any]) -> None:
        self._record(
            ManualStepDone(step=step.key, instructions=step.instructions, response=dict(response))
        )

    def run_trial(self, candidate: Candidate) -> TrialRecord:
        """Run one candidate's trial (the kind's `Experiment`), storing each fact as it exists."""
        self.check_runnable(candidate)
        try:
            outcome = self.experiment.run(candidate, self)
        except TrialFailed as failed:
            record = self._fail(candidate, self.state, failed.dosing, failed.reason)
            self._halt_if_stuck(failed.reason)
            return record
        return self.observe(candidate, outcome)

    def _halt_if_stuck(self, reason: str) -> None:
        """`CampaignHalted` once the last `REPEATED_FAILURES` trials all failed the same way
        as this one (the same message but for its numbers: a pump stuck busy, a balance
        drifting out of tolerance would otherwise fail every trial left in the budget). The
        campaign is not finished: once the instrument is fixed, resume runs the rest."""
        state = self.state
        ended = sorted(
            state.failures.keys() | state.observations.keys(), key=state.trial_index.__getitem__
        )
        last = ended[-REPEATED_FAILURES:]
        same = _failure_kind(reason)
        if len(last) == REPEATED_FAILURES and all(
            c in state.failures and _failure_kind(state.failures[c]) == same for c in last
        ):
            raise CampaignHalted(
                f"campaign {self.id} stopped: its last {REPEATED_FAILURES} trials failed the "
                f"same way ({reason}); fix the cause, then resume it (nothing measured is lost)"
            )

    def check_runnable(self, candidate: Candidate) -> None:
        """CampaignError unless the candidate was proposed here and has not ended."""
        state = self.state
        if candidate.id not in state.candidates:
            raise CampaignError(f"candidate {candidate.id!r} was never proposed in {self.id!r}")
        if candidate.id in state.observations or candidate.id in state.failures:
            raise CampaignError(f"candidate {candidate.id!r} has already been run")
        if candidate.id in state.abandoned:
            raise CampaignError(f"candidate {candidate.id!r} was abandoned; it is never run")

    def observe(self, candidate: Candidate, outcome: Outcome) -> TrialRecord:
        """Record the candidate's observation (the outcome's values) and hand the trial to the
        observers."""
        state = self.state
        observation = Observation(
            candidate_id=candidate.id,
            design=candidate.design,
            as_dosed=outcome.as_dosed,
            values=dict(outcome.values),
            errors=dict(outcome.errors),
        )
        self._record(ObservationAdded(observation=observation))
        record = TrialRecord(
            index=state.trial_number(candidate.id),
            candidate=candidate,
            dosing=outcome.dosing,
            measurement=outcome.measurement,
            observation=observation,
            failure=None,
            **self._progress(),
            series=outcome.series,
            artifacts=outcome.artifacts,
        )
        self._notify(record)
        return record

    def fail(self, candidate: Candidate, reason: str, **extra: Any) -> TrialRecord:
        """Record that the candidate's trial failed (e.g. its cell tripped a safety limit)."""
        state = self.state
        return self._fail(candidate, state, state.dosings.get(candidate.id), reason, **extra)

    def conclude_iteration(self, candidates: Sequence[Candidate]) -> None:
        """Tell the planner what the batch produced, then snapshot its state in the log."""
        state = self.state
        logged = [state.candidates[c] for c in state.batches.get(state.iterations_completed, [])]
        batch = list(candidates) + [c for c in logged if c not in candidates]  # + reviewers' edits
        edits = set(state.edited.values())
        planned = [c for c in batch if c.id not in edits]
        observed = [state.observations[c.id] for c in planned if c.id in state.observations]
        if observed:
            self.planner.tell(observed)
        # Reviewers' edits were not the planner's proposals: told as outside data, if it can.
        self.port.tell_unplanned(
            [
                state.observations[c.id]
                for c in batch
                if c.id in edits and c.id in state.observations
            ]
        )
        for candidate in planned:
            if candidate.id in state.failures:
                self.planner.mark_failed(candidate.id, state.failures[candidate.id])
            elif candidate.id in state.abandoned:
                self.port.mark_abandoned(candidate.id, state.abandoned[candidate.id])
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

    def finish(self, reason: str) -> None:
        self._record(CampaignFinished(reason=reason))

    def run(self) -> CampaignState:
        """Run until the budget is spent (without Prefect; the flow drives the same steps as
        tasks). A campaign already in the store is resumed (see `resume`).

        With `spec.pipeline`, the next batch is proposed in a worker thread while the current
        one is measured, so a slow planner never idles the robot; that batch then cannot know
        the current batch's results (the planner sees them as pending).
        """
        if self.id not in self.store.campaign_ids():
            self.start()
        elif self.state.candidates:
            self.resume()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="propose") as proposer:
            drive(
                self,
                Steps(
                    propose=self.propose,
                    propose_later=lambda: proposer.submit(self.propose),
                    run_trial=self.run_trial,
                    conclude=self.conclude_iteration,
                ),
            )
        if self.state.finished is None:
            self.finish("budget spent")
        return self.state

    def pipelining(self) -> bool:
        """Whether to propose the next batch while the current one is measured."""
        return self.spec.pipeline and not self.done()

    def trial_records(self) -> list[TrialRecord]:
        """Every trial that reached an end, in order, as its observers saw it then (to record
        again what a dead process had no time to hand to its observers)."""
        return trial_records(self.state, self.spec.goal, self.oracle)

    def runnable(self, batch: Sequence[Candidate]) -> list[Candidate]:
        """The batch's candidates still to run (with reviewers' edits), in proposal order."""
        state = self.state
        iteration = state.iteration_of(batch[0].id)
        done = state.observations.keys() | state.failures.keys() | state.abandoned.keys()
        return [state.candidates[c] for c in state.batches[iteration] if c not in done]

    def needs_review(self, batch: Sequence[Candidate]) -> bool:
        state = self.state
        return state.iteration_of(batch[0].id) not in state.reviewed

    def _progress(self) -> dict[str, Any]:
        """`best` and `progress` of a TrialRecord: the campaign-level metrics as of now."""
        goal = self.spec.goal
        state = self.state
        observations = [state.observations[c] for c in state.candidates if c in state.observations]
        progress = progress_metrics(goal, observations, self.oracle)
        return {"best": progress.get(f"best_{goal.primary.name}"), "progress": progress}

    def _fail(
        self,
        candidate: Candidate,
        state: CampaignState,
        dosing: DosingRecord | None,
        reason: str,
        **extra: Any,
    ) -> TrialRecord:
        self._record(CandidateFailed(candidate_id=candidate.id, reason=reason))
        record = TrialRecord(
            index=state.trial_number(candidate.id),
            candidate=candidate,
            dosing=dosing,
            measurement=None,
            observation=None,
            failure=reason,
            **self._progress(),
            **extra,
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


@dataclass(frozen=True)
class Steps:
    """How `drive` performs each step: plain calls, or Prefect tasks in the flow."""

    propose: Callable[[], list[Candidate]]
    propose_later: Callable[[], Later[Candidate]]
    run_trial: Callable[[Candidate], TrialRecord]
    conclude: Callable[[list[Candidate]], None]
    review: Callable[[list[Candidate]], None] | None = None
    """Called before dosing a batch nobody reviewed yet (approval mode)."""
    before_trial: Callable[[], None] = lambda: None
    """Called before each trial, e.g. to check the instrument leases are still ours."""


def drive(campaign: Campaign, steps: Steps) -> None:
    """The loop (`electroloop.ask_tell`): (review) → dose and measure → tell, batch after
    batch, until the budget is spent or someone finished the campaign. Batches proposed before
    a crash come first."""

    def ask() -> list[Candidate]:
        return [] if campaign.done() else steps.propose()

    def review(batch: list[Candidate]) -> None:
        if steps.review is not None and campaign.needs_review(batch):
            steps.review(batch)

    def evaluate(batch: list[Candidate]) -> list[TrialRecord]:
        records = []
        for candidate in campaign.runnable(batch):
            steps.before_trial()
            records.append(steps.run_trial(candidate))
        return records

    run_ask_tell(
        AskTell(
            ask=ask,
            evaluate=evaluate,
            tell=lambda batch, _: steps.conclude(batch),
            ask_ahead=lambda: steps.propose_later() if campaign.pipelining() else None,
            before_evaluate=review,
            stop=lambda: campaign.state.finished is not None,
        ),
        campaign.state.open_batches(),
    )
