"""A cycling campaign: formulations become cells that cycle for days while the planner learns.

Each candidate is dosed and its conductivity measured (as in a conductivity campaign), then a
cell is filled with it (a manual step, or the simulated cell line) and put on a free cycler
channel, leased to that cell for its whole test. The cell then runs its phases (formation,
rate test, cycling; `CyclingSpec.phases`) one protocol at a time, on the cycler, while the
orchestrator polls: it stores every new record (fetch since the stored index: no gap, no
duplicate), starts the next phase when one is done, tells the planner interim estimates at the
cycling checkpoints (`tell_interim`), stops a cell clearly failing, and when a cell ends,
records its observation, exports and plots its data and frees its channel.

Everything the loop does is recorded before the next step, so a killed orchestrator picks up
where it was (`CyclingLoop.resume`): the cycler kept running; each cell's channel is re-attached
(its lease is the cell's, not the process's), the records it missed are fetched from the
stored index, a phase loaded but not started is started, and no cell is ever set up twice.

The next batch is proposed only when channels are free and every running cell has told the
planner something, so proposals always use the early cycles of the cells before them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from electroloop.errors import CampaignError, InstrumentError, InstrumentTimeout
from electroloop.instruments.cycler import (
    ChannelStatus,
    CycleRecord,
    CyclingProtocol,
)
from electroloop.instruments.transport import ConnectionLost
from electroloop.kinds.cycling.alerts import CHANNEL_TRIPPED, record_alerts
from electroloop.kinds.cycling.cell_metrics import cell_values, measured_retention
from electroloop.kinds.cycling.cycle_life import stop_rule
from electroloop.kinds.cycling.records import CellRecordStore
from electroloop.kinds.cycling.spec import CyclingSpec, Phase
from electroloop.kinds.cycling.summary import CycleStats, PhaseData, summarize
from electroloop.kinds.electrolyte.experiment import ConductivityExperiment
from electroloop.models import Candidate, DosingRecord, Estimate, Measurement
from electroloop.orchestrator.alerts import Alert
from electroloop.orchestrator.closed_loop import Campaign, ManualStep
from electroloop.orchestrator.events import (
    CellAssembled,
    CellFinished,
    CellState,
    InterimObservation,
    PhaseStarted,
)
from electroloop.orchestrator.experiment import TrialFailed
from electroloop.orchestrator.leases import Lease, LeaseBook, LeaseHeld
from electroloop.protocols import Clock

logger = logging.getLogger(__name__)

PAGE = 500  # records per DATA? query, the cycler's maximum
LEASE_RENEWAL = 60.0  # wall s between renewals of a cell's channel lease
MAX_STRIKES = 5  # polls in a row a cell's channel may answer wrongly before the cell fails


class CellCycler(Protocol):
    """What the loop needs of a multichannel cycler (`MultichannelCycler` is one)."""

    def channel_count(self) -> int: ...

    def load(self, channel: int, protocol: CyclingProtocol) -> None: ...

    def start(self, channel: int) -> ChannelStatus: ...

    def stop(self, channel: int) -> ChannelStatus: ...

    def status(self, channel: int) -> ChannelStatus: ...

    def record_count(self, channel: int) -> int: ...

    def fetch(
        self, channel: int, since: int = 0, max_records: int = 100
    ) -> tuple[list[CycleRecord], int]: ...


class CellLine(Protocol):
    """Fills a cell with a dosed electrolyte and puts it on a channel (a simulated cell line;
    with real hardware a technician does it and confirms the manual step)."""

    def assemble(
        self, channel: int, dosing: DosingRecord, measurement: Measurement, capacity: float
    ) -> None: ...


StepRunner = Callable[[str, Callable[[], None]], None]
"""(step name, action) -> runs the action, e.g. as a task run named after the step."""

CellArtifacts = Callable[[str, Sequence[PhaseData]], list[Path]]
"""(cell id, its phases' records) -> files written for the cell (exports and plots)."""


@dataclass(frozen=True)
class CyclingRig:
    """The lab side of a cycling campaign, wired by the composition root."""

    cycler: CellCycler
    cycler_address: str
    """The cycler's VISA address: with the channel number, what a channel lease names."""
    cells: CellLine | None
    records: CellRecordStore
    leases: LeaseBook
    clock: Clock
    channel_lease_ttl: float = 7 * 86400.0
    """Wall s a channel's lease outlives the last poll: a dead orchestrator keeps its cells'
    channels this long (their records are not collected yet) before anyone may take them."""
    artifacts: CellArtifacts | None = None
    confirm_assembly: bool = False
    """Ask a person to confirm each cell is built (a manual step): with real hardware, or when
    a technician follows a dry run."""


class CyclingLoop:
    """Runs a cycling campaign on top of a `Campaign` (its log, planner and dosing)."""

    def __init__(
        self,
        campaign: Campaign,
        spec: CyclingSpec,
        rig: CyclingRig,
        say: Callable[[str], None] = logger.info,
        step: StepRunner = lambda name, action: action(),
    ) -> None:
        self.campaign = campaign
        if not isinstance(campaign.experiment, ConductivityExperiment):
            raise CampaignError(
                "a cycling campaign doses and measures each formulation before it builds a "
                f"cell; its experiment is a {type(campaign.experiment).__name__}"
            )
        self.samples: ConductivityExperiment = campaign.experiment
        self.spec = spec
        self.rig = rig
        self.say = say
        """Where progress lines go (the flow prints them into the run's log)."""
        self.step = step
        """How each step of a cell (a phase's start, a checkpoint, its end) runs: a named
        Prefect task run in the flow, so the UI shows every cell's life step by step."""
        self.phases: list[Phase] = spec.phases()
        self._renewed: dict[str, float] = {}  # cell -> monotonic time of its last lease renewal
        self._strikes: dict[str, int] = {}  # cell -> polls in a row its channel answered wrongly
        self._unreachable = 0  # asks in a row the cycler did not answer (free_channels)
        roles = self.phases[-1].roles
        self._closing_steps = {  # records in these steps mean a cycling cycle is complete
            step for step in range(1, len(roles) + 1) if step > roles.index("discharge") + 1
        }

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> None:
        """Until the budget is spent and every cell has ended (without Prefect)."""
        drive_cells(
            self,
            CellSteps(
                propose=self.propose,
                set_up=self.set_up,
                poll=self.poll,
                conclude=self.campaign.conclude_iteration,
            ),
        )

    def resume(self) -> None:
        """After a restart: free the channels of cells that ended just before it, and tell the
        planner again what running cells predicted (its snapshot may predate those tells);
        the running cells are re-attached by the next `poll`."""
        running = self.running()
        for candidate_id in self.campaign.state.cells.keys() - running.keys():
            self._release(candidate_id)
        for candidate_id, cell in running.items():
            if cell.interim:
                self.campaign.port.tell_interim(candidate_id, cell.interim[-1].values)

    def running(self) -> dict[str, CellState]:
        """Cells on a channel whose trial has not ended (finished cells still being stored
        count: their channel is not free until then)."""
        state = self.campaign.state
        done = state.observations.keys() | state.failures.keys()
        return {c: cell for c, cell in state.cells.items() if c not in done}

    def waiting(self) -> list[Candidate]:
        """Proposed candidates with no cell yet and no end (set up next, in proposal order)."""
        state = self.campaign.state
        done = state.observations.keys() | state.failures.keys() | state.abandoned.keys()
        return [
            c for c in state.candidates.values() if c.id not in done and c.id not in state.cells
        ]

    def free_channels(self) -> list[int]:
        """Channels no cell of any campaign holds and nothing runs on; none while the cycler
        cannot be reached (it reboots: the loop goes on polling, and a cycler still gone after
        `MAX_STRIKES` asks in a row raises)."""
        busy = {cell.assembled.channel for cell in self.running().values()}
        try:
            free = [
                n
                for n in range(1, self.rig.cycler.channel_count() + 1)
                if n not in busy
                and self.rig.leases.held(self._resource(n)) is None
                and self.rig.cycler.status(n).state != "RUNNING"  # a test nobody leased
            ]
        except InstrumentError as exc:
            self._unreachable += 1
            if self._unreachable >= MAX_STRIKES:
                raise
            logger.warning(
                "cycler: %s (%d of %d); no channel counts as free",
                exc,
                self._unreachable,
                MAX_STRIKES,
            )
            return []
        self._unreachable = 0
        return free

    def may_propose(self) -> bool:
        """Budget left, nobody waiting, every running cell heard from, and a free channel
        (asked of the cycler last: the rest is in memory)."""
        if self.campaign.done() or self.waiting():
            return False
        heard = all(cell.interim or cell.finished for cell in self.running().values())
        return heard and bool(self.free_channels())

    def propose(self) -> list[Candidate]:
        return self.campaign.propose(limit=len(self.free_channels()))

    # -- one cell ------------------------------------------------------------------------

    def set_up(self, candidate: Candidate) -> None:
        """Dose, measure, fill a cell, lease a channel and start its first phase."""
        self.campaign.check_runnable(candidate)
        try:
            dosing, measurement = self.samples.sample(candidate, self.campaign)
        except TrialFailed as failed:
            self.campaign.fail(candidate, failed.reason)
            return
        leased = self._held_channel(candidate.id) or self._lease_channel(candidate)
        if leased is None:  # another campaign took the last one meanwhile: wait for one
            logger.info("no free cycler channel for %s yet", candidate.id)
            return
        channel, lease_taken = leased
        cell_id = f"{self.campaign.id}-{candidate.id}"
        step = ManualStep(
            key=f"assemble-{candidate.id}",
            title=f"Build cell {candidate.id} on channel {channel}",
            instructions=(
                f"Fill a {self.spec.cell_capacity * 1000:g} mAh {self.spec.chemistry} cell with "
                f"the electrolyte of candidate **{candidate.id}** (vial dosed "
                f"{sum(dosing.dosed_masses.values()):.3f} g, {measurement.value:.2f} mS/cm), "
                f"crimp it, put it on cycler channel **{channel}** and enter the electrolyte "
                "volume in µL."
            ),
            fields={"electrolyte_volume": (40.0, 10.0, 200.0)},
        )
        confirmed = any(done.step == step.key for done in self.campaign.state.manual_steps)
        try:
            if self.campaign.manual is not None and self.rig.confirm_assembly and not confirmed:
                response = self.campaign.manual(step)
                self.campaign.record_manual_step(step, {**response, "channel": channel})
            if self.rig.cells is not None:
                self.rig.cells.assemble(channel, dosing, measurement, self.spec.cell_capacity)
        except BaseException:
            self.rig.leases.release(lease_taken)
            raise
        self.campaign.record(
            CellAssembled(
                candidate_id=candidate.id,
                cell_id=cell_id,
                cycler=self.rig.cycler_address,
                channel=channel,
                capacity=self.spec.cell_capacity,
            )
        )
        self._start_phase(candidate.id, 0)
        self.say(
            f"cell {candidate.id}: {measurement.value:.2f} mS/cm, on channel {channel}, "
            f"{self.phases[0].name} started"
        )

    def poll(self) -> None:
        """Store every running cell's new records and move each cell on.

        A lost link or a timeout is waited out (the cycler keeps cycling and recording: the
        next poll fetches what was missed). Any other instrument error (answers that cannot be
        parsed, records beyond what the safety limits allow) is given `MAX_STRIKES` polls in
        a row; then the cell's data cannot be trusted: its channel is stopped and the cell
        failed with the error, so the campaign goes on without it.
        """
        for candidate_id in list(self.running()):
            try:
                self._poll_cell(candidate_id)
            except (ConnectionLost, InstrumentTimeout) as exc:
                logger.warning("cell %s: %s; polled again later", candidate_id, exc)
            except InstrumentError as exc:
                strikes = self._strikes.get(candidate_id, 0) + 1
                self._strikes[candidate_id] = strikes
                logger.warning("cell %s: %s (%d of %d)", candidate_id, exc, strikes, MAX_STRIKES)
                if strikes >= MAX_STRIKES:
                    self._give_up(candidate_id, exc)
            else:
                self._strikes.pop(candidate_id, None)

    def _give_up(self, candidate_id: str, error: InstrumentError) -> None:
        channel = self.campaign.state.cells[candidate_id].assembled.channel
        try:
            self.rig.cycler.stop(channel)
        except InstrumentError as exc:  # its own safety limits still guard the cell
            logger.warning("cell %s: could not stop channel %d: %s", candidate_id, channel, exc)
        why = f"cycler channel {channel}: {MAX_STRIKES} polls in a row failed, last: {error}"
        self._step(candidate_id, "failed", lambda: self._fail_cell(candidate_id, why))

    def _poll_cell(self, candidate_id: str) -> None:
        state = self.campaign.state
        cell = state.cells[candidate_id]
        channel = cell.assembled.channel
        self._renew_lease(candidate_id, channel)
        status = self.rig.cycler.status(channel)
        new = self._store_records(cell) if cell.phases else []
        temperature = self.campaign.spec.temperature  # type: ignore[attr-defined]
        for alert in record_alerts(candidate_id, new, temperature, self.spec.window):
            self._raise(alert)
        if cell.finished is not None:  # recorded before STOP: make sure it stopped, then end
            if status.state == "RUNNING":
                self.rig.cycler.stop(channel)
                self._store_records(cell)
            self._step(candidate_id, "end", lambda: self._end_cell(candidate_id))
            return
        if not cell.phases:  # the process died between building the cell and its formation
            self._step(
                candidate_id, self.phases[0].name, lambda: self._start_phase(candidate_id, 0)
            )
            return
        phase = cell.phases[-1]
        if status.state != "RUNNING" and self.rig.cycler.record_count(channel) == phase.first_index:
            self.rig.cycler.start(channel)  # loaded and recorded, START never arrived
            return
        if status.state in ("FAULT", "IDLE"):
            why = (
                f"cycler channel {channel} tripped: {status.reason}"
                if status.state == "FAULT"
                else f"cycler channel {channel} was stopped by someone else"
            )
            if status.state == "FAULT":
                self._raise(Alert(CHANNEL_TRIPPED, candidate_id, why))
            self._step(candidate_id, "failed", lambda: self._fail_cell(candidate_id, why))
            return
        if phase.phase == "cycling" and any(r.step in self._closing_steps for r in new):
            self._report(candidate_id, self._stats(candidate_id))  # a cycle completed
            if self.campaign.state.cells[candidate_id].finished is not None:
                self._poll_cell(candidate_id)  # stop it now
                return
        if status.state == "DONE":
            number = [p.name for p in self.phases].index(phase.phase)
            if number + 1 < len(self.phases):
                following = self.phases[number + 1].name
                self._step(
                    candidate_id, following, lambda: self._start_phase(candidate_id, number + 1)
                )
                self.say(f"cell {candidate_id}: {following} started")
            else:
                self._finish(candidate_id, f"completed {self.spec.cycles} cycles", early=False)
                self._step(candidate_id, "end", lambda: self._end_cell(candidate_id))

    def _raise(self, alert: Alert) -> None:
        """Record an alert (once per rule and cell) and say it in the run's log."""
        if self.campaign.alert(alert):
            self.say(alert.line())

    def _report(self, candidate_id: str, stats: Sequence[CycleStats]) -> None:
        """Interim estimates at checkpoints, the stop rule, and the capacity floor."""
        cycling = [s for s in stats if s.phase == "cycling"]
        if not cycling:
            return
        first = cycling[0].discharge_capacity
        if first > 0 and cycling[-1].discharge_capacity < self.spec.capacity_floor * first:
            self._finish(
                candidate_id,
                f"capacity {cycling[-1].discharge_capacity / first:.3f} of cycle 1 at cycle "
                f"{len(cycling)}: below the floor {self.spec.capacity_floor}",
                early=False,
            )
            return
        cell = self.campaign.state.cells[candidate_id]
        told = max((i.cycle for i in cell.interim), default=0)  # covers checkpoints up to it
        if any(told < c <= len(cycling) for c in self.spec.checkpoints):
            self._step(
                candidate_id,
                f"cycle-{len(cycling)}",
                lambda: self._checkpoint(candidate_id, stats, len(cycling)),
            )

    def _checkpoint(self, candidate_id: str, stats: Sequence[CycleStats], cycles: int) -> None:
        """Tell the planner what the cell predicts now, and stop it if it is clearly poor."""
        values = cell_values(stats, self.spec, final=False)
        self.campaign.record(
            InterimObservation(candidate_id=candidate_id, cycle=cycles, values=values)
        )
        self.campaign.port.tell_interim(candidate_id, values)
        summary = ", ".join(f"{k} {v.mean:.4f} ± {v.std:.4f}" for k, v in sorted(values.items()))
        self.say(f"cell {candidate_id}: cycle {cycles}, planner told {summary}")
        retention = values.get("retention")
        if self.spec.stop_early and retention is not None:
            decision = stop_rule(  # 90 % intervals: this cell's upper vs the best's lower
                retention,
                floor=self.spec.capacity_floor,
                best=self._best_retention(candidate_id),
                target_cycle=self.spec.cycles,
            )
            if decision.stop:
                self._finish(candidate_id, f"stopped early: {decision.reason}", early=True)

    def _best_retention(self, excluded: str) -> Estimate | None:
        """The other cells' best retention: measured, or the latest interim estimate."""
        state = self.campaign.state
        best: Estimate | None = None
        for candidate_id, cell in state.cells.items():
            if candidate_id == excluded or candidate_id in state.failures:
                continue
            estimate: Estimate | None = None
            observed = state.observations.get(candidate_id)
            if observed is not None and "retention" in observed.values:
                estimate = measured_retention(observed.values["retention"])
            elif cell.interim and "retention" in cell.interim[-1].values:
                estimate = cell.interim[-1].values["retention"]
            if estimate is not None and (best is None or estimate.mean > best.mean):
                best = estimate
        return best

    def _step(self, candidate_id: str, what: str, action: Callable[[], None]) -> None:
        self.step(f"{candidate_id}-{what}", action)

    def _finish(self, candidate_id: str, reason: str, *, early: bool) -> None:
        self.campaign.record(CellFinished(candidate_id=candidate_id, reason=reason, early=early))
        self.say(f"cell {candidate_id}: {reason}")

    def _end_cell(self, candidate_id: str) -> None:
        """The cell's test is over and its records stored: observe it and free its channel."""
        state = self.campaign.state
        candidate = state.candidates[candidate_id]
        dosing = state.dosings[candidate_id]
        measurement = state.measurements[candidate_id][-1]
        cell = state.cells[candidate_id]
        phases = self._phase_data(cell)
        stats = summarize(phases)
        cycling = [s for s in stats if s.phase == "cycling"]
        if len(cycling) < 3:
            self._fail_cell(candidate_id, f"ended after {len(cycling)} cycling cycles; need 3")
            return
        values = cell_values(stats, self.spec, final=True)
        outcome = self.samples.outcome(
            dosing,
            measurement,
            {name: estimate.mean for name, estimate in values.items()},
            {name: estimate.std for name, estimate in values.items()},
            series=_series(stats),
            artifacts=self._artifacts(cell, phases),
        )
        self.campaign.observe(candidate, outcome)
        self._release(candidate_id)

    def _fail_cell(self, candidate_id: str, reason: str) -> None:
        self.say(f"cell {candidate_id} FAILED: {reason}")
        cell = self.campaign.state.cells[candidate_id]
        phases = self._phase_data(cell)
        self.campaign.fail(
            self.campaign.state.candidates[candidate_id],
            reason,
            series=_series(summarize(phases)),
            artifacts=self._artifacts(cell, phases),
        )
        self._release(candidate_id)

    def _artifacts(self, cell: CellState, phases: Sequence[PhaseData]) -> list[Path]:
        if self.rig.artifacts is None:
            return []
        return self.rig.artifacts(cell.assembled.cell_id, phases)

    # -- records -------------------------------------------------------------------------

    def _store_records(self, cell: CellState) -> list[CycleRecord]:
        """Fetch and store every record the channel has beyond those stored, each under the
        phase whose START it follows; returns the new records of the cell's current phase."""
        campaign_id, cell_id = self.campaign.id, cell.assembled.cell_id
        first = cell.phases[0].first_index
        since = max(self.rig.records.next_index(campaign_id, cell_id), first)
        current: list[CycleRecord] = []
        while True:
            page, since = self.rig.cycler.fetch(cell.assembled.channel, since, PAGE)
            for number, phase in enumerate(cell.phases):
                last = number + 1 == len(cell.phases)
                end = None if last else cell.phases[number + 1].first_index
                part = [
                    r
                    for r in page
                    if r.index >= phase.first_index and (end is None or r.index < end)
                ]
                if part:
                    self.rig.records.append(
                        campaign_id, cell_id, phase.phase, part, first_index=first
                    )
                    current += part if last else []
            if len(page) < PAGE:
                return current

    def _phase_data(self, cell: CellState) -> list[PhaseData]:
        return cell_phase_data(self.rig.records, self.campaign.id, cell)

    def _stats(self, candidate_id: str) -> list[CycleStats]:
        cell = self.campaign.state.cells[candidate_id]
        return summarize(self._phase_data(cell))

    # -- phases and channels ---------------------------------------------------------------

    def _start_phase(self, candidate_id: str, number: int) -> None:
        """Load phase `number`, record it, then START (a lost START is redone on restart)."""
        cell = self.campaign.state.cells[candidate_id]
        channel = cell.assembled.channel
        phase = self.phases[number]
        self.rig.cycler.load(channel, phase.protocol)
        self.campaign.record(
            PhaseStarted(
                candidate_id=candidate_id,
                phase=phase.name,
                protocol=phase.protocol.wire(),
                roles=phase.roles,
                first_index=self.rig.cycler.record_count(channel),
            )
        )
        self.rig.cycler.start(channel)

    def _resource(self, channel: int) -> str:
        return f"{self.rig.cycler_address}#channel{channel}"

    def _holder(self, candidate_id: str) -> str:
        return f"{self.campaign.id}/cell/{candidate_id}"

    def _held_channel(self, candidate_id: str) -> tuple[int, Lease] | None:
        """The channel this candidate's cell leased before a restart cut its set-up short."""
        holder, prefix = self._holder(candidate_id), self._resource(0)[:-1]
        for lease in self.rig.leases.all():
            if lease.holder == holder and lease.resource.startswith(prefix):
                return int(lease.resource.removeprefix(prefix)), lease
        return None

    def _lease_channel(self, candidate: Candidate) -> tuple[int, Lease] | None:
        for channel in self.free_channels():
            try:
                taken = self.rig.leases.acquire(
                    self._resource(channel),
                    self._holder(candidate.id),
                    self.rig.channel_lease_ttl,
                    note=f"cell {candidate.id}",
                )
            except LeaseHeld:
                continue
            return channel, taken.lease
        return None

    def _renew_lease(self, candidate_id: str, channel: int) -> None:
        """Re-take the channel's lease as the cell's holder (a restart re-attaches here), at
        most every `LEASE_RENEWAL` s: it lasts days, and polls come many times a second."""
        now = time.monotonic()
        if now - self._renewed.get(candidate_id, -math.inf) < LEASE_RENEWAL:
            return
        self.rig.leases.acquire(
            self._resource(channel),
            self._holder(candidate_id),
            self.rig.channel_lease_ttl,
            note=f"cell {candidate_id}",
        )
        self._renewed[candidate_id] = now

    def _release(self, candidate_id: str) -> None:
        self.rig.leases.release_holder(self._holder(candidate_id))


def cell_phase_data(records: CellRecordStore, campaign_id: str, cell: CellState) -> list[PhaseData]:
    """A cell's stored records grouped by phase, as `summarize` takes them (all but the last
    phase are done)."""
    stored = records.records(campaign_id, cell.assembled.cell_id)
    data = []
    for number, started in enumerate(cell.phases):
        phase_records = tuple(r for phase, r in stored if phase == started.phase)
        later = number + 1 < len(cell.phases)
        data.append(
            PhaseData(name=started.phase, roles=started.roles, records=phase_records, done=later)
        )
    return data


def _series(stats: Sequence[CycleStats]) -> dict[str, list[tuple[int, float]]]:
    """Per-cycle metrics for the tracker (step = the cell's global cycle number)."""
    series: dict[str, list[tuple[int, float]]] = {}
    for s in stats:
        for name, value in (
            ("cycle_discharge_capacity", s.discharge_capacity * 1000.0),
            ("cycle_charge_capacity", s.charge_capacity * 1000.0),
            ("cycle_coulombic_efficiency", s.coulombic_efficiency),
            ("cycle_resistance", s.resistance),
            ("cycle_mean_discharge_voltage", s.mean_discharge_voltage),
        ):
            if math.isfinite(value):
                series.setdefault(name, []).append((s.cycle, value))
    return series


@dataclass(frozen=True)
class CellSteps:
    """How `drive_cells` performs each step: plain calls, or Prefect tasks in the flow."""

    propose: Callable[[], list[Candidate]]
    set_up: Callable[[Candidate], None]
    poll: Callable[[], None]
    conclude: Callable[[list[Candidate]], None]
    review: Callable[[list[Candidate]], None] | None = None
    before_step: Callable[[], None] = lambda: None


def drive_cells(loop: CyclingLoop, steps: CellSteps) -> None:
    """Poll the cells, conclude batches whose cells all ended, set up waiting candidates one
    at a time (each after a review in approval mode), propose when `may_propose`, and sleep a
    poll interval when there is nothing to do; until the budget is spent and every cell ended.
    """
    campaign = loop.campaign
    while True:
        steps.before_step()
        steps.poll()
        for batch in campaign.state.open_batches():
            state = campaign.state
            ended = state.observations.keys() | state.failures.keys() | state.abandoned.keys()
            if not all(c.id in ended for c in batch):
                break
            steps.conclude(batch)
        state = campaign.state
        if state.finished is not None:
            return
        waiting = loop.waiting()
        if waiting and loop.free_channels():
            candidate = waiting[0]
            batch = [state.candidates[c] for c in state.batches[state.iteration_of(candidate.id)]]
            if steps.review is not None and campaign.needs_review(batch):
                steps.review(batch)
            else:
                steps.before_step()
                steps.set_up(candidate)
            continue  # poll the running cells between set-ups
        if loop.may_propose():
            steps.propose()
            continue
        if campaign.done() and not loop.running() and not waiting:
            return
        loop.rig.clock.sleep(loop.spec.poll_interval)
