"""Simulated Thermo Scientific Orion Star A215, conductivity channel, on its RS-232 protocol.

Speaks what `electroloop.instruments.orion_meter` documents (Orion Star A210 Series User Guide,
"Star A200-A300 Meter Remote Control Protocols"): a command ends with CR, line feeds are
ignored, case is not significant; the meter echoes the command (padded to 16 characters, as a
captured A215 reply shows), prints its answer and then the prompt ``> ``. Commands: ``GETMEAS
[n]``, ``GETCAL [mode]``, ``GETLOG``, ``SYSTEM``, ``SETCSV``; an empty command gets the prompt;
any other command fails to execute (echo and prompt only: the manual documents no error text).
The meter starts in its printer format (a readable block per record, a stand-in: the driver
only reads CSV) until ``SETCSV``. Records are those the driver's module docstring lays out
(18 fields, ``Cond`` mode); every printed record goes into the data log that ``GETLOG`` prints.

Physics, as `electroloop.instruments.sim.meter.MeterServer` has it: the cell sits in the vial
at the meter place of `bench` (else the one on the balance); the reading is the bench's true
conductivity at the bench temperature × (1 + ε), ε ~ N(0, `relative_noise` = 0.5 %), scaled by
the configured over the true cell constant, plus any drift; the temperature sensor reads the
bench temperature + N(0, `temperature_noise`). Both come from the bench's seeded ``meter``
stream, drawn in the SCPI meter's order, so either meter reads the same on the same seed. With
a compensation `coefficient` α > 0 (%/K) the meter prints κ / (1 + α/100 · (T − T_ref)) (the
linear law, ISO 7888:1985); the A215 default is off here, as electrolytes are thermostatted.
Units range automatically: µS/cm below 2000 µS/cm, mS/cm above, 4 significant digits.

Faults (`LineServer`): ERROR makes ``GETMEAS`` print dashes (``-----``) in place of the value,
as a probe fault or an over-range reading shows, and other commands fail; STUCK_BUSY makes
``GETMEAS`` and ``GETLOG`` never finish (a meter waiting for a stable reading); DRIFT adds
``drift × value`` to readings. A vial the physics model refuses also reads dashes.
"""

from __future__ import annotations

import math
import threading
from datetime import datetime

from electroloop.errors import SimulationError
from electroloop.instruments.sim.bench import SimulatedBench
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.server import LineServer

__all__ = ["OrionMeterServer", "format_value"]

NO_READING = "-----"
ECHO_WIDTH = 16  # the captured echo "GETMEAS" is padded to 16 characters


def format_value(value: float, digits: int = 4) -> str:
    """`value` with `digits` significant digits in fixed point (``1413``, ``10.83``, ``0.4750``),
    as the meter's display and print-out show numbers."""
    if value == 0.0 or not math.isfinite(value):
        return f"{value:.{digits - 1}f}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


class OrionMeterServer(LineServer):
    """One Orion Star A215 whose conductivity cell sits in the vial on `bench`.

    `cell_constant` is the true constant of the simulated cell (cm⁻¹); the meter starts
    calibrated to it (one point, KCl 1413 µS/cm at 25 °C). A ``GETMEAS`` record takes
    `measurement_time` seconds of `clock` time. `coefficient` (%/K, 0 = off) and `reference`
    (°C) are the temperature compensation set at the keypad; `channel` the conductivity input.
    """

    terminator = b"\r"
    reply_terminator = b"> "
    name = "orion-meter"

    def __init__(
        self,
        bench: SimulatedBench,
        *,
        serial: str = "X00001",
        firmware: str = "3.04",
        relative_noise: float = 0.005,
        temperature_noise: float = 0.05,
        cell_constant: float = 0.475,
        coefficient: float = 0.0,
        reference: float = 25.0,
        measurement_time: float = 0.0,
        channel: str = "CH-2",
        clock: SimClock | None = None,
        port: int = 0,
    ) -> None:
        self.bench = bench
        self.serial = serial
        self.firmware = firmware
        self.relative_noise = relative_noise
        self.temperature_noise = temperature_noise
        self.true_cell_constant = cell_constant
        self.cell_constant = cell_constant  # calibration data, from the last GETCAL point
        self.calibrated = True
        self.coefficient = coefficient
        self.reference = reference
        self.measurement_time = measurement_time
        self.channel = channel
        self.clock = clock if clock is not None else SimClock(1.0)
        self.csv = False  # power-up print format: printer
        self.log: list[str] = []  # CSV records, as GETLOG prints them
        self._state = threading.Lock()
        self._rng = bench.rng("meter")
        super().__init__(port=port, seed=bench.seed)

    # -- dispatch ------------------------------------------------------------------------

    def answer(self, line: str) -> str | None:
        command = line.replace("\n", "").strip()
        if not command:
            return ""  # an empty command: the prompt again
        opcode, *operands = command.upper().split()
        if opcode == "GETMEAS":
            count = _count(operands)
            if count is None:
                return self._frame(command, [])
            if self.stuck_busy:
                return None
            return self._frame(command, [self._measure() for _ in range(count)])
        if opcode == "GETLOG":
            if self.stuck_busy:
                return None
            with self._state:
                lines = list(self.log) if self.csv else [f"Data log  {len(self.log)} records"]
                return self._frame(command, lines if self.log else [])
        with self._state:
            if opcode == "SETCSV" and not operands:
                self.csv = True
                return self._frame(command, [])
            if opcode == "SYSTEM" and not operands:
                return self._frame(command, [self._system()])
            if opcode == "GETCAL" and operands in ([], ["COND"]):
                return self._frame(command, [self._calibration()] if self.calibrated else [])
        return self._frame(command, [])  # fails to execute

    def error_answer(self, line: str) -> str | None:
        """A probe fault: ``GETMEAS`` prints dashes for the value, other commands fail."""
        command = line.replace("\n", "").strip()
        if command.upper().split()[:1] == ["GETMEAS"]:
            temperature = self.bench.temperature
            return self._frame(command, [self._record(None, temperature)])
        return self._frame(command, [])

    # -- records -------------------------------------------------------------------------

    def _frame(self, command: str, lines: list[str]) -> str:
        """Echo, blank lines, one record a line, as the captured A215 reply (prompt follows)."""
        body = "".join(f"\r{line}\n\r" for line in lines)
        return f"{command.ljust(ECHO_WIDTH)}\r\n\r\n{body}\r"

    def _now(self) -> str:
        return datetime.now().strftime("%m/%d/%y %H:%M:%S")  # the meter's own clock

    def _measure(self) -> str:
        """Sample the bench, wait `measurement_time`, print (and log) one record."""
        with self._state:
            temperature = self.bench.temperature + float(
                self._rng.normal(0.0, self.temperature_noise)
            )
            try:
                true = self.bench.true_conductivity()  # mS/cm at the bench temperature
            except SimulationError:
                kappa = None
            else:
                noise = float(self._rng.normal(0.0, self.relative_noise))
                kappa = true * (1.0 + noise) * self.cell_constant / self.true_cell_constant
                kappa += self.drift * kappa
        self.clock.sleep(self.measurement_time)
        with self._state:
            return self._record(kappa, temperature)

    def _record(self, kappa: float | None, temperature: float) -> str:
        """One record for conductivity `kappa` (mS/cm at `temperature`; None: no reading)."""
        if kappa is None:
            shown, unit, conductance, g_unit = NO_READING, "uS/cm", NO_READING, "uS"
        else:
            conductance_us = kappa * 1000.0 / self.cell_constant  # G = κ / K, µS
            if self.coefficient > 0.0:
                kappa /= 1.0 + self.coefficient / 100.0 * (temperature - self.reference)
            micro = kappa * 1000.0
            shown, unit = (
                (format_value(micro), "uS/cm") if micro < 2000.0 else (format_value(kappa), "mS/cm")
            )
            conductance, g_unit = (
                (format_value(conductance_us), "uS")
                if conductance_us < 2000.0
                else (format_value(conductance_us / 1000.0), "mS")
            )
        self.log.append("")  # reserve the log number
        number = len(self.log)
        fields = [
            "A215 Cond",
            self.serial,
            self.firmware,
            "---",
            self._now(),
            "---",
            self.channel,
            "Cond",
            shown,
            unit,
            conductance,
            g_unit,
            f"{temperature:.1f}",
            "C",
            format_value(self.cell_constant),
            "/cm",
            "M100",
            f"#{number}",
        ]
        record = ",".join(fields)
        self.log[-1] = record
        if self.csv:
            return record
        return "\r\n".join(  # the printer format: a readable block (a stand-in)
            [
                f"A215 Cond  S/N {self.serial}  SW {self.firmware}",
                self._now(),
                f"{self.channel}  Cond",
                f"Conductivity  {shown} {unit}",
                f"Temperature  {temperature:.1f} C",
            ]
        )

    def _system(self) -> str:
        if self.csv:
            return f"A215,{self.serial},{self.firmware},{self._now()}"
        return f"Model A215  S/N {self.serial}  SW {self.firmware}  {self._now()}"

    def _calibration(self) -> str:
        fields = [
            "A215 Cond",
            self.serial,
            self.firmware,
            "---",
            self._now(),
            self.channel,
            "Cond",
            "1",
            format_value(self.cell_constant),
            "/cm",
            "1413",
            "uS/cm",
            "25.0",
            "C",
            f"{self.coefficient:.1f}",
            "%/C",
            f"{self.reference:.1f}",
            "C",
        ]
        if self.csv:
            return ",".join(fields)
        return f"Cond calibration  cell constant {fields[8]} /cm  1 point"


def _count(operands: list[str]) -> int | None:
    """``GETMEAS [n]``: the record count, or None when the operand is not one."""
    if not operands:
        return 1
    if len(operands) == 1 and operands[0].isdigit() and 1 <= int(operands[0]) <= 99:
        return int(operands[0])
    return None
