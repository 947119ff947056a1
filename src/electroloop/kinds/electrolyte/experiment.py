"""One conductivity experiment: a fresh vial from the rack → gravimetric dosing on the balance →
conductivity reading in the meter cell → back to its rack slot.

Dosing and measuring are two steps, each holding only its own instruments while it runs
(`orchestrator.step_leases`), so campaigns that share a bench take turns step by step. On a
bench that may be shared the vial waits in its slot between the two steps: a campaign waiting
for the meter leaves the balance free.

Each fact is stored as soon as it exists: every vial move once done, `DosingStarted` before
liquid moves, the dosing record once weighed, the measurement once read. A trial resumed after
a crash therefore never doses a candidate twice: a vial dosed but not measured is found and
measured, a dosing cut off half-way is redone in a fresh vial (the half-dosed one goes to
waste), and a measured sample is not measured again.

Traffic logs are drained before each step, so every record carries exactly the raw bytes that
produced it, hashed, beside the parsed number.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from electroloop.errors import CampaignHalted, InstrumentError
from electroloop.kinds.electrolyte.check_standard import (
    STANDARD_LABEL,
    STANDARDS,
    check_meter,
    drift_alert,
)
from electroloop.kinds.electrolyte.metrics import derived_metrics
from electroloop.kinds.electrolyte.recipes import as_dosed, target_masses
from electroloop.models import Candidate, DosingRecord, Formulation, Measurement, SearchSpace, Stock
from electroloop.orchestrator.closed_loop import Campaign, ManualStep
from electroloop.orchestrator.events import DosingRecorded, DosingStarted, MeasurementRecorded
from electroloop.orchestrator.experiment import Outcome, TrialFailed
from electroloop.orchestrator.rack import RackSlots, own_rack
from electroloop.orchestrator.samples import move_vial, new_vial
from electroloop.orchestrator.step_leases import DOSE, MEASURE, StepLeases
from electroloop.protocols import (
    BottleRack,
    ConductivityProbe,
    DosingStation,
    SampleHandler,
    TrafficLog,
)
from electroloop.samples import BALANCE, METER, WASTE
from electroloop.settings import CheckStandardSpec

logger = logging.getLogger(__name__)

METER_RELATIVE_ERROR = 0.005
"""Standard error of one conductivity reading, as a fraction of the reading: a benchtop meter's
specified accuracy, ±0.5 % of reading (Thermo Orion Star A212 data sheet), taken as one standard
deviation (the simulated meter's noise, `instruments.sim.meter`). Told to the planner with each
reading, so its model treats the reading as that noisy instead of guessing the noise."""


@dataclass
class ConductivityExperiment:
    """Prepares a sample of a candidate and measures its ionic conductivity."""

    space: SearchSpace
    dosing: DosingStation
    probe: ConductivityProbe
    samples: SampleHandler
    stocks: Sequence[Stock]
    salt_molar_mass: float
    sample_mass: float
    dosing_traffic: Sequence[TrafficLog]
    probe_traffic: TrafficLog
    bottles: BottleRack | None = None
    """Mirrors a person's refill into a simulated lab's bottles (None: real bottles)."""
    bottle_capacity: float = field(default=500.0)
    """Most a stock bottle holds, g (the refill form's upper bound)."""
    check_standard: CheckStandardSpec = field(default_factory=lambda: CheckStandardSpec(every=0))
    """How often the meter reads its certified standard (default here: never; a lab file's
    default: before every 4th sample)."""
    leases: StepLeases = field(default_factory=StepLeases)
    """The instruments the dose and measure steps hold (default: none, a bench to itself)."""
    rack: RackSlots = own_rack
    """Where each new vial stands (a shared bench hands its slots out lab-wide)."""
    park_between_steps: bool = False
    """Stand the dosed vial in its slot until the meter is free (a bench others may share)."""

    def check(self, design: Formulation) -> None:
        """ValueError naming the field if `design` lies outside the campaign's space."""
        self.space.check(design)

    def run(self, candidate: Candidate, campaign: Campaign) -> Outcome:
        """Dose and measure the candidate; its metrics are the reading and the derived ones."""
        return self.outcome(*self.sample(candidate, campaign))

    def outcome(
        self,
        dosing: DosingRecord,
        measurement: Measurement,
        more: Mapping[str, float] | None = None,
        more_errors: Mapping[str, float] | None = None,
        **records: Any,
    ) -> Outcome:
        """The sample's outcome: what was measured, what follows from what was weighed, and
        `more` metrics (a cell's, in a cycling campaign) with `more_errors`, their standard
        errors; `records` as `Outcome` takes them. The reading carries the meter's error
        (`METER_RELATIVE_ERROR`); derived metrics are exact functions of the weighed masses."""
        values = {
            measurement.quantity: measurement.value,
            **derived_metrics(self.space, dosing.as_dosed),
            **(more or {}),
        }
        errors = {
            measurement.quantity: METER_RELATIVE_ERROR * abs(measurement.value),
            **(more_errors or {}),
        }
        return Outcome(
            values=values,
            errors=errors,
            as_dosed=dosing.as_dosed,
            dosing=dosing,
            measurement=measurement,
            **records,
        )

    def sample(self, candidate: Candidate, campaign: Campaign) -> tuple[DosingRecord, Measurement]:
        """Dose a sample of the candidate and measure its conductivity, each fact stored as it
        exists (see the module docstring for a resumed trial); `TrialFailed` if an instrument
        failed or the vial of an interrupted trial is gone."""
        state = campaign.state
        if candidate.id in state.measurements and candidate.id in state.dosings:
            dosing = state.dosings[candidate.id]
            if dosing.vial in state.vials:  # a crash came before it went back to its slot
                with self.leases.step(MEASURE):
                    self._back_to_slot(campaign, dosing.vial, candidate)
            return dosing, state.measurements[candidate.id][-1]
        if candidate.id in state.dosings:  # the process died between dosing and measuring
            dosing = state.dosings[candidate.id]
            vial = dosing.vial or state.vial_of(candidate.id) or new_vial(campaign)[0]
            place = state.vials[vial].place if vial in state.vials else BALANCE
            with self.leases.step(DOSE if place == BALANCE else MEASURE):
                if not self.samples.find(vial, place, dosing.dosed_masses):
                    raise TrialFailed(f"interrupted after dosing; vial {vial} lost", dosing)
                if place == BALANCE and vial in state.vials and self.park_between_steps:
                    self._back_to_slot(campaign, vial, candidate)
        else:
            self._refill_if_short(candidate, campaign)
            with self.leases.step(DOSE):
                vial = self._vial_on_balance(candidate, campaign)
                campaign.record(DosingStarted(candidate_id=candidate.id))
                try:
                    dosing = self.prepare(candidate, vial)
                except InstrumentError as exc:
                    self._try_move(campaign, vial, WASTE, candidate)
                    raise TrialFailed(f"dosing failed: {exc}") from None
                campaign.record(DosingRecorded(record=dosing))
                if self.park_between_steps:
                    self._back_to_slot(campaign, vial, candidate)
        with self.leases.step(MEASURE):
            try:
                self._check_meter_if_due(campaign)
                move_vial(campaign, self.samples, vial, METER, candidate.id)
                measurement = self.measure(candidate)
            except InstrumentError as exc:
                self._back_to_slot(campaign, vial, candidate)
                raise TrialFailed(f"measurement failed: {exc}", dosing) from None
            campaign.record(MeasurementRecorded(measurement=measurement))
            self._back_to_slot(campaign, vial, candidate)
        return dosing, measurement

    def _check_meter_if_due(self, campaign: Campaign) -> None:
        """Read the check standard if it is due (first sample, every `every` samples, or the
        last check failed); a failed check is recorded, raises a meter-drift ticket and stops
        the campaign (`CampaignHalted`) before the sample is read, so no reading of a drifting
        meter is ever told to the planner."""
        spec, state = self.check_standard, campaign.state
        measured = list(state.measurements)
        checks = state.standard_checks
        if spec.every == 0 or (
            checks and checks[-1].passed and len(measured) - checks[-1].measured_before < spec.every
        ):
            return
        self.samples.move(STANDARD_LABEL, STANDARDS, METER)
        try:
            check = check_meter(self.probe, spec.readings, spec.tolerance, len(measured))
        finally:
            self.samples.move(STANDARD_LABEL, METER, STANDARDS)
        campaign.record(check)
        if check.passed:
            return
        last_passed = next((c for c in reversed(checks) if c.passed), None)
        since = measured[last_passed.measured_before :] if last_passed else measured
        alert = drift_alert(check, since, len(checks))
        if campaign.alert(alert):
            logger.warning(alert.line())
        raise CampaignHalted(
            f"campaign {campaign.id} stopped: {alert.message}; follow {alert.rule.runbook}, "
            "then resume it (the sample waiting to be read is read then)"
        )

    def _vial_on_balance(self, candidate: Candidate, campaign: Campaign) -> str:
        """An empty vial for the candidate, on the balance: the one a crash left there before
        dosing began, else a new one from the rack (a vial whose dosing was cut off goes to
        waste first)."""
        state = campaign.state
        vial = state.vial_of(candidate.id)
        if vial is not None and candidate.id not in state.dosing_started:
            if state.vials[vial].place == BALANCE:
                return vial
        elif vial is not None:
            self._try_move(campaign, vial, WASTE, candidate)
        vial, slot = new_vial(campaign, self.rack)
        try:
            move_vial(campaign, self.samples, vial, BALANCE, candidate.id, source=slot)
        except InstrumentError as exc:
            raise TrialFailed(f"vial {vial} did not reach the balance: {exc}") from None
        return vial

    def _back_to_slot(self, campaign: Campaign, vial: str, candidate: Candidate) -> None:
        """Stand the vial in its rack slot again (`_try_move`)."""
        self._try_move(campaign, vial, campaign.state.vials[vial].slot, candidate)

    def _try_move(self, campaign: Campaign, vial: str, target: str, candidate: Candidate) -> None:
        """Move a vial whose trial's facts are already stored (a measured sample back to its
        slot, a failed dose to waste); if the handler cannot, the vial stays where it is and
        the next trial takes a new one."""
        try:
            move_vial(campaign, self.samples, vial, target, candidate.id)
        except InstrumentError as exc:
            logger.warning("vial %s not moved to %s: %s", vial, target, exc)

    def targets(self, candidate: Candidate) -> dict[str, float]:
        """Stock name -> grams to dose for the candidate's sample."""
        return target_masses(
            candidate.formulation, self.stocks, self.salt_molar_mass, self.sample_mass
        )

    def shortfall(self, candidate: Candidate) -> dict[str, float]:
        """Stock name -> grams its bottle lacks for this candidate (empty: all there)."""
        return self.dosing.shortfall(self.targets(candidate))

    def refill(self, stock: str, mass: float) -> None:
        """Book a person's refill of a stock bottle (and mirror it on a simulated bench)."""
        self.dosing.refill(stock, mass)
        if self.bottles is not None:
            self.bottles.refill_bottle(stock, mass)

    def prepare(self, candidate: Candidate, vial: str) -> DosingRecord:
        """Dose the candidate into `vial` on the balance; the record holds the weighed masses,
        the lots they came from and what their bottles have left."""
        formulation = candidate.formulation
        targets = self.targets(candidate)
        for log in self.dosing_traffic:
            log.take()
        dosed = self.dosing.dose(targets)
        transcripts = tuple(t for t in (log.take() for log in self.dosing_traffic) if t.text)
        left = self.dosing.remaining
        lots = {s.name: s.lot for s in self.stocks if s.lot is not None and s.name in dosed}
        return DosingRecord(
            candidate_id=candidate.id,
            target_masses=targets,
            dosed_masses=dosed,
            as_dosed=as_dosed(
                dosed, self.stocks, formulation.salt, self.salt_molar_mass, formulation.temperature
            ),
            transcripts=transcripts,
            vial=vial,
            lots=lots,
            remaining={name: left[name] for name in dosed},
        )

    def measure(self, candidate: Candidate) -> Measurement:
        """Read the sample's conductivity at its temperature."""
        self.probe_traffic.take()
        temperature = self.probe.temperature()
        value = self.probe.conductivity()
        probe = type(self.probe)
        return Measurement(
            candidate_id=candidate.id,
            quantity="conductivity",
            value=value,
            unit="mS/cm",
            temperature=temperature,
            parser=f"{probe.__module__}.{probe.__qualname__}.conductivity",
            parser_version=self.probe.PARSER_VERSION,
            transcript=self.probe_traffic.take(),
        )

    def _refill_if_short(self, candidate: Candidate, campaign: Campaign) -> None:
        """Ask a person to refill each bottle too low for this candidate (if anyone is there).

        Without a person (`campaign.manual`) the dosing station refuses the dose itself and the
        trial fails.
        """
        if campaign.manual is None:
            return
        for stock, missing in self.shortfall(candidate).items():
            capacity = self.bottle_capacity
            step = ManualStep(
                key=f"refill-{stock}-{candidate.id}",
                title=f"Refill stock bottle {stock}",
                instructions=(
                    f"Stock **{stock}** is too low for candidate {candidate.id}: it needs "
                    f"{missing:.2f} g more. Top the bottle up with the same stock solution, "
                    "weigh what you added, enter the grams added and resume."
                ),
                fields={"added_mass": (round(capacity / 2, 1), round(missing, 3), capacity)},
            )
            response: Mapping[str, float] = campaign.manual(step)
            self.refill(stock, float(response["added_mass"]))
            campaign.record_manual_step(step, {**response, "stock": stock})
