"""Thermo Scientific Orion Star A215 pH/conductivity benchtop meter, over its RS-232 port.

Source: Thermo Fisher Scientific, "Orion Star A210 Series Benchtop Meters User Guide", chapter
"Data Transfer and Software Updates", section "Star A200-A300 Meter Remote Control Protocols"
(the same section in the A220 portable series manual, p. 67): RS-232 (or the USB virtual COM
port) at 9600 baud, 8 data bits, no parity, 1 stop bit, no flow control; a command is
``OPCODE [OPERAND…]`` ended by CR; line feeds are ignored; commands are not case sensitive;
one command at a time, and the meter answers, then prints its prompt, ``>`` followed by a space,
before it takes the next. The commands used here, all of which only read (they move nothing):

- ``GETMEAS [n]`` prints the current measurement (``n`` times), ``GETCAL [mode]`` the stored
  calibration (nothing but the prompt when none is saved), ``GETLOG`` the data log, ``SYSTEM``
  model, serial number, software revision, date and time; ``SETCSV`` switches the print-out to
  comma-separated values (an output format, not a measurement setting).

What a real A215 sends back was taken from a captured exchange in a public driver (the
``tests`` of a total-alkalinity titrator's ``OrionStarA215`` class on GitHub)::

    GETMEAS         \\r\\n\\r\\n\\rA215 pH,X51250,3.04,ABCDE,12/07/23 09:30:40,---,CH-1,pH,4.61,
    pH,111.2, mV,25.0,C,89.1,%,M100,#1\\n\\r\\r>

that is: the echo of the command (padded to 16 characters), blank lines, one CSV record per
line, then the prompt. The pH record has 18 fields: model, serial number, software revision,
user id, date and time, sample id, channel, mode, value, unit, electrode signal (mV) and unit,
temperature and unit, slope and unit, method, log number.

Assumptions (no published capture of these; say so when a real meter disagrees):

- A conductivity record (mode ``Cond``) keeps the pH record's 18-field layout, with the raw
  cell signal where pH has the electrode mV and the calibration where pH has the slope:
  ``…,CH-2,Cond,<κ>,<unit>,<conductance>,<uS|mS>,<T>,<C|F>,<cell constant>,/cm,<method>,#<n>``.
  The unit field is read as printed (``uS/cm``, ``µS/cm``, ``mS/cm``, ``S/m``…) and converted
  here; a reading the meter cannot make (probe fault, over range) carries dashes (``-----``)
  in place of the value, as its display shows.
- ``GETCAL COND`` prints one CSV record: model, serial, software, user id, date and time,
  channel, mode, number of calibration points, cell constant and unit (``/cm``), the standard's
  conductivity and unit, the calibration temperature and unit, the temperature-compensation
  coefficient (``%/C``; 0 = compensation off) and the reference temperature and unit.
- ``SYSTEM`` in CSV mode prints one line: model, serial number, software revision, date and time.

Over the bench the port reaches the PC through a serial-to-Ethernet converter (a raw TCP
socket, ``TCPIP::<host>::<port>::SOCKET``) or a USB-serial adapter (``ASRL<n>::INSTR``); the
driver opens it through `electroloop.instruments.transport` like every driver here, with
`TERMINATIONS`: a read stops at ``>``; the space after it arrives at the head of the next reply
and is skipped there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from electroloop.errors import DeviceFault, InstrumentTimeout, LimitViolation
from electroloop.instruments.scpi import check_range
from electroloop.instruments.transport import MessageResource, Reconnects, escape, query

__all__ = [
    "CONDUCTIVITY_UNITS",
    "MEASUREMENT_FIELDS",
    "OrionCalibration",
    "OrionFormatError",
    "OrionIdentity",
    "OrionNoReading",
    "OrionReading",
    "OrionReplyError",
    "OrionStarA215",
    "body_lines",
    "parse_calibration",
    "parse_identity",
    "parse_log",
    "parse_measurements",
    "parse_record",
]

CONDUCTIVITY_UNITS: dict[str, float] = {
    "uS/cm": 1e-3,
    "µS/cm": 1e-3,
    "mS/cm": 1.0,
    "S/cm": 1e3,
    "S/m": 10.0,
    "dS/m": 1.0,
    "mS/m": 1e-2,
}
"""Unit field -> factor to mS/cm, the unit `electroloop.models` declares (1 S/m = 10 mS/cm)."""

CONDUCTANCE_UNITS: dict[str, float] = {"uS": 1e-3, "µS": 1e-3, "mS": 1.0, "S": 1e3}
"""Unit field -> factor to mS."""

MEASUREMENT_FIELDS = (
    "model",
    "serial number",
    "software revision",
    "user id",
    "date and time",
    "sample id",
    "channel",
    "mode",
    "conductivity value",
    "conductivity unit",
    "conductance value",
    "conductance unit",
    "temperature value",
    "temperature unit",
    "cell constant value",
    "cell constant unit",
    "method",
    "log number",
)
"""A conductivity record of ``GETMEAS``/``GETLOG``, field by field (see the module docstring)."""

CALIBRATION_FIELDS = (
    "model",
    "serial number",
    "software revision",
    "user id",
    "date and time",
    "channel",
    "mode",
    "calibration points",
    "cell constant value",
    "cell constant unit",
    "standard value",
    "standard unit",
    "temperature value",
    "temperature unit",
    "compensation coefficient",
    "coefficient unit",
    "reference temperature",
    "reference unit",
)
"""A conductivity record of ``GETCAL COND`` (an assumed layout; see the module docstring)."""

CONDUCTIVITY_MODES = ("cond", "conductivity")
NO_READING = re.compile(r"-{2,}|OR|UR|Over.*|Under.*", re.IGNORECASE)
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_LINES = re.compile(r"[\r\n]+")
_INSTRUMENT = "Orion Star A215"
_T = TypeVar("_T")


class OrionReplyError(DeviceFault):
    """The meter answered something this driver cannot read: the wrong field count, an unknown
    unit, a non-number, no record at all. The message says what was expected."""


class OrionFormatError(OrionReplyError):
    """The reply is not comma-separated: the meter prints in its printer format (``SETCSV``
    not sent since it was switched on)."""


class OrionNoReading(OrionReplyError):
    """The record holds no valid reading (dashes: a probe fault or over range)."""


@dataclass(frozen=True)
class OrionIdentity:
    """``SYSTEM``: model, serial number, software revision, the meter's date and time."""

    model: str
    serial: str
    firmware: str
    clock: str

    def __str__(self) -> str:
        return f"Thermo Scientific Orion Star {self.model}, serial {self.serial}, {self.firmware}"


@dataclass(frozen=True)
class OrionReading:
    """One conductivity record: conductivity (mS/cm), conductance (mS), temperature (°C), the
    cell constant (cm⁻¹) the meter applied, and where the record came from."""

    conductivity: float
    temperature: float
    conductance: float
    cell_constant: float
    model: str
    serial: str
    timestamp: str
    channel: str
    method: str
    log_number: int


@dataclass(frozen=True)
class OrionCalibration:
    """``GETCAL COND``: the stored conductivity calibration.

    `cell_constant` in cm⁻¹, `standard` the standard's conductivity (mS/cm) at `temperature`
    (°C), `coefficient` the linear temperature compensation in %/K (0: off) to `reference` (°C).
    """

    points: int
    cell_constant: float
    standard: float
    temperature: float
    coefficient: float
    reference: float
    timestamp: str
    channel: str


# -- parsers (pure; property-tested) ---------------------------------------------------------


def body_lines(reply: str, command: str) -> list[str]:
    """The lines of `reply` after the meter's echo of `command`, blank lines dropped.

    The echo must come first: a reply to another command (a late answer to one that timed out)
    is an `OrionReplyError`, never read as this command's answer.
    """
    lines = [line.strip() for line in _LINES.split(reply) if line.strip()]
    if not lines or lines[0].upper().split() != command.upper().split():
        got = escape(lines[0][:40]) if lines else "nothing"
        raise OrionReplyError(
            f"{_INSTRUMENT} answered {command!r} with {got!r} first; expected its echo "
            f"{command.upper()!r}"
        )
    return lines[1:]


def _fields(line: str, names: tuple[str, ...], command: str) -> list[str]:
    if "," not in line:
        raise OrionFormatError(
            f"{_INSTRUMENT} answered {command!r} with {escape(line[:60])!r}; expected CSV "
            "records (send SETCSV)"
        )
    fields = [field.strip() for field in line.split(",")]
    if len(fields) != len(names):
        raise OrionReplyError(
            f"{_INSTRUMENT} answered {command!r} with a record of {len(fields)} fields; "
            f"expected {len(names)}: {', '.join(names)}"
        )
    return fields


def _number(text: str, field: str, command: str) -> float:
    if NO_READING.fullmatch(text):
        raise OrionNoReading(
            f"{_INSTRUMENT} answered {command!r} with {text!r} as the {field}: no valid reading "
            "(probe fault or over range)"
        )
    if not _NUMBER.fullmatch(text) or not math.isfinite(float(text)):
        raise OrionReplyError(
            f"{_INSTRUMENT} answered {command!r} with {escape(text)!r} as the {field}; "
            "expected a decimal number"
        )
    return float(text)


def _unit(text: str, table: dict[str, float], field: str, command: str) -> float:
    if text not in table:
        raise OrionReplyError(
            f"{_INSTRUMENT} answered {command!r} with {escape(text)!r} as the {field}; "
            f"expected one of {', '.join(table)}"
        )
    return table[text]


def _celsius(value: float, unit: str, field: str, command: str) -> float:
    if unit in ("C", "°C"):
        return value
    if unit in ("F", "°F"):
        return (value - 32.0) * 5.0 / 9.0
    raise OrionReplyError(
        f"{_INSTRUMENT} answered {command!r} with {escape(unit)!r} as the {field}; expected C or F"
    )


def _cell_unit(unit: str, command: str) -> None:
    if unit not in ("/cm", "cm-1", "1/cm"):
        raise OrionReplyError(
            f"{_INSTRUMENT} answered {command!r} with {escape(unit)!r} as the cell constant "
            "unit; expected /cm"
        )


def _log_number(text: str, command: str) -> int:
    digits = text.removeprefix("#")
    if not digits.isdigit():
        raise OrionReplyError(
            f"{_INSTRUMENT} answered {command!r} with {escape(text)!r} as the log number; "
            "expected #<n>"
        )
    return int(digits)


def is_conductivity(line: str, mode_field: int = 7) -> bool:
    """True for a record whose mode field names conductivity (other channels are skipped)."""
    fields = line.split(",")
    return len(fields) > mode_field and fields[mode_field].strip().lower() in CONDUCTIVITY_MODES


def parse_record(line: str, command: str = "GETMEAS") -> OrionReading:
    """One conductivity record (`MEASUREMENT_FIELDS`) into an `OrionReading` in SI-ish units:
    mS/cm, mS, °C, cm⁻¹."""
    f = _fields(line, MEASUREMENT_FIELDS, command)
    if f[7].lower() not in CONDUCTIVITY_MODES:
        raise OrionReplyError(
            f"{_INSTRUMENT} answered {command!r} with a {escape(f[7])!r} record on {f[6]}; "
            "expected Cond (set the channel to conductivity mode)"
        )
    kappa = _number(f[8], "conductivity value", command)
    kappa *= _unit(f[9], CONDUCTIVITY_UNITS, "conductivity unit", command)
    conductance = _number(f[10], "conductance value", command)
    conductance *= _unit(f[11], CONDUCTANCE_UNITS, "conductance unit", command)
    temperature = _celsius(
        _number(f[12], "temperature value", command), f[13], "temperature unit", command
    )
    cell = _number(f[14], "cell constant value", command)
    _cell_unit(f[15], command)
    return OrionReading(
        conductivity=kappa,
        temperature=temperature,
        conductance=conductance,
        cell_constant=cell,
        model=f[0],
        serial=f[1],
        timestamp=f[4],
        channel=f[6],
        method=f[16],
        log_number=_log_number(f[17], command),
    )


def parse_log(reply: str, command: str = "GETLOG") -> list[OrionReading]:
    """Every conductivity record of a reply, in order (none: an empty list); records of other
    channels (pH) are skipped."""
    lines = body_lines(reply, command)
    for line in lines:
        if "," not in line:
            _fields(line, MEASUREMENT_FIELDS, command)  # raises OrionFormatError
    return [parse_record(line, command) for line in lines if is_conductivity(line)]


def parse_measurements(reply: str, command: str = "GETMEAS") -> list[OrionReading]:
    """The conductivity records of a ``GETMEAS`` reply; a reply with none (another channel
    only, or the command failed) is an `OrionReplyError`."""
    records = parse_log(reply, command)
    if not records:
        raise OrionReplyError(
            f"{_INSTRUMENT} answered {command!r} with no conductivity record; expected a CSV "
            "record in Cond mode"
        )
    return records


def parse_calibration(reply: str, command: str = "GETCAL COND") -> OrionCalibration | None:
    """The conductivity calibration in a ``GETCAL`` reply (`CALIBRATION_FIELDS`); None when
    the meter holds none (it answers with the prompt only)."""
    lines = body_lines(reply, command)
    for line in lines:
        if "," not in line:
            _fields(line, CALIBRATION_FIELDS, command)  # raises OrionFormatError
    lines = [line for line in lines if is_conductivity(line, mode_field=6)]
    if not lines:
        return None
    f = _fields(lines[-1], CALIBRATION_FIELDS, command)
    points = _number(f[7], "calibration points", command)
    cell = _number(f[8], "cell constant value", command)
    _cell_unit(f[9], command)
    standard = _number(f[10], "standard value", command)
    standard *= _unit(f[11], CONDUCTIVITY_UNITS, "standard unit", command)
    temperature = _celsius(
        _number(f[12], "temperature value", command), f[13], "temperature unit", command
    )
    coefficient = _number(f[14], "compensation coefficient", command)
    if f[15] not in ("%/C", "%/°C", "%/K"):
        raise OrionReplyError(
            f"{_INSTRUMENT} answered {command!r} with {escape(f[15])!r} as the coefficient "
            "unit; expected %/C"
        )
    reference = _celsius(
        _number(f[16], "reference temperature", command), f[17], "reference unit", command
    )
    if points != int(points) or points < 0:
        raise OrionReplyError(
            f"{_INSTRUMENT} answered {command!r} with {f[7]!r} calibration points; "
            "expected a whole number"
        )
    return OrionCalibration(
        points=int(points),
        cell_constant=cell,
        standard=standard,
        temperature=temperature,
        coefficient=coefficient,
        reference=reference,
        timestamp=f[4],
        channel=f[5],
    )


def parse_identity(reply: str, command: str = "SYSTEM") -> OrionIdentity:
    """``SYSTEM`` in CSV: model, serial number, software revision, date and time."""
    lines = body_lines(reply, command)
    if len(lines) != 1:
        raise OrionReplyError(
            f"{_INSTRUMENT} answered {command!r} with {len(lines)} lines; expected one"
        )
    names = ("model", "serial number", "software revision", "date and time")
    f = _fields(lines[0], names, command)
    if not all(f[:3]):
        raise OrionReplyError(
            f"{_INSTRUMENT} answered {command!r} with an empty field in {lines[0]!r}; "
            f"expected {', '.join(names)}"
        )
    return OrionIdentity(model=f[0], serial=f[1], firmware=f[2], clock=f[3])


# -- the driver ------------------------------------------------------------------------------


class OrionStarA215:
    """The conductivity channel of an Orion Star A215: conductivity in mS/cm, temperature in °C.

    Every command reads only (nothing moves, no setting changes), so a query that times out or
    whose link dropped is asked once more after reopening the link (a `ReconnectingResource`),
    which also throws away any late answer. The print-out is switched to CSV (``SETCSV``)
    before the first reading and again if a reply comes in printer format (the meter was
    switched off and on), and the query is then asked once more. A ``GETMEAS`` asked again is
    a new measurement of the same sample, not a second copy of the first: see `readings` for
    what that leaves on the meter. `measurement_timeout`
    (s) bounds a ``GETMEAS``: a meter set to print stable readings only waits for one. Open the
    resource with `TERMINATIONS`.
    """

    PARSER_VERSION: ClassVar[str] = "1"
    """How this driver reads the meter's replies: bump it when a parser changes."""

    TERMINATIONS: ClassVar[dict[str, str]] = {"read_termination": ">", "write_termination": "\r"}
    MAX_RECORDS = 50  # GETMEAS n: records in one reply (an assumption; the manual sets none)

    def __init__(self, resource: MessageResource, *, measurement_timeout: float = 10.0) -> None:
        self.resource = resource
        self.instrument = _INSTRUMENT
        self.measurement_timeout = measurement_timeout
        self._csv = False

    def close(self) -> None:
        self.resource.close()

    # -- readings --------------------------------------------------------------------------

    def reading(self) -> OrionReading:
        """One ``GETMEAS``: conductivity, conductance, temperature and cell constant together."""
        return self.readings(1)[-1]

    def readings(self, count: int) -> list[OrionReading]:
        """``GETMEAS <count>``: `count` consecutive records (1 to `MAX_RECORDS`).

        Asked at most twice (after a timeout on a link that reopened, or after a reply in
        printer format and ``SETCSV``). The records returned are then the second command's: a
        new measurement of the sample in the cell, taken a moment later. The first command's
        records are lost (never read, or not readable), but the meter made them: where its
        data log records each measurement it prints (the manual does not say whether a remote
        ``GETMEAS`` is logged), ``GETLOG`` then holds `count` more records than this driver
        returned. Nothing else changes on the meter; the reading is of the same sample, so
        this is accepted rather than failing the measurement.
        """
        if not isinstance(count, int) or isinstance(count, bool):
            raise LimitViolation(
                f"record count is {count!r}; allowed: a whole number 1 to {self.MAX_RECORDS}"
            )
        check_range("record count", count, 1, self.MAX_RECORDS, "records")
        command = "GETMEAS" if count == 1 else f"GETMEAS {count}"
        records = self._csv_query(command, parse_measurements, self.measurement_timeout)
        if len(records) != count:
            raise OrionReplyError(
                f"{self.instrument} answered {command!r} with {len(records)} conductivity "
                f"records; expected {count}"
            )
        return records

    def conductivity(self) -> float:
        """Conductivity of the sample, mS/cm, converted from the unit the meter prints."""
        return self.reading().conductivity

    def temperature(self) -> float:
        """Sample temperature from the cell's sensor, °C."""
        return self.reading().temperature

    def log(self) -> list[OrionReading]:
        """``GETLOG``: every conductivity record in the meter's data log (empty: none)."""
        return self._csv_query("GETLOG", parse_log, self.measurement_timeout)

    # -- what the meter is -----------------------------------------------------------------

    def identity(self) -> OrionIdentity:
        """``SYSTEM``: model, serial number, software revision (str() reads as one line)."""
        return self._csv_query("SYSTEM", parse_identity, None)

    def calibration(self) -> OrionCalibration | None:
        """``GETCAL COND``: the stored conductivity calibration; None when there is none."""
        return self._csv_query("GETCAL COND", parse_calibration, None)

    # -- exchange --------------------------------------------------------------------------

    def _csv_query(
        self, command: str, parse: Callable[[str, str], _T], timeout: float | None
    ) -> _T:
        if not self._csv:
            self.set_csv()
        try:
            return parse(self._ask(command, timeout), command)
        except OrionFormatError:
            self.set_csv()
            return parse(self._ask(command, timeout), command)

    def set_csv(self) -> None:
        """``SETCSV``: print records as comma-separated values (answers its echo only)."""
        lines = body_lines(self._ask("SETCSV", None), "SETCSV")
        if lines:
            raise OrionReplyError(
                f"{self.instrument} answered 'SETCSV' with {escape(lines[0][:60])!r}; "
                "expected its echo and the prompt only"
            )
        self._csv = True

    def _ask(self, command: str, timeout: float | None) -> str:
        """`command`, asked once more after a timeout (on a link that can reopen)."""
        saved = self.resource.timeout
        if timeout is not None:
            self.resource.timeout = max(saved, round(timeout * 1000))
        try:
            try:
                return query(self.resource, command, instrument=self.instrument)
            except InstrumentTimeout:
                # Only a reopened link is clean: on the old one a late answer would be read as
                # the answer to the next command.
                if not (isinstance(self.resource, Reconnects) and self.resource.reconnect()):
                    raise
            return query(self.resource, command, instrument=self.instrument)
        finally:
            self.resource.timeout = saved
