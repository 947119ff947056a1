"""What every SCPI driver here shares: the error queue, numbers and booleans, limits, the clock.

Sources: IEEE 488.2-1992 §7.1 (a program message joins units with ``;``), §10.14 (``*IDN?``:
four comma-separated fields); SCPI-1999 Vol. 1 §7.2.1 (NR1/NR2/NR3 numbers; 9.9E+37 is +INF,
9.91E+37 is NAN: over range or no valid reading), §7.3 (booleans: ``ON|OFF|1|0`` sent, ``1|0``
answered), §7.8.2 (strings: a doubled quote stands for one), Vol. 2 §21.8
(``SYSTem:ERRor[:NEXT]?`` pops ``<code>,"<message>"``; ``0,"No error"`` when the queue is empty).

Two styles of exchange use these pieces: `ScpiLink` writes a setting, then queries it back (the
conductivity meter, the thermal chamber); the SMU and the cycler send ``<command>;<query>`` as
one message through `query_recovering` and `apply_setting`.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from typing import Protocol

from electroloop.errors import DeviceFault, InstrumentTimeout, LimitViolation
from electroloop.instruments.transport import MessageResource, escape, query, write

__all__ = [
    "Clock",
    "ScpiError",
    "ScpiLink",
    "WallClock",
    "apply_setting",
    "check_error_queue",
    "check_range",
    "format_number",
    "is_reading",
    "parse_boolean",
    "parse_error",
    "parse_identity",
    "parse_number",
    "query_recovering",
]

_OVER_RANGE = 9.9e37  # SCPI +INF; NAN is 9.91E+37
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f;]")  # control characters end or split a SCPI message


class Clock(Protocol):
    """Instrument time: the wall clock on a bench, a `SimClock` in a dry run."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class WallClock:
    """Real time (monotonic)."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class SteppedClock:
    """Instrument time that passes only while the driver sleeps: a replayed transcript has no
    instrument behind it, so polling loops must not wait on the wall clock."""

    def __init__(self) -> None:
        self.time = 0.0

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += max(0.0, seconds)


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


# -- exchanges ------------------------------------------------------------------------------


def check_error_queue(
    ask: Callable[[str], str],
    error: type[ScpiError],
    after: str,
    *,
    instrument: str | None = None,
    max_errors: int = 20,
    command: str = "SYST:ERR?",
) -> None:
    """Drain the queue with `command` through `ask`; raise `error` listing every queued error.

    A queue that is still not empty after `max_errors` reads is a `DeviceFault`: an instrument
    that never answers ``0,"No error"`` would otherwise hold the driver for ever.
    """
    name = instrument or error.instrument
    errors: list[tuple[int, str]] = []
    for _ in range(max_errors):
        code, text = parse_error(ask(command), name, command)
        if code == 0:
            break
        errors.append((code, text))
    else:
        raise DeviceFault(f"{name} error queue did not empty after {max_errors} reads")
    if errors:
        raise error(errors, after)


def query_recovering(
    resource: MessageResource,
    command: str,
    *,
    instrument: str,
    diagnose: Callable[[], None] | None = None,
    attempts: int = 1,
    idempotent: bool = True,
) -> str:
    """Ask `command`; on a timeout reopen the link, `diagnose` (drain the error queue) and ask
    again up to `attempts` times in all. pyvisa-py reports a link the peer closed as a timeout.
    """
    for attempt in range(1, attempts + 1):
        try:
            return query(resource, command, instrument=instrument, idempotent=idempotent).strip()
        except InstrumentTimeout:
            reconnect = getattr(resource, "reconnect", None)
            if reconnect is not None:
                reconnect()
            if diagnose is not None:
                diagnose()
            if attempt == attempts:
                raise
    raise AssertionError("unreachable: attempts must be >= 1")


def apply_setting(
    ask: Callable[[str], str],
    check_errors: Callable[[str], None],
    command: str,
    readback: str,
    matches: Callable[[str], bool],
    *,
    failure: Callable[[str], DeviceFault],
    lost: tuple[type[Exception], ...] = (),
) -> None:
    """Send `command` and its read-back in one message (``<command>;<readback>``, IEEE 488.2
    §7.1: no second round trip, no Nagle delay); once more if the link, the command or its
    answer was lost. Sending twice is safe: every setter names its target state.

    A reply that does not `match` becomes `failure(reply)` after `check_errors` has had its say;
    an exception in `lost` (e.g. a timeout already diagnosed by `ask`) only costs the attempt.
    """
    last: Exception | None = None
    for _ in range(2):
        try:
            reply = ask(f"{command};{readback}")
        except lost as exc:
            last = exc
            continue
        try:
            if matches(reply):
                return
            last = failure(reply)
        except DeviceFault as exc:  # an unreadable read-back: ask again
            last = exc
        check_errors(command)
    assert last is not None
    raise last


class ScpiLink:
    """The message exchange of one SCPI instrument: safe commands, numbers, the error queue.

    A query that times out is followed by ``SYST:ERR?``: a queued error (SCPI instruments send
    no reply to a rejected query) becomes `error`; an empty queue leaves the `InstrumentTimeout`.
    """

    def __init__(
        self,
        resource: MessageResource,
        instrument: str,
        error: type[ScpiError],
        *,
        max_errors: int = 20,
    ) -> None:
        self.resource = resource
        self.instrument = instrument
        self.error = error
        self.max_errors = max_errors

    def write(self, command: str) -> None:
        """Send a command that has no reply."""
        write(self.resource, self._safe(command), instrument=self.instrument)

    def query(self, command: str, *, diagnose: bool = True, timeout: float | None = None) -> str:
        """Send a query; `timeout` (s) overrides the resource's for this one exchange."""
        saved = self.resource.timeout
        if timeout is not None:
            self.resource.timeout = max(saved, round(timeout * 1000))
        try:
            return query(self.resource, self._safe(command), instrument=self.instrument).strip()
        except InstrumentTimeout:
            if diagnose:
                self._diagnose(command)
            raise
        finally:
            self.resource.timeout = saved

    def _diagnose(self, command: str) -> None:
        """After a timeout: a queued error explains it; a silent queue leaves the timeout."""
        try:
            self.check_errors(after=repr(command))
        except InstrumentTimeout:
            pass  # the instrument is silent altogether: the original timeout stands

    def number(self, command: str) -> float:
        """A finite reading; NAN or over range drains the error queue, then `DeviceFault`."""
        reply = self.query(command)
        value = parse_number(reply, command, self.instrument)
        if not is_reading(value):
            self.check_errors(after=repr(command))
            raise DeviceFault(
                f"{self.instrument} answered {command!r} with {reply} (over range / no reading)"
            )
        return value

    def boolean(self, command: str) -> bool:
        return parse_boolean(self.query(command), command, self.instrument)

    def set_number(self, header: str, value: float) -> float:
        """``<header> <value>`` then ``<header>?``; the read-back value, which must match."""
        argument = format_number(value)
        self.write(f"{header} {argument}")
        readback = self.number(f"{header}?")
        if not math.isclose(readback, float(argument), rel_tol=1e-5, abs_tol=1e-9):
            self.check_errors(after=repr(f"{header} {argument}"))
            raise DeviceFault(
                f"{self.instrument} did not take {header} {argument}: it reads back {readback}"
            )
        return readback

    def set_boolean(self, header: str, on: bool) -> None:
        """``<header> ON|OFF`` then ``<header>?``, which must match."""
        self.write(f"{header} {'ON' if on else 'OFF'}")
        if self.boolean(f"{header}?") != on:
            self.check_errors(after=repr(f"{header} {'ON' if on else 'OFF'}"))
            raise DeviceFault(f"{self.instrument} did not take {header} {'ON' if on else 'OFF'}")

    def identity(self) -> str:
        return parse_identity(self.query("*IDN?"), self.instrument)

    def check_errors(self, after: str = "the last command") -> None:
        """Drain ``SYST:ERR?``; raise `error` listing every queued error."""
        check_error_queue(
            lambda command: self.query(command, diagnose=False),
            self.error,
            after,
            instrument=self.instrument,
            max_errors=self.max_errors,
        )

    def _safe(self, command: str) -> str:
        if _UNSAFE.search(command):
            raise LimitViolation(
                f"{self.instrument}: {escape(command)!r} holds a control character or ';'; "
                "nothing was sent"
            )
        return command
