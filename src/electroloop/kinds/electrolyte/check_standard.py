"""The meter's check standard: a certified KCl solution read in the meter cell every few samples,
so a drifting meter or a fouled cell stops the campaign instead of skewing every result after it.

This is continuing calibration verification as water-quality laboratories practise it (a check
standard after every few samples, samples since the last passing check re-measured once the
instrument is fixed: the continuing calibration verification of US EPA SW-846 methods; ASTM
D1125 and US EPA Method 120.1 check a conductivity cell against KCl standards). A
check reads the standard `readings` times and compares the mean with the certificate's value at
the probe's temperature: the simulated meter's noise is 0.5 % per reading (`sim.meter`), so the
mean of three has a standard deviation of 0.29 % and the default ±1 % tolerance is 3.5 σ, while
a real benchtop meter is specified to ±0.5 % of reading (e.g. Thermo Orion Star A212 data sheet).
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import fmean

import numpy as np

from electroloop.errors import ConfigError
from electroloop.orchestrator.alerts import Alert, AlertRule
from electroloop.orchestrator.events import StandardChecked
from electroloop.protocols import ConductivityProbe

__all__ = [
    "KCL_1413",
    "METER_DRIFT",
    "STANDARDS",
    "STANDARD_LABEL",
    "CertifiedStandard",
    "check_meter",
    "drift_alert",
]


class CertifiedStandard:
    """A conductivity standard and its certificate: conductivity (mS/cm) at each temperature."""

    def __init__(self, name: str, table: Sequence[tuple[float, float]]) -> None:
        self.name = name
        self.temperatures = np.array([t for t, _ in table])
        self.values = np.array([k for _, k in table])

    def conductivity(self, temperature: float) -> float:
        """The certified conductivity at `temperature` °C (linear between certificate rows);
        ConfigError outside the certificate's range."""
        low, high = float(self.temperatures[0]), float(self.temperatures[-1])
        if not low <= temperature <= high:
            raise ConfigError(
                f"check_standard: {self.name} is certified from {low:g} to {high:g} °C, not "
                f"at {temperature:.1f} °C (set check_standard.every = 0 in the lab file to "
                "run without checks)"
            )
        return float(np.interp(temperature, self.temperatures, self.values))


KCL_1413 = CertifiedStandard(
    "KCl 0.01 mol/L, 1.413 mS/cm at 25 °C",
    [(10.0, 1.020), (15.0, 1.147), (20.0, 1.278), (25.0, 1.413), (30.0, 1.548)],
)
"""The commonest conductivity check standard (0.01 mol/L KCl). Values from the temperature
table printed on commercial 1413 µS/cm standards (e.g. Hanna Instruments HI7031)."""

METER_DRIFT = AlertRule(
    "meter-drift",
    "ticket",
    "the conductivity meter read its check standard outside tolerance",
    "docs/runbooks/meter-drift.md",
)
STANDARD_LABEL = "STD-KCL-1413"
"""The standard's vial label; it stands in its own holder (`STANDARDS`) between checks."""
STANDARDS = "standards"


def check_meter(
    probe: ConductivityProbe, readings: int, tolerance: float, measured_before: int
) -> StandardChecked:
    """Read the standard (already in the meter cell) `readings` times; the check's record."""
    values = tuple(probe.conductivity() for _ in range(readings))
    temperature = probe.temperature()
    expected = KCL_1413.conductivity(temperature)
    error = fmean(values) / expected - 1.0
    return StandardChecked(
        standard=KCL_1413.name,
        vial=STANDARD_LABEL,
        temperature=temperature,
        expected=expected,
        readings=values,
        tolerance=tolerance,
        passed=abs(error) <= tolerance,
        measured_before=measured_before,
    )


def drift_alert(check: StandardChecked, suspect: Sequence[str], number: int) -> Alert:
    """The ticket for a failed check, naming the samples measured since the last passing one
    (to re-measure once the meter is fixed)."""
    mean = fmean(check.readings)
    since = ", ".join(suspect) or "none"
    return Alert(
        METER_DRIFT,
        f"meter (check {number})",
        f"{check.standard} read {mean:.4g} mS/cm at {check.temperature:.1f} °C against "
        f"{check.expected:.4g} ({(mean / check.expected - 1.0) * 100:+.2f} %; allowed "
        f"±{check.tolerance * 100:g} %); measured since the last passing check: {since}",
    )
