"""What every SCPI driver here shares: the error queue, numbers and booleans, limits.

Sources: IEEE 488.2-1992 §7.1 (a program message joins units with ``;``), §10.14 (``*IDN?``:
four comma-separated fields); SCPI-1999 Vol. 1 §7.2.1 (NR1/NR2/NR3 numbers; 9.9E+37 is +INF,
9.91E+37 is NAN: over range or no valid reading), §7.3 (booleans: ``ON|OFF|1|0`` sent, ``1|0``
answered), §7.8.2 (strings: a doubled quote stands for one), Vol. 2 §21.8
(``SYSTem:ERRor[:NEXT]?`` pops ``<code>,"<message>"``; ``0,"No error"`` when the queue is empty).

`ScpiInstrument` is the base of the four SCPI drivers and holds both styles of exchange: write a
setting, then query it back (the conductivity meter, the thermal chamber), or send
``<command>;<query>`` as one message (the SMU, the cycler).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import ClassVar

from electroloop.errors import DeviceFault, InstrumentTimeout, LimitViolation
from electroloop.instruments.transport import MessageResource, Reconnects, escape, query, write

__all__ = [
    "ScpiError",
    "ScpiInstrument",
    "ScpiLink",
    "check_range",
    "format_number",
    "is_reading",
    "parse_boolean",
    "parse_error",
    "parse_identity",
    "parse_number",
]

_OVER_RANGE = 9.9e37  # SCPI +INF; NAN is 9.91E+37
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f;]")  # control characters end or split a SCPI message


class ScpiError(DeviceFault):
    """The instrument's SCPI error queue held one or more errors (SCPI-1999 Vol. 2 §21.8).

    Each driver subclasses it and names its `instrument`, so callers can catch one device's.
    """

    instrument = "instrument"

    def __init__(self, errors: list[tuple[int, str]], after: str) -> None:
        self.errors = errors
        listed = "; ".join(f"{code},{text!r}" for code, text in errors)
        super().__init__(f"{self.instrument} reported {listed} after {after}")


# -- parsers and formatters (pure; property-tested) -----------------------------------------


def parse_error(
    reply: str, instrument: str = "instrument", command: str = "SYST:ERR?"
) -> tuple[int, str]:
    """``<code>,"<message>"`` → (code, message); anything else is a `DeviceFault`.

    The message is a SCPI string (SCPI-1999 Vol. 1 §7.8.2: a doubled quote stands for one).
    """
    code_text, comma, message = reply.strip().partition(",")
    try:
        code = int(code_text)
    except ValueError:
        raise DeviceFault(f"{instrument} answered {command!r} with {escape(reply)!r}") from None
    if not comma:
        raise DeviceFault(f"{instrument} answered {command!r} with {escape(reply)!r}")
    message = message.strip()
    if len(message) >= 2 and message[0] == message[-1] == '"':  # SCPI string: "" is one "
        message = message[1:-1].replace('""', '"')
    return code, message


def parse_number(reply: str, command: str, instrument: str = "instrument") -> float:
    """An NR1/NR2/NR3 answer as a float; NAN, ±INF and 9.9E+37 are left to the caller.

    Raises `DeviceFault` for anything that is not a decimal number (SCPI-1999 Vol. 1 §7.2.1).
    """
    text = reply.strip()
    if not _NUMBER.fullmatch(text):
        raise DeviceFault(
            f"{instrument} answered {command!r} with {escape(reply)!r}; expected an NR3 number"
        )
    return float(text)


def is_reading(value: float) -> bool:
    """False for SCPI NAN/±INF (|x| ≥ 9.9E+37) and non-finite floats: no valid reading."""
    return math.isfinite(value) and abs(value) < _OVER_RANGE


def parse_boolean(reply: str, command: str, instrument: str = "instrument") -> bool:
    """A SCPI boolean answer: ``1``/``0`` (SCPI-1999 Vol. 1 §7.3); ``ON``/``OFF`` accepted too."""
    text = reply.strip().upper()
    if text in ("1", "ON"):
        return True
    if text in ("0", "OFF"):
        return False
    raise DeviceFault(f"{instrument} answered {command!r} with {escape(reply)!r}; expected 1 or 0")


def parse_identity(reply: str, instrument: str = "instrument") -> str:
    """``*IDN?``: four comma-separated fields (IEEE 488.2 §10.14)."""
    text = reply.strip()
    if text.count(",") != 3:
        raise DeviceFault(f"{instrument} answered '*IDN?' with {escape(text)!r}; expected 4 fields")
    return text


def format_number(value: float) -> str:
    """An NRf argument with 6 significant digits (what the instruments here resolve)."""
    return f"{value:.6G}"


def check_range(name: str, value: float, low: float, high: float, unit: str) -> float:
    """`value` if finite and within [low, high]; else `LimitViolation` (nothing is sent)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise LimitViolation(f"{name} is {value!r}; expected a number in {unit}")
    if not math.isfinite(value) or not low <= value <= high:
        raise LimitViolation(f"{name} is {value} {unit}; allowed: {low} to {high} {unit}")
    return float(value)


# -- the base of the drivers ----------------------------------------------------------------


class ScpiInstrument:
    """What every SCPI driver here holds: its resource, name and `ScpiError` type, the error
    queue, identity, reset, close and both styles of exchange; a driver adds its commands, its
    limits and the parsing of its own replies. Every line ends with LF (`TERMINATIONS`).

    Write, then query back (`_write`, `_query`, `_number`, `_boolean`, `_set_number`,
    `_set_boolean`): a query that times out is followed by ``SYST:ERR?``; a queued error (SCPI
    instruments send no reply to a rejected query) becomes `error`, an empty queue leaves the
    `InstrumentTimeout`. A command holding ``;`` or a control character is never sent.

    One message (`joined`: `_ask`, `_apply`, `_apply_numbers`): a setting and its read-back go
    as ``<command>;<query>``; a query that times out reopens the link (pyvisa-py reports a link
    the peer closed as a timeout), drains the error queue and is asked `attempts` times in all.
    ``*IDN?``, ``*RST`` and the error queue then go the same way.
    """

    TERMINATIONS: ClassVar[dict[str, str]] = {"read_termination": "\n", "write_termination": "\n"}

    def __init__(
        self,
        resource: MessageResource,
        instrument: str,
        error: type[ScpiError],
        *,
        max_errors: int = 20,
        joined: bool = False,
        attempts: int = 1,
        error_query: str = "SYST:ERR?",
    ) -> None:
        self.resource = resource
        self.instrument = instrument
        self.error = error
        self.max_errors = max_errors
        self._joined = joined
        self._attempts = attempts
        self._error_query = error_query

    def close(self) -> None:
        self.resource.close()

    def identity(self) -> str:
        """``*IDN?``: manufacturer, model, serial number, firmware (IEEE 488.2 §10.14)."""
        return parse_identity(self._exchange("*IDN?"), self.instrument)

    def reset(self) -> None:
        """``*RST`` (IEEE 488.2 §10.32), then confirm the error queue is empty."""
        self._send_reset()
        self.check_errors(after="'*RST'")

    def check_errors(self, after: str = "the last command") -> None:
        """Drain the error queue; raise `error` listing every queued error.

        A queue that is still not empty after `max_errors` reads is a `DeviceFault`: an
        instrument that never answers ``0,"No error"`` would otherwise hold the driver for ever.
        """
        errors: list[tuple[int, str]] = []
        for _ in range(self.max_errors):
            reply = self._exchange(self._error_query, diagnose=False)
            code, text = parse_error(reply, self.instrument, self._error_query)
            if code == 0:
                break
            errors.append((code, text))
        else:
            raise DeviceFault(
                f"{self.instrument} error queue did not empty after {self.max_errors} reads"
            )
        if errors:
            raise self.error(errors, after)

    def _exchange(self, command: str, *, diagnose: bool = True) -> str:
        """A query in this instrument's style."""
        if self._joined:
            return self._ask(command, diagnose=diagnose)
        return self._query(command, diagnose=diagnose)

    def _send_reset(self) -> None:
        """``*RST``; in one message with ``*OPC?`` (IEEE 488.2 §10.19), which confirms it."""
        if not self._joined:
            self._write("*RST")
        elif self._ask("*RST;*OPC?") != "1":
            raise DeviceFault(f"{self.instrument} did not confirm '*RST' with '*OPC?' = 1")

    # -- write, then query back ----------------------------------------------------------

    def _write(self, command: str) -> None:
        """Send a command that has no reply."""
        write(self.resource, self._safe(command), instrument=self.instrument)

    def _query(self, command: str, *, diagnose: bool = True, timeout: float | None = None) -> str:
        """Send a query; `timeout` (s) overrides the resource's for this one exchange."""
        saved = self.resource.timeout
        if timeout is not None:
            self.resource.timeout = max(saved, round(timeout * 1000))
        try:
            return query(self.resource, self._safe(command), instrument=self.instrument).strip()
        except InstrumentTimeout:
            if diagnose:
                try:
                    self.check_errors(after=repr(command))
                except InstrumentTimeout:
                    pass  # the instrument is silent altogether: the original timeout stands
            raise
        finally:
            self.resource.timeout = saved

    def _number(self, command: str) -> float:
        """A finite reading; NAN or over range drains the error queue, then `DeviceFault`."""
        reply = self._query(command)
        value = parse_number(reply, command, self.instrument)
        if not is_reading(value):
            self.check_errors(after=repr(command))
            raise DeviceFault(
                f"{self.instrument} answered {command!r} with {reply} (over range / no reading)"
            )
        return value

    def _boolean(self, command: str) -> bool:
        return parse_boolean(self._query(command), command, self.instrument)

    def _set_number(self, header: str, value: float) -> float:
        """``<header> <value>`` then ``<header>?``; the read-back value, which must match."""
        argument = format_number(value)
        self._write(f"{header} {argument}")
        readback = self._number(f"{header}?")
        if not math.isclose(readback, float(argument), rel_tol=1e-5, abs_tol=1e-9):
            self.check_errors(after=repr(f"{header} {argument}"))
            raise DeviceFault(
                f"{self.instrument} did not take {header} {argument}: it reads back {readback}"
            )
        return readback

    def _set_boolean(self, header: str, on: bool) -> None:
        """``<header> ON|OFF`` then ``<header>?``, which must match."""
        command = f"{header} {'ON' if on else 'OFF'}"
        self._write(command)
        if self._boolean(f"{header}?") != on:
            self.check_errors(after=repr(command))
            raise DeviceFault(f"{self.instrument} did not take {command}")

    def _safe(self, command: str) -> str:
        if _UNSAFE.search(command):
            raise LimitViolation(
                f"{self.instrument}: {escape(command)!r} holds a control character or ';'; "
                "nothing was sent"
            )
        return command

    # -- one message ---------------------------------------------------------------------

    def _ask(self, command: str, *, diagnose: bool = True, idempotent: bool = True) -> str:
        """Ask `command`; on a timeout reopen the link, drain the error queue (`diagnose`) and,
        if `idempotent` (it moves nothing), ask again up to `attempts` times in all."""
        attempts = self._attempts if idempotent else 1
        for attempt in range(1, attempts + 1):
            try:
                reply = query(
                    self.resource, command, instrument=self.instrument, idempotent=idempotent
                )
                return reply.strip()
            except InstrumentTimeout:
                if isinstance(self.resource, Reconnects):
                    self.resource.reconnect()
                if diagnose:
                    self.check_errors(after=repr(command[:60]))
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable: attempts must be >= 1")

    def _apply(self, command: str, readback: str, matches: Callable[[str], bool]) -> None:
        """Send `command` and its read-back in one message (``<command>;<readback>``, IEEE 488.2
        §7.1: no second round trip, no Nagle delay); once more if the link, the command or its
        answer was lost. Sending twice is safe: every setter names its target state.

        A reply that does not `match` (or cannot be read) is looked up in the error queue, then
        sent again, then a `DeviceFault`. A timeout costs an attempt, unless `_ask` has already
        asked again itself (`attempts` > 1).
        """
        lost: tuple[type[Exception], ...] = (InstrumentTimeout,) if self._attempts == 1 else ()
        last: Exception | None = None
        for _ in range(2):
            try:
                reply = self._ask(f"{command};{readback}")
            except lost as exc:
                last = exc
                continue
            try:
                if matches(reply):
                    return
                last = DeviceFault(
                    f"{self.instrument} reads back {escape(reply)[:120]!r} for {readback!r} "
                    f"after {command[:60]!r}"
                )
            except DeviceFault as exc:  # an unreadable read-back: ask again
                last = exc
            self.check_errors(after=repr(command[:60]))
        assert last is not None
        raise last

    def _apply_numbers(self, header: str, *values: float) -> None:
        """``<header> <v>[,<v>…];<header>?`` in NR3 with 6 decimals; each value must read back
        within 1e-5 (relative), what those decimals carry."""
        readback = f"{header}?"

        def matches(reply: str) -> bool:
            fields = reply.split(",") if len(values) > 1 else [reply]
            if len(fields) != len(values):
                raise DeviceFault(
                    f"{self.instrument} answered {readback!r} with {escape(reply)[:120]!r}; "
                    f"expected {len(values)} numbers"
                )
            read = [parse_number(field, readback, self.instrument) for field in fields]
            return all(
                math.isclose(r, v, rel_tol=1e-5, abs_tol=1e-12)
                for r, v in zip(read, values, strict=True)
            )

        self._apply(f"{header} {','.join(f'{v:.6E}' for v in values)}", readback, matches)


class ScpiLink(ScpiInstrument):
    """The write-then-query-back exchange of `ScpiInstrument` as public methods, for a link that
    no driver wraps."""

    write = ScpiInstrument._write
    query = ScpiInstrument._query
    number = ScpiInstrument._number
    boolean = ScpiInstrument._boolean
    set_number = ScpiInstrument._set_number
    set_boolean = ScpiInstrument._set_boolean
