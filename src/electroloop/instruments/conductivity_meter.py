"""Benchtop conductivity meter with a temperature probe, over SCPI.

Sources: IEEE 488.2-1992 §10.14 (``*IDN?``) and §10.32 (``*RST``); SCPI-1999 Vol. 1 ch. 3
(measurement instructions: ``MEASure:<function>?`` configures, triggers and returns one
reading), Vol. 1 §7.2.1 (NR3 numbers; 9.9E+37 is +INF, 9.91E+37 is NAN, meaning over range
or no valid reading), Vol. 2 §21.8 (``SYSTem:ERRor[:NEXT]?`` pops ``<code>,"<message>"``,
``0,"No error"`` when the queue is empty). Every line ends with LF.

Units: the meter answers conductivity in S/m (the SI unit SCPI instruments default to) and
temperature in °C. The driver returns conductivity in mS/cm (1 S/m = 10 mS/cm), the unit
`electroloop.models` declares for conductivity.
"""

from __future__ import annotations

import math

from electroloop.errors import DeviceFault, InstrumentTimeout
from electroloop.instruments.transport import MessageResource, escape, query, write

__all__ = ["ConductivityMeter", "MeterError"]

S_PER_M_TO_MS_PER_CM = 10.0
_OVER_RANGE = 9.9e37


class MeterError(DeviceFault):
    """The meter's SCPI error queue held one or more errors."""

    def __init__(self, errors: list[tuple[int, str]], after: str) -> None:
        self.errors = errors
        listed = "; ".join(f"{code},{text!r}" for code, text in errors)
        super().__init__(f"conductivity meter reported {listed} after {after}")


class ConductivityMeter:
    """A SCPI conductivity meter: conductivity in mS/cm and sample temperature in °C.

    A query that times out is followed by ``SYST:ERR?``: a queued error (a rejected command
    sends no reply) becomes `MeterError`; an empty queue leaves the `InstrumentTimeout`.
    Open the resource with `TERMINATIONS`.
    """

    TERMINATIONS = {"read_termination": "\n", "write_termination": "\n"}

    def __init__(self, resource: MessageResource, *, max_errors: int = 20) -> None:
        self.resource = resource
        self.max_errors = max_errors

    def close(self) -> None:
        self.resource.close()

    def identity(self) -> str:
        """``*IDN?``: manufacturer, model, serial number, firmware (IEEE 488.2 §10.14)."""
        reply = self._query("*IDN?")
        if reply.count(",") != 3:
            raise DeviceFault(f"meter answered '*IDN?' with {escape(reply)!r}; expected 4 fields")
        return reply

    def reset(self) -> None:
        """``*RST`` (IEEE 488.2 §10.32), then confirm the error queue is empty."""
        write(self.resource, "*RST", instrument="conductivity meter")
        self.check_errors(after="'*RST'")

    def conductivity(self) -> float:
        """Conductivity of the sample, mS/cm (``MEAS:COND?`` answers S/m)."""
        return self._number("MEAS:COND?") * S_PER_M_TO_MS_PER_CM

    def temperature(self) -> float:
        """Sample temperature from the probe, °C (``MEAS:TEMP?``)."""
        return self._number("MEAS:TEMP?")

    def check_errors(self, after: str = "the last command") -> None:
        """Drain ``SYST:ERR?``; raise `MeterError` listing every queued error."""
        errors: list[tuple[int, str]] = []
        for _ in range(self.max_errors):
            code, text = self._parse_error(self._query("SYST:ERR?", diagnose=False))
            if code == 0:
                break
            errors.append((code, text))
        else:
            raise DeviceFault(f"meter error queue did not empty after {self.max_errors} reads")
        if errors:
            raise MeterError(errors, after)

    # -- parsing -------------------------------------------------------------------------

    def _query(self, command: str, *, diagnose: bool = True) -> str:
        try:
            return query(self.resource, command, instrument="conductivity meter").strip()
        except InstrumentTimeout:
            if diagnose:
                self.check_errors(after=repr(command))
            raise

    def _number(self, command: str) -> float:
        reply = self._query(command)
        try:
            value = float(reply)
        except ValueError:
            raise DeviceFault(
                f"meter answered {command!r} with {escape(reply)!r}; expected an NR3 number"
            ) from None
        if not math.isfinite(value) or abs(value) >= _OVER_RANGE:
            self.check_errors(after=repr(command))
            raise DeviceFault(f"meter answered {command!r} with {reply} (over range / no reading)")
        return value

    @staticmethod
    def _parse_error(reply: str) -> tuple[int, str]:
        code_text, comma, message = reply.partition(",")
        try:
            code = int(code_text)
        except ValueError:
            raise DeviceFault(f"meter answered 'SYST:ERR?' with {escape(reply)!r}") from None
        if not comma:
            raise DeviceFault(f"meter answered 'SYST:ERR?' with {escape(reply)!r}")
        return code, message.strip().strip('"')
