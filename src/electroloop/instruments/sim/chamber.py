"""Simulated thermal chamber speaking the command set of ``docs/thermal_chamber_protocol.md``.

Answers ``*IDN?``, ``*RST``, ``*CLS``, ``*OPC?``, ``SYSTem:ERRor[:NEXT]?``,
``[SOURce:]TEMPerature[:SPOint]`` (°C), ``[SOURce:]TEMPerature:RAMP[:RATE]`` (K/min),
``MEASure:TEMPerature?``, ``OUTPut[:STATe]``, ``STATus:DOOR?``, ``STATus:ALARM?`` and
``STATus:ALARM:CLEar``, in short or long form and any case; lines end with LF. Rejected
commands queue their SCPI error and send nothing (SCPI-1999 Vol. 2 §21.8); ``OUTP ON`` with
the door open or an alarm active queues -221 settings conflict and leaves the output off, as
ESPEC chambers refuse to start with the door unlocked (EHS manual ch. 3, ``DOOR?``).

Physics, on the shared `SimClock`: with the output on, the door closed and no alarm, the
chamber temperature T approaches the setpoint S as a first-order lag limited by the ramp rate
r, dT/dt = clip((S − T)/τ, −r, r), solved exactly between commands (linear at r while
|S − T| > r·τ, then exponential). With the output off T relaxes to `ambient` with
`off_time_constant`, with the door open with `door_time_constant` (the controller suspends,
as the door switch of a real chamber does). A trip (`trip_alarm`) switches the output off, as
an over-temperature protector does. Readings carry N(0, `temperature_noise`) noise.

Faults (`LineServer`): ERROR queues -300 device-specific error (queries answer nothing);
STUCK_BUSY stops heating and cooling while the output still reads ON, so the chamber never
reaches its setpoint; DRIFT adds ``drift × T`` to ``MEAS:TEMP?``.
"""

from __future__ import annotations

import math
import threading
import zlib

import numpy as np

from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.scpi import (
    CommandTable,
    ErrorQueue,
    ScpiReject,
    parse_parameter,
    parse_switch,
)
from electroloop.instruments.sim.server import LineServer

__all__ = ["ALARMS", "ChamberServer"]

ALARMS = ("OVERTEMP", "UNDERTEMP", "SENSOR", "COMPRESSOR", "WATER")
_DEFAULT_SETPOINT = 25.0  # °C after *RST
_DEFAULT_RAMP = 1.0  # K/min after *RST


def approach(value: float, target: float, tau: float, rate: float, dt: float) -> float:
    """T after `dt` s of dT/dt = clip((target − T)/tau, −rate, rate); `rate` in K/s (may be inf).

    Exact: a straight line at `rate` until |target − T| = rate·tau, then exponential decay.
    """
    gap = target - value
    band = rate * tau
    if abs(gap) > band:
        linear = (abs(gap) - band) / rate
        if dt <= linear:
            return value + math.copysign(rate * dt, gap)
        dt -= linear
        gap = math.copysign(band, gap)
    return target - gap * math.exp(-dt / tau)


class ChamberServer(LineServer):
    """One thermal chamber; tests change its door and alarm state through its methods."""

    terminator = b"\n"
    reply_terminator = b"\n"
    name = "chamber"

    def __init__(
        self,
        *,
        clock: SimClock | None = None,
        serial: str = "TC000001",
        ambient: float = 22.0,
        time_constant: float = 60.0,
        off_time_constant: float = 900.0,
        door_time_constant: float = 120.0,
        temperature_noise: float = 0.02,
        temperature_range: tuple[float, float] = (-40.0, 150.0),
        ramp_range: tuple[float, float] = (0.01, 20.0),
        seed: int = 0,
        port: int = 0,
    ) -> None:
        self.clock = clock if clock is not None else SimClock(1.0)
        self.serial = serial
        self.ambient = ambient
        self.time_constant = time_constant
        self.off_time_constant = off_time_constant
        self.door_time_constant = door_time_constant
        self.temperature_noise = temperature_noise
        self.temperature_range = temperature_range
        self.ramp_range = ramp_range
        self.true_temperature = ambient  # °C, what a reference thermometer would read
        self.setpoint = _DEFAULT_SETPOINT
        self.ramp_rate = _DEFAULT_RAMP
        self.output = False
        self.door_open = False
        self.alarm = "NONE"
        self.errors = ErrorQueue()
        self._state = threading.RLock()
        self._updated = self.clock.now()
        self._rng = np.random.default_rng([seed, zlib.crc32(b"chamber")])
        self._commands = CommandTable(
            [
                ("*IDN?", lambda _: f"Electroloop Sim,TC-150,{self.serial},1.0"),
                ("*RST", self._reset),
                ("*CLS", lambda _: self.errors.clear()),
                ("*OPC?", lambda _: "1"),
                ("SYSTem:ERRor[:NEXT]?", lambda _: self.errors.pop()),
                ("[SOURce:]TEMPerature[:SPOint]", self._set_setpoint),
                ("[SOURce:]TEMPerature[:SPOint]?", lambda _: f"{self.setpoint:.6E}"),
                ("[SOURce:]TEMPerature:RAMP[:RATE]", self._set_ramp),
                ("[SOURce:]TEMPerature:RAMP[:RATE]?", lambda _: f"{self.ramp_rate:.6E}"),
                ("MEASure:TEMPerature?", lambda _: self._reading()),
                ("OUTPut[:STATe]", self._set_output),
                ("OUTPut[:STATe]?", lambda _: str(int(self.output))),
                ("STATus:DOOR?", lambda _: "OPEN" if self.door_open else "CLOSED"),
                ("STATus:ALARM?", lambda _: self.alarm),
                ("STATus:ALARM:CLEar", self._clear_alarm),
            ]
        )
        super().__init__(port=port, seed=seed)

    # -- what the operator (or a test) does at the chamber -------------------------------

    def open_door(self) -> None:
        with self._state:
            self._advance()
            self.door_open = True

    def close_door(self) -> None:
        with self._state:
            self._advance()
            self.door_open = False

    def trip_alarm(self, alarm: str = "OVERTEMP") -> None:
        """Raise `alarm` (one of `ALARMS`); the protector switches the output off."""
        if alarm not in ALARMS:
            raise ValueError(f"alarm {alarm!r}; allowed: {', '.join(ALARMS)}")
        with self._state:
            self._advance()
            self.alarm = alarm
            self.output = False

    def temperature_now(self) -> float:
        """The true chamber temperature at this instant, °C."""
        with self._state:
            self._advance()
            return self.true_temperature

    # -- protocol ------------------------------------------------------------------------

    def answer(self, line: str) -> str | None:
        header, _, parameters = line.strip().partition(" ")
        with self._state:
            self._advance()
            return self._commands.execute(header, parameters, self.errors)

    def error_answer(self, line: str) -> str | None:
        """A controller fault: queued; ``SYST:ERR?`` reports it, anything else gets no answer."""
        with self._state:
            self.errors.push(-300, "Device-specific error;controller fault")
            if line.strip().upper().lstrip(":").startswith("SYST"):
                return self.errors.pop()
        return None

    def _reading(self) -> str:
        value = self.true_temperature + float(self._rng.normal(0.0, self.temperature_noise))
        return f"{value + self.drift * value:.6E}"

    def _advance(self) -> None:
        """Integrate the temperature from the last update to the clock's now."""
        now = self.clock.now()
        dt, self._updated = now - self._updated, now
        if dt <= 0.0:
            return
        regulating = self.output and not self.door_open and self.alarm == "NONE"
        if regulating and not self.stuck_busy:
            rate = self.ramp_rate / 60.0  # K/min -> K/s
            target, tau = self.setpoint, self.time_constant
        else:
            rate, target = math.inf, self.ambient
            tau = self.door_time_constant if self.door_open else self.off_time_constant
        self.true_temperature = approach(self.true_temperature, target, tau, rate, dt)

    # -- settings ------------------------------------------------------------------------

    def _reset(self, parameters: str) -> None:
        self.output = False
        self.setpoint, self.ramp_rate = _DEFAULT_SETPOINT, _DEFAULT_RAMP

    def _set_setpoint(self, parameters: str) -> None:
        low, high = self.temperature_range
        self.setpoint = parse_parameter(parameters, low=low, high=high, default=_DEFAULT_SETPOINT)

    def _set_ramp(self, parameters: str) -> None:
        low, high = self.ramp_range
        self.ramp_rate = parse_parameter(parameters, low=low, high=high, default=_DEFAULT_RAMP)

    def _set_output(self, parameters: str) -> None:
        on = parse_switch(parameters)
        if on and self.door_open:
            raise ScpiReject(-221, "Settings conflict;door open")
        if on and self.alarm != "NONE":
            raise ScpiReject(-221, f"Settings conflict;alarm {self.alarm}")
        self.output = on

    def _clear_alarm(self, parameters: str) -> None:
        if parameters.strip():
            raise ScpiReject(-108, "Parameter not allowed")
        self.alarm = "NONE"
