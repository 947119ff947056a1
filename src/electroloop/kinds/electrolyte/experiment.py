"""One conductivity experiment: fresh vial → gravimetric dosing → conductivity reading.

Traffic logs are drained before each step, so every record carries exactly the raw bytes that
produced it, hashed, beside the parsed number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from electroloop import __version__
from electroloop.kinds.electrolyte.recipes import as_dosed, target_masses
from electroloop.models import Candidate, DosingRecord, Measurement, Stock
from electroloop.orchestrator.protocols import (
    BottleRack,
    ConductivityProbe,
    DosingStation,
    TrafficLog,
    VialHandler,
)


@dataclass
class ConductivityExperiment:
    """Prepares a sample of a candidate and measures its ionic conductivity."""

    dosing: DosingStation
    probe: ConductivityProbe
    vials: VialHandler
    stocks: Sequence[Stock]
    salt_molar_mass: float
    sample_mass: float
    dosing_traffic: Sequence[TrafficLog]
    probe_traffic: TrafficLog
    bottles: BottleRack | None = None
    """Mirrors a person's refill into a simulated lab's bottles (None: real bottles)."""
    bottle_capacity: float = field(default=500.0)
    """Most a stock bottle holds, g (the refill form's upper bound)."""

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

    def recover(self, record: DosingRecord) -> bool:
        """Bring back the vial of a dosing that a crash left unmeasured; False if it is gone."""
        return self.vials.recover_vial(record.dosed_masses)

    def prepare(self, candidate: Candidate) -> DosingRecord:
        """Dose the candidate into a fresh vial; the record holds the weighed masses."""
        formulation = candidate.formulation
        targets = self.targets(candidate)
        for log in self.dosing_traffic:
            log.take()
        self.vials.present_fresh_vial()
        dosed = self.dosing.dose(targets)
        transcripts = tuple(t for t in (log.take() for log in self.dosing_traffic) if t.text)
        return DosingRecord(
            candidate_id=candidate.id,
            target_masses=targets,
            dosed_masses=dosed,
            as_dosed=as_dosed(
                dosed, self.stocks, formulation.salt, self.salt_molar_mass, formulation.temperature
            ),
            transcripts=transcripts,
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
            parser_version=__version__,
            transcript=self.probe_traffic.take(),
        )
