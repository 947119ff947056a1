"""Benchtop conductivity meter with a temperature probe and temperature compensation, over SCPI.

Sources: IEEE 488.2-1992 §10.14 (``*IDN?``), §10.19 (``*OPC?``: answers ``1`` once pending
operations are complete) and §10.32 (``*RST``; calibration data such as the cell constant
survives it); SCPI-1999 Vol. 1 ch. 3 (``MEASure:<function>?`` configures, triggers and returns
one reading; ``INITiate`` starts an acquisition whose data ``FETCh:<function>?`` returns without
measuring again), Vol. 1 §7.2.1 (NR3 numbers; 9.9E+37 is +INF, 9.91E+37 is NAN, meaning over
range or no valid reading), Vol. 1 §7.3 (booleans: ``ON|OFF|1|0`` sent, ``1|0`` answered),
Vol. 2 §21.8 (``SYSTem:ERRor[:NEXT]?`` pops ``<code>,"<message>"``, ``0,"No error"`` when the
queue is empty). Every line ends with LF.

Temperature compensation (``[SENSe:]CONDuctivity:TCOMPensation``) is a command set of our
design modelled on the settings benchtop conductivity meters expose (cell constant, linear
temperature coefficient α in %/K, reference temperature 20 or 25 °C, compensation on/off: e.g.
Greisinger G 7500 operating manual §6.5; Mettler-Toledo SevenExcellence; Yokogawa SC72 §7.3),
written as SCPI ``SENSe`` nodes. The linear law is the one these meters and ISO 7888:1985 /
EN 27888 (water quality, electrical conductivity) apply::

    κ(T_ref) = κ(T) / (1 + α/100 · (T − T_ref))

with κ(T) the raw conductivity at the probe temperature T. For natural waters α ≈ 2 %/K. For
battery electrolytes compensation is usually OFF: the sample is thermostatted (a thermal chamber
or a jacketed cell) and the conductivity is reported at the temperature it was measured at,
because a single α does not describe a concentrated non-aqueous electrolyte.

Units: the meter answers conductivity in S/m (the SI unit SCPI instruments default to) and
temperature in °C; cell constants are in cm⁻¹, as printed on every cell. The driver returns
conductivity in mS/cm (1 S/m = 10 mS/cm), the unit `electroloop.models` declares.

The driver builds on `electroloop.instruments.scpi.ScpiInstrument`; the SCPI helpers there
(`ScpiLink`, `ScpiError`, the parsers) are re-exported here, where they were first written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from electroloop.errors import DeviceFault
from electroloop.instruments.scpi import (
    ScpiError,
    ScpiInstrument,
    ScpiLink,
    check_range,
    format_number,
    parse_boolean,
    parse_error,
    parse_identity,
    parse_number,
)
from electroloop.instruments.transport import MessageResource, escape

__all__ = [
    "CalibrationDrift",
    "ConductivityMeter",
    "ConductivityReading",
    "MeterError",
    "ScpiError",
    "ScpiLink",
    "TemperatureCompensation",
    "check_range",
    "format_number",
    "parse_boolean",
    "parse_error",
    "parse_identity",
    "parse_number",
]

S_PER_M_TO_MS_PER_CM = 10.0


class MeterError(ScpiError):
    """The meter's SCPI error queue held one or more errors."""

    instrument = "conductivity meter"


class CalibrationDrift(DeviceFault):
    """A check standard read outside its tolerance: the cell or the meter has drifted."""


@dataclass(frozen=True)
class TemperatureCompensation:
    """Linear temperature compensation: `coefficient` α in %/K, `reference` T_ref in °C."""

    enabled: bool = False
    coefficient: float = 2.0
    reference: float = 25.0


@dataclass(frozen=True)
class ConductivityReading:
    """One acquisition: displayed and raw conductivity (mS/cm), probe temperature (°C).

    `conductivity` is referred to the reference temperature when compensation is ON and equals
    `raw_conductivity` (at `temperature`) when it is OFF.
    """

    conductivity: float
    raw_conductivity: float
    temperature: float


class ConductivityMeter(ScpiInstrument):
    """A SCPI conductivity meter: conductivity in mS/cm and sample temperature in °C.

    Settings are validated against the class ranges before anything is sent and read back
    after. `measurement_timeout` (s) bounds how long ``*OPC?`` may take to confirm an
    acquisition. Open the resource with `TERMINATIONS`.
    """

    PARSER_VERSION: ClassVar[str] = "1"
    """How this driver reads the instrument's replies: bump it when a parser changes, so every
    measurement records which parsing produced it."""

    CELL_CONSTANT_RANGE = (0.01, 100.0)  # cm⁻¹: two-pole 0.01–1 cells to 10 cm⁻¹ high-range
    COEFFICIENT_RANGE = (0.0, 10.0)  # %/K, the linear-compensation range meters accept
    REFERENCE_RANGE = (15.0, 30.0)  # °C, around the usual 20 and 25 °C references

    def __init__(
        self,
        resource: MessageResource,
        *,
        max_errors: int = 20,
        measurement_timeout: float = 10.0,
    ) -> None:
        super().__init__(resource, "conductivity meter", MeterError, max_errors=max_errors)
        self.measurement_timeout = measurement_timeout

    # -- readings ------------------------------------------------------------------------

    def conductivity(self) -> float:
        """Conductivity of the sample, mS/cm (``MEAS:COND?`` answers S/m).

        Compensated to the reference temperature when compensation is ON, raw when OFF.
        """
        return self._number("MEAS:COND?") * S_PER_M_TO_MS_PER_CM

    def temperature(self) -> float:
        """Sample temperature from the probe, °C (``MEAS:TEMP?``)."""
        return self._number("MEAS:TEMP?")

    def reading(self) -> ConductivityReading:
        """One acquisition read three ways, so raw, compensated and T belong together.

        ``INIT``, ``*OPC?`` (waits for the acquisition), then ``FETC:COND?``,
        ``FETC:COND:RAW?`` and ``FETC:TEMP?`` (SCPI-1999 Vol. 1 ch. 3).
        """
        self._write("INIT")
        done = self._query("*OPC?", timeout=self.measurement_timeout)
        if done != "1":
            raise DeviceFault(f"conductivity meter answered '*OPC?' with {escape(done)!r}")
        return ConductivityReading(
            conductivity=self._number("FETC:COND?") * S_PER_M_TO_MS_PER_CM,
            raw_conductivity=self._number("FETC:COND:RAW?") * S_PER_M_TO_MS_PER_CM,
            temperature=self._number("FETC:TEMP?"),
        )

    def verify_standard(self, expected: float, tolerance: float = 0.02) -> float:
        """Measure a check standard of known conductivity (mS/cm); the reading.

        Raises `CalibrationDrift` when it is off by more than `tolerance` (relative), e.g. KCl
        0.01 mol/L, 1.413 mS/cm at 25 °C (OIML R 56), read within 2 % before a campaign.
        """
        check_range("expected conductivity", expected, 1e-6, 2000.0, "mS/cm")
        check_range("tolerance", tolerance, 0.0, 1.0, "(relative)")
        value = self.conductivity()
        if abs(value / expected - 1.0) > tolerance:
            raise CalibrationDrift(
                f"check standard of {expected} mS/cm read {value:.5g} mS/cm "
                f"({(value / expected - 1.0) * 100:+.2f} %; allowed ±{tolerance * 100:g} %)"
            )
        return value

    # -- settings ------------------------------------------------------------------------

    def cell_constant(self) -> float:
        """Cell constant the meter applies, cm⁻¹ (``SENS:COND:CELL?``)."""
        return self._number("SENS:COND:CELL?")

    def set_cell_constant(self, value: float) -> float:
        """Set the cell constant (cm⁻¹) from the cell's certificate; the read-back value."""
        check_range("cell constant", value, *self.CELL_CONSTANT_RANGE, "cm⁻¹")
        return self._set_number("SENS:COND:CELL", value)

    def compensation(self) -> TemperatureCompensation:
        """The temperature compensation in force (three queries)."""
        return TemperatureCompensation(
            enabled=self._boolean("SENS:COND:TCOMP?"),
            coefficient=self._number("SENS:COND:TCOMP:COEF?"),
            reference=self._number("SENS:COND:TCOMP:REF?"),
        )

    def set_compensation(self, setting: TemperatureCompensation) -> TemperatureCompensation:
        """Apply `setting` (α and T_ref first, then ON/OFF); the read-back setting.

        Every value is checked before the first command is sent.
        """
        check_range("compensation coefficient", setting.coefficient, *self.COEFFICIENT_RANGE, "%/K")
        check_range("reference temperature", setting.reference, *self.REFERENCE_RANGE, "°C")
        coefficient = self._set_number("SENS:COND:TCOMP:COEF", setting.coefficient)
        reference = self._set_number("SENS:COND:TCOMP:REF", setting.reference)
        self._set_boolean("SENS:COND:TCOMP", setting.enabled)
        return TemperatureCompensation(setting.enabled, coefficient, reference)
