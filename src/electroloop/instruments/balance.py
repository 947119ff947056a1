"""Mettler-Toledo analytical balance over MT-SICS (levels 0 and 1).

Source: METTLER TOLEDO "MT-SICS Interface Commands" Reference Manual (e.g. 11780711 for
Excellence balances; 11781363 for weigh modules). Section numbers below follow the weigh-module
edition: §2.1 command format (upper case, parameters separated by a space, every command and
every response closed by CR LF); §2.1.2.1 responses with a weight value
(``<ID> <status> <value> <unit>``, the value right-aligned in 10 characters); §2.1.3.2 general
errors ``ES`` (syntax: command not recognised), ``ET`` (transmission: bad parity or line too
long), ``EL`` (logical: command understood but not executable). Commands: §3 "@", "I4", "S",
"SI", "T", "Z".
"""

from __future__ import annotations

import time

from electroloop.errors import DeviceFault, InstrumentTimeout
from electroloop.instruments.transport import MessageResource, escape, query

__all__ = ["BalanceRangeError", "MettlerToledoBalance"]

_UNITS = {"g": 1.0, "mg": 1e-3, "kg": 1e3}
_GENERAL_ERRORS = {
    "ES": "syntax error: the balance did not recognise the command",
    "ET": "transmission error: the balance received a faulty line",
    "EL": "logical error: the command cannot be executed",
}


class BalanceRangeError(DeviceFault):
    """The balance is in its overload (``+``) or underload (``-``) range."""


class MettlerToledoBalance:
    """An MT-SICS balance: zero, tare and weigh in grams.

    Open the resource with `TERMINATIONS` (MT-SICS frames every line with CR LF).
    ``S I`` answers (busy, or stability not reached) are retried `retries` times,
    `retry_delay` seconds apart, before `InstrumentTimeout` is raised.
    """

    TERMINATIONS = {"read_termination": "\r\n", "write_termination": "\r\n"}

    def __init__(
        self,
        resource: MessageResource,
        capacity: float = 220.0,
        *,
        retries: int = 5,
        retry_delay: float = 0.05,
    ) -> None:
        self.resource = resource
        self.capacity = capacity
        self.retries = retries
        self.retry_delay = retry_delay

    def close(self) -> None:
        self.resource.close()

    # -- commands ------------------------------------------------------------------------

    def serial_number(self) -> str:
        """Serial number (``I4`` → ``I4 A "<SNR>"``, MT-SICS §3 "I4")."""
        return self._quoted("I4", self._ask_line("I4"))

    def reset(self) -> str:
        """Cancel pending commands and return to the switch-on state without zeroing.

        ``@`` answers like ``I4`` (MT-SICS §3 "@"); returns the serial number.
        """
        return self._quoted("I4", self._ask_line("@"))

    def zero(self) -> None:
        """Set a new zero point at the present load (``Z`` → ``Z A``, MT-SICS §3 "Z")."""
        fields = self._ask_retrying("Z")
        self._expect_status(fields, "Z", "A")

    def tare(self) -> float:
        """Store the present load as tare; returns the tare weight in grams.

        ``T`` → ``T S <value> <unit>`` (MT-SICS §3 "T"; waits for a stable load).
        """
        fields = self._ask_retrying("T")
        self._expect_status(fields, "T", "S")
        return self._grams(fields, "T")

    def weight(self, stable: bool = True) -> float:
        """Net weight in grams.

        `stable` uses ``S`` (waits for a stable reading, ``S S <value> <unit>``); otherwise
        ``SI`` sends the present reading at once, stable (``S S``) or dynamic (``S D``).
        MT-SICS §3 "S" and "SI".
        """
        command = "S" if stable else "SI"
        fields = self._ask_retrying(command)
        self._expect_status(fields, command, "S" if stable else "SD")
        return self._grams(fields, command)

    # -- parsing -------------------------------------------------------------------------

    def _ask_line(self, command: str) -> str:
        reply = query(self.resource, command, instrument="balance").strip()
        if not reply:
            raise DeviceFault(f"balance answered {command!r} with an empty line")
        if reply in _GENERAL_ERRORS:
            raise DeviceFault(
                f"balance answered {command!r} with {reply}: {_GENERAL_ERRORS[reply]}"
            )
        return reply

    def _ask(self, command: str) -> list[str]:
        return self._ask_line(command).split()

    def _ask_retrying(self, command: str) -> list[str]:
        """Send `command`, repeating it while the balance answers ``<ID> I`` (not executable)."""
        for attempt in range(self.retries + 1):
            fields = self._ask(command)
            if len(fields) < 2 or fields[1] != "I":
                return fields
            if attempt < self.retries:
                time.sleep(self.retry_delay)
        raise InstrumentTimeout(
            f"balance answered {command!r} with '{fields[0]} I' (busy or not stable) "
            f"{self.retries + 1} times"
        )

    def _expect_status(self, fields: list[str], command: str, allowed: str) -> None:
        ident = command[0]
        if fields[0] != ident or len(fields) < 2:
            raise DeviceFault(f"balance answered {command!r} with unexpected {' '.join(fields)!r}")
        status = fields[1]
        if status == "+":
            raise BalanceRangeError(
                f"balance answered {command!r} with '{ident} +': overload / upper limit "
                f"exceeded (capacity {self.capacity} g)"
            )
        if status == "-":
            raise BalanceRangeError(
                f"balance answered {command!r} with '{ident} -': underload / lower limit "
                "exceeded (is the pan in place?)"
            )
        if status not in allowed:
            raise DeviceFault(
                f"balance answered {command!r} with status {status!r}; expected one of "
                f"{list(allowed)}"
            )

    @staticmethod
    def _grams(fields: list[str], command: str) -> float:
        if len(fields) != 4 or fields[3] not in _UNITS:
            raise DeviceFault(
                f"balance answered {command!r} with {' '.join(fields)!r}; expected "
                f"'<ID> <status> <value> <unit>' with unit in {sorted(_UNITS)}"
            )
        try:
            value = float(fields[2])
        except ValueError:
            raise DeviceFault(f"balance sent a weight {fields[2]!r} that is not a number") from None
        return value * _UNITS[fields[3]]

    @staticmethod
    def _quoted(ident: str, line: str) -> str:
        parts = line.split(" ", 2)
        if len(parts) < 3 or parts[0] != ident or parts[1] != "A":
            raise DeviceFault(f"balance answered with {escape(line)!r}; expected '{ident} A \"…\"'")
        text = parts[2].strip()
        if len(text) < 2 or not (text.startswith('"') and text.endswith('"')):
            raise DeviceFault(f"balance sent {escape(text)!r}; expected a quoted text")
        return text[1:-1]
