"""Thermal (climate) chamber over a SCPI-style command set: setpoint, ramp, door and alarms.

The command set is of our design, documented in ``docs/thermal_chamber_protocol.md``, and
modelled on real chambers: the SCPI subset of the Watlow F4T controller in TestEquity chambers
(TestEquity 101H manual ch. 6, "SCPI Programming Mode": set point, process value, ramp rate
per minute), the ESPEC bench-top chamber communication option (EHS series manual ch. 3:
``MON?``, ``DOOR?`` — operation may start only with the door closed — and ``ALARM?``), and
the inTEST/Temptronic ThermoStream remote commands (TP04300 manual ch. 4: ``SETP``, ``RAMP``,
``TEMP?``, at-temperature window and soak). Common commands and the error queue follow
IEEE 488.2 §10.14/§10.32 and SCPI-1999 Vol. 2 §21.8. Temperatures are in °C, ramp rates in
K/min; every line ends with LF.

The driver checks every setpoint and ramp against `ChamberLimits` before sending, reads each
setting back, refuses to switch the output on with the door open or an alarm active
(`ChamberInterlock`), and waits for the chamber to settle with a timeout.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import ClassVar, Literal

from electroloop.errors import ConfigError, DeviceFault, InstrumentTimeout
from electroloop.instruments.scpi import ScpiError, ScpiInstrument, check_range
from electroloop.instruments.transport import MessageResource, escape

__all__ = [
    "ChamberError",
    "ChamberInterlock",
    "ChamberLimits",
    "ChamberStatus",
    "DoorState",
    "ThermalChamber",
    "parse_alarm",
    "parse_door",
]

DoorState = Literal["OPEN", "CLOSED"]


class ChamberError(ScpiError):
    """The chamber's SCPI error queue held one or more errors."""

    instrument = "thermal chamber"


class ChamberInterlock(DeviceFault):
    """The chamber cannot run: its door is open or an alarm is active."""


@dataclass(frozen=True)
class ChamberLimits:
    """Safe ranges for this chamber and what is in it: setpoint °C, ramp rate K/min."""

    temperature: tuple[float, float] = (-40.0, 150.0)
    ramp_rate: tuple[float, float] = (0.01, 20.0)

    def __post_init__(self) -> None:
        for name, (low, high) in (("temperature", self.temperature), ("ramp", self.ramp_rate)):
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ConfigError(f"chamber {name} limits {low}..{high}: need finite low < high")


@dataclass(frozen=True)
class ChamberStatus:
    """A snapshot of the chamber (``lab check`` prints it)."""

    temperature: float
    setpoint: float
    ramp_rate: float
    output: bool
    door: DoorState
    alarm: str


def parse_door(reply: str) -> DoorState:
    """``STAT:DOOR?`` → ``OPEN`` or ``CLOSED``; anything else is a `DeviceFault`."""
    text = reply.strip().upper()
    if text == "OPEN":
        return "OPEN"
    if text == "CLOSED":
        return "CLOSED"
    raise DeviceFault(f"thermal chamber answered 'STAT:DOOR?' with {escape(reply)!r}")


def parse_alarm(reply: str) -> str:
    """``STAT:ALARM?`` → ``NONE`` or the active alarm's name (one upper-case word)."""
    text = reply.strip().upper()
    if not re.fullmatch(r"[A-Z][A-Z0-9_]{0,31}", text):
        raise DeviceFault(f"thermal chamber answered 'STAT:ALARM?' with {escape(reply)!r}")
    return text


class ThermalChamber(ScpiInstrument):
    """A SCPI thermal chamber: setpoint, ramp rate, read-back, door and alarm state.

    `poll_interval` (s) paces `wait_until_stable`. ``*RST`` (`reset`) switches the output off
    and restores the default setpoint and ramp. Open the resource with `TERMINATIONS`.
    """

    PARSER_VERSION: ClassVar[str] = "1"
    """How this driver reads the instrument's replies: bump it when a parser changes, so every
    measurement records which parsing produced it."""

    def __init__(
        self,
        resource: MessageResource,
        *,
        limits: ChamberLimits | None = None,
        poll_interval: float = 1.0,
        max_errors: int = 20,
    ) -> None:
        super().__init__(resource, "thermal chamber", ChamberError, max_errors=max_errors)
        self.limits = limits if limits is not None else ChamberLimits()
        self.poll_interval = poll_interval

    # -- read-back -----------------------------------------------------------------------

    def temperature(self) -> float:
        """Measured chamber temperature, °C (``MEAS:TEMP?``)."""
        return self._number("MEAS:TEMP?")

    def setpoint(self) -> float:
        """Temperature setpoint, °C (``SOUR:TEMP?``)."""
        return self._number("SOUR:TEMP?")

    def ramp_rate(self) -> float:
        """Ramp rate toward the setpoint, K/min (``SOUR:TEMP:RAMP?``)."""
        return self._number("SOUR:TEMP:RAMP?")

    def output(self) -> bool:
        """True while the chamber controls its temperature (``OUTP?``)."""
        return self._boolean("OUTP?")

    def door(self) -> DoorState:
        """``STAT:DOOR?``: ``OPEN`` or ``CLOSED``."""
        return parse_door(self._query("STAT:DOOR?"))

    def alarm(self) -> str:
        """``STAT:ALARM?``: ``NONE`` or the active alarm (e.g. ``OVERTEMP``)."""
        return parse_alarm(self._query("STAT:ALARM?"))

    def status(self) -> ChamberStatus:
        """Every read-back at once."""
        return ChamberStatus(
            temperature=self.temperature(),
            setpoint=self.setpoint(),
            ramp_rate=self.ramp_rate(),
            output=self.output(),
            door=self.door(),
            alarm=self.alarm(),
        )

    # -- settings ------------------------------------------------------------------------

    def set_setpoint(self, temperature: float) -> float:
        """Set the setpoint (°C) within `limits`; the read-back setpoint."""
        check_range("chamber setpoint", temperature, *self.limits.temperature, "°C")
        return self._set_number("SOUR:TEMP", temperature)

    def set_ramp_rate(self, rate: float) -> float:
        """Set the ramp rate (K/min) within `limits`; the read-back rate."""
        check_range("chamber ramp rate", rate, *self.limits.ramp_rate, "K/min")
        return self._set_number("SOUR:TEMP:RAMP", rate)

    def start(self) -> None:
        """Switch the output on (idempotent); refuses with the door open or an alarm active."""
        self._require_safe("start")
        self._set_boolean("OUTP", True)

    def stop(self) -> None:
        """Switch the output off (idempotent): the chamber drifts back to ambient."""
        self._set_boolean("OUTP", False)

    def clear_alarm(self) -> None:
        """Acknowledge the active alarm (``STAT:ALARM:CLE``); raises if it persists."""
        self._write("STAT:ALARM:CLE")
        alarm = self.alarm()
        if alarm != "NONE":
            raise ChamberInterlock(f"thermal chamber alarm {alarm} persists after clearing")

    def wait_until_stable(
        self, tolerance: float = 0.5, timeout: float = 3600.0, *, hold: float = 0.0
    ) -> float:
        """Wait until the reading stays within ±`tolerance` K of the setpoint for `hold` s.

        Returns the last reading. Raises `InstrumentTimeout` when it has not settled within
        `timeout` s, and `ChamberInterlock` as soon as the door opens or an alarm trips (the
        chamber would never settle). Times are wall-clock seconds.
        """
        check_range("tolerance", tolerance, 0.0, 50.0, "K")
        check_range("timeout", timeout, 0.0, 7 * 24 * 3600.0, "s")
        if not self.output():
            raise DeviceFault("thermal chamber output is off; start() it before waiting")
        target = self.setpoint()
        deadline = time.monotonic() + timeout
        within_since: float | None = None
        while True:
            reading = self.temperature()
            self._require_safe("keep regulating")
            now = time.monotonic()
            if abs(reading - target) <= tolerance:
                within_since = now if within_since is None else within_since
                if now - within_since >= hold:
                    return reading
            else:
                within_since = None
            if now >= deadline:
                raise InstrumentTimeout(
                    f"thermal chamber did not settle within ±{tolerance} K of {target} °C in "
                    f"{timeout} s (last reading {reading} °C)"
                )
            time.sleep(min(self.poll_interval, max(0.0, deadline - now)))

    def _require_safe(self, action: str) -> None:
        door = self.door()
        alarm = self.alarm()
        if door != "CLOSED" or alarm != "NONE":
            problem = "door is open" if door != "CLOSED" else f"alarm {alarm} is active"
            raise ChamberInterlock(f"thermal chamber cannot {action}: its {problem}")
