"""Mettler-Toledo analytical balance over MT-SICS (levels 0 and 1).

Source: METTLER TOLEDO "MT-SICS Interface Commands" Reference Manual (e.g. 11780711 for
Excellence balances; 11781363 for weigh modules). Section numbers below follow the weigh-module
edition: §2.1 command format (upper case, parameters separated by a space, every command and
every response closed by CR LF; text parameters in double quotes); §2.1.2.1 responses with a
weight value (``<ID> <status> <value> <unit>``, the value right-aligned in 10 characters);
§2.1.2.2 responses without a weight value (``<ID> A`` or ``<ID> A "<text>" ...``); §2.1.3.1
command-specific errors (``<ID> I`` understood but not executable now, ``<ID> L`` logical error
such as a parameter not allowed, ``<ID> +``/``<ID> -`` overload/underload); §2.1.3.2 general
errors ``ES`` (syntax: command not recognised), ``ET`` (transmission: bad parity or line too
long), ``EL`` (logical: command understood but not executable). Commands: §3 "@", "D", "DW",
"I1", "I2", "I3", "I4", "S", "SI", "T", "TA", "TAC", "Z".

How answers map to errors: ``ES``/``ET``/``EL`` and ``<ID> L`` raise `BalanceSyntaxError`,
`BalanceTransmissionError` and `BalanceLogicalError`; ``+``/``-`` raise `BalanceRangeError`.
Stability policy: ``<ID> I`` to a weighing command (``S``, ``SI``, ``T``, ``Z``, ``TA``,
``TAC``) means "busy, or the load did not settle within the balance's own stability timeout";
the command was not executed, so the driver sends it again, `retries` times `retry_delay` s
apart, then raises `BalanceBusyError` (an `InstrumentTimeout`). ``<ID> I`` to an identity
query is not retried (`BalanceNotReady`): the balance is in a menu or calibrating.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from electroloop.errors import DeviceFault, InstrumentTimeout, LimitViolation
from electroloop.instruments.transport import MessageResource, escape, query

__all__ = [
    "BalanceBusyError",
    "BalanceData",
    "BalanceFault",
    "BalanceIdentity",
    "BalanceLogicalError",
    "BalanceNotReady",
    "BalanceRangeError",
    "BalanceSyntaxError",
    "BalanceTransmissionError",
    "MettlerToledoBalance",
    "SicsLevel",
    "WeightReply",
    "parse_acknowledgement",
    "parse_balance_data",
    "parse_sics_level",
    "parse_texts",
    "parse_weight",
]

_T = TypeVar("_T")
_UNITS = {"g": 1.0, "mg": 1e-3, "kg": 1e3}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.(\d*))?|\.(\d+))")
_HEAD = re.compile(r'(?P<ident>[^\s"]+)\s+(?P<status>\S)(?:\s+(?P<rest>.*))?')
_QUOTED_LIST = re.compile(r'(?:"[^"]*"\s*)+')
_QUOTED = re.compile(r'"([^"]*)"')
_ARGUMENT = re.compile(r"[!-~]+")  # printable ASCII without spaces: §2.1 separates by a space
_TEXT = re.compile(r"[ !#-~]*")  # printable ASCII except the double quote that delimits it
_GENERAL_ERRORS = {
    "ES": "syntax error: the balance did not recognise the command",
    "ET": "transmission error: the balance received a faulty line",
    "EL": "logical error: the command cannot be executed",
}
_IDENTS = {"@": "I4", "SI": "S"}  # answer IDs that differ from the command name (§3)
_DISPLAY_CHARS = 20  # this driver's conservative limit (displays differ), not a manual figure


class BalanceFault(DeviceFault):
    """The balance refused `command` with `reply` (an MT-SICS error or status)."""

    def __init__(self, message: str, *, command: str = "", reply: str = "") -> None:
        super().__init__(message)
        self.command = command
        self.reply = reply


class BalanceRangeError(BalanceFault):
    """The balance is in its overload (``+``) or underload (``-``) range (§2.1.3.1)."""


class BalanceSyntaxError(BalanceFault):
    """``ES``: the balance did not recognise the command (§2.1.3.2)."""


class BalanceTransmissionError(BalanceFault):
    """``ET``: the balance received a faulty line (parity, line too long; §2.1.3.2)."""


class BalanceLogicalError(BalanceFault):
    """``EL`` or ``<ID> L``: understood but not executable, e.g. a parameter not allowed."""


class BalanceNotReady(BalanceFault):
    """``<ID> I``: understood but not executable now (busy, or not stable in time)."""


class BalanceBusyError(InstrumentTimeout):
    """The balance kept answering ``<ID> I`` through every retry: it never settled."""


@dataclass(frozen=True)
class WeightReply:
    """A weight answer (§2.1.2.1): status letter, value in grams, the step of its last digit."""

    status: str
    grams: float
    resolution: float

    @property
    def stable(self) -> bool:
        """``S`` (stable) rather than ``D`` (dynamic)."""
        return self.status == "S"


@dataclass(frozen=True)
class SicsLevel:
    """``I1``: MT-SICS levels implemented (e.g. ``"01"``) and the version of levels 0–3."""

    levels: str
    versions: tuple[str, ...]


@dataclass(frozen=True)
class BalanceData:
    """``I2``: balance type and maximum capacity (g)."""

    model: str
    capacity: float


@dataclass(frozen=True)
class BalanceIdentity:
    """What ``I1``–``I4`` report, for a lab check and for the measurement record."""

    model: str
    capacity: float  # g
    serial: str
    software: str
    levels: str

    def __str__(self) -> str:
        return (
            f"Mettler-Toledo {self.model} ({self.capacity:g} g), serial {self.serial}, "
            f"software {self.software}, MT-SICS levels {self.levels}"
        )


# -- response parsers (pure: each raises only DeviceFault subclasses) -----------------------


def _general(command: str, line: str) -> list[str]:
    """Fields of a reply that is neither empty nor a general error (§2.1.3.2)."""
    reply = line.strip()
    if not reply:
        raise DeviceFault(f"balance answered {command!r} with an empty line")
    if reply in _GENERAL_ERRORS:
        error = {"ES": BalanceSyntaxError, "ET": BalanceTransmissionError}.get(
            reply, BalanceLogicalError
        )
        raise error(
            f"balance answered {command!r} with {reply}: {_GENERAL_ERRORS[reply]}",
            command=command,
            reply=reply,
        )
    return reply.split()


def _status(command: str, line: str, ident: str, allowed: str) -> list[str]:
    """Check the reply's ID and status (§2.1.3.1); the fields of an allowed reply."""
    fields = _general(command, line)
    shown = escape(" ".join(fields))
    if fields[0] != ident or len(fields) < 2:
        raise DeviceFault(f"balance answered {command!r} with unexpected {shown!r}")
    status = fields[1]
    if status == "+":
        raise BalanceRangeError(
            f"balance answered {command!r} with '{ident} +': overload / upper limit exceeded",
            command=command,
            reply=shown,
        )
    if status == "-":
        raise BalanceRangeError(
            f"balance answered {command!r} with '{ident} -': underload / lower limit exceeded "
            "(is the pan in place?)",
            command=command,
            reply=shown,
        )
    if status == "I":
        raise BalanceNotReady(
            f"balance answered {command!r} with '{ident} I': not executable now (busy, or "
            "the load did not settle within the balance's stability timeout)",
            command=command,
            reply=shown,
        )
    if status == "L":
        raise BalanceLogicalError(
            f"balance answered {command!r} with '{ident} L': logical error (parameter not allowed)",
            command=command,
            reply=shown,
        )
    if status not in allowed:
        raise DeviceFault(
            f"balance answered {command!r} with status {status!r}; expected one of {list(allowed)}"
        )
    return fields


def parse_weight(command: str, line: str, *, ident: str, allowed: str) -> WeightReply:
    """``<ID> <status> <value> <unit>`` (§2.1.2.1) with status in `allowed`, in grams."""
    fields = _status(command, line, ident, allowed)
    if len(fields) != 4 or fields[3] not in _UNITS:
        raise DeviceFault(
            f"balance answered {command!r} with {escape(' '.join(fields))!r}; expected "
            f"'<ID> <status> <value> <unit>' with unit in {sorted(_UNITS)}"
        )
    text, unit = fields[2], fields[3]
    match = _NUMBER.fullmatch(text)
    value = float(text) if match else math.nan
    if not math.isfinite(value):
        raise DeviceFault(f"balance sent a weight {escape(text)!r} that is not a number")
    assert match is not None
    decimals = len(match.group(1) or match.group(2) or "")
    return WeightReply(
        status=fields[1],
        grams=value * _UNITS[unit],
        resolution=10.0**-decimals * _UNITS[unit],
    )


def parse_acknowledgement(command: str, line: str, *, ident: str) -> None:
    """``<ID> A``: the command was executed (§2.1.2.2)."""
    fields = _status(command, line, ident, "A")
    if len(fields) != 2:
        raise DeviceFault(
            f"balance answered {command!r} with {escape(' '.join(fields))!r}; expected '{ident} A'"
        )


def parse_texts(command: str, line: str, *, ident: str) -> tuple[str, ...]:
    """``<ID> A "<text>" ["<text>" ...]`` (§2.1.2.2): the quoted texts."""
    _status(command, line, ident, "A")
    head = _HEAD.fullmatch(line.strip())
    rest = (head.group("rest") if head else None) or ""
    if not _QUOTED_LIST.fullmatch(rest):
        raise DeviceFault(
            f"balance answered {command!r} with {escape(line.strip())!r}; expected "
            f"'{ident} A \"…\"' (quoted texts)"
        )
    return tuple(_QUOTED.findall(rest))


def parse_sics_level(line: str) -> SicsLevel:
    """``I1 A "<levels>" "<V0>" "<V1>" "<V2>" "<V3>"`` (§3 "I1")."""
    texts = parse_texts("I1", line, ident="I1")
    if len(texts) != 5 or not texts[0].isdigit():
        raise DeviceFault(
            f"balance answered 'I1' with {escape(line.strip())!r}; expected the implemented "
            "levels and four level versions"
        )
    return SicsLevel(levels=texts[0], versions=texts[1:])


def parse_balance_data(line: str) -> BalanceData:
    """``I2 A "<type> <capacity> <unit>"`` (§3 "I2"); capacity in grams.

    Editions differ in quoting (one text, or type, capacity and unit quoted apart), so the
    texts are joined and the last two words read as capacity and unit.
    """
    words = " ".join(parse_texts("I2", line, ident="I2")).split()
    shown = escape(line.strip())
    if len(words) < 3 or words[-1] not in _UNITS or not _NUMBER.fullmatch(words[-2]):
        raise DeviceFault(
            f"balance answered 'I2' with {shown!r}; expected '<type> <capacity> <unit>' with "
            f"unit in {sorted(_UNITS)}"
        )
    capacity = float(words[-2]) * _UNITS[words[-1]]
    if not math.isfinite(capacity):
        raise DeviceFault(f"balance answered 'I2' with {shown!r}; capacity is not a number")
    return BalanceData(model=" ".join(words[:-2]), capacity=capacity)


def _argument(value: str) -> str:
    """A command parameter: refused before sending if it holds spaces or control characters."""
    if not _ARGUMENT.fullmatch(value):
        raise LimitViolation(
            f"balance parameter {escape(value)!r} is not allowed: printable ASCII without "
            "spaces, CR, LF or other control characters (MT-SICS §2.1)"
        )
    return value


class MettlerToledoBalance:
    """An MT-SICS balance: zero, tare and weigh in grams.

    Open the resource with `TERMINATIONS` (MT-SICS frames every line with CR LF) and a
    timeout longer than the balance's stability timeout (``S``, ``T`` and ``Z`` wait for a
    stable load before answering). ``<ID> I`` answers to weighing commands are retried
    `retries` times, `retry_delay` seconds apart, before `BalanceBusyError` is raised.
    Masses are checked against `capacity` (g) before anything is sent.
    """

    PARSER_VERSION: ClassVar[str] = "1"
    """How this driver reads the instrument's replies: bump it when a parser changes, so every
    measurement records which parsing produced it."""

    TERMINATIONS = {"read_termination": "\r\n", "write_termination": "\r\n"}

    def __init__(
        self,
        resource: MessageResource,
        capacity: float = 220.0,
        *,
        retries: int = 5,
        retry_delay: float = 0.05,
    ) -> None:
        if not (math.isfinite(capacity) and capacity > 0):
            raise ValueError(f"capacity is {capacity} g; allowed: a finite mass > 0")
        self.resource = resource
        self.capacity = capacity
        self.retries = retries
        self.retry_delay = retry_delay

    def close(self) -> None:
        self.resource.close()

    # -- identity (level 0) ----------------------------------------------------------------

    def identity(self) -> BalanceIdentity:
        """Model, capacity, serial number, software and MT-SICS levels (``I1``–``I4``)."""
        data = self.balance_data()
        return BalanceIdentity(
            model=data.model,
            capacity=data.capacity,
            serial=self.serial_number(),
            software=self.software_version(),
            levels=self.sics_level().levels,
        )

    def sics_level(self) -> SicsLevel:
        """MT-SICS levels implemented and their versions (``I1``, MT-SICS §3 "I1")."""
        return self._ask("I1", parse_sics_level)

    def balance_data(self) -> BalanceData:
        """Balance type and capacity in grams (``I2``, MT-SICS §3 "I2")."""
        return self._ask("I2", parse_balance_data)

    def software_version(self) -> str:
        """Software version and type definition number (``I3 A "<text>"``, MT-SICS §3 "I3")."""
        return self._text("I3")

    def serial_number(self) -> str:
        """Serial number (``I4`` → ``I4 A "<SNR>"``, MT-SICS §3 "I4")."""
        return self._text("I4")

    def reset(self) -> str:
        """Cancel pending commands and return to the switch-on state without zeroing.

        ``@`` answers like ``I4`` (MT-SICS §3 "@"); returns the serial number. It clears the
        tare memory; sending it twice leaves the same state, so it is re-sent after a dropped
        link like a query.
        """
        return self._text("@")

    # -- weighing --------------------------------------------------------------------------

    def zero(self) -> None:
        """Set a new zero point at the present stable load (``Z`` → ``Z A``, MT-SICS §3 "Z").

        Zeroing also clears the tare memory.
        """
        self._acknowledged("Z", "Z", retry=True, idempotent=False)

    def tare(self) -> float:
        """Store the present load as tare; returns the tare weight in grams.

        ``T`` → ``T S <value> <unit>`` (MT-SICS §3 "T"; waits for a stable load). The answer
        carries the stored tare, so it is its own read-back.
        """
        reply = self._ask(
            "T",
            lambda line: parse_weight("T", line, ident="T", allowed="S"),
            retry=True,
            idempotent=False,
        )
        return reply.grams

    def tare_weight(self) -> float:
        """The tare weight in memory, grams (``TA`` → ``TA A <value> <unit>``, MT-SICS §3 "TA")."""
        return self._tare_reply("TA").grams

    def set_tare_weight(self, grams: float) -> float:
        """Preset the tare to `grams` (``TA <value> g``, MT-SICS §3 "TA"); the read-back.

        Refused before sending unless 0 <= `grams` <= `capacity`. The balance rounds the preset
        to its readability; a read-back (``TA``) further than one displayed digit from `grams`
        raises `DeviceFault`.
        """
        if not (math.isfinite(grams) and 0.0 <= grams <= self.capacity):
            raise LimitViolation(
                f"tare preset {grams} g; allowed: 0 to the capacity {self.capacity} g"
            )
        command = f"TA {_argument(f'{grams:.5f}')} {_argument('g')}"
        self._tare_reply(command, idempotent=False)
        back = self._tare_reply("TA")
        if abs(back.grams - grams) > back.resolution + 1e-12:
            raise DeviceFault(
                f"balance reads back a tare of {back.grams} g after {command!r}; expected "
                f"{grams} g within {back.resolution} g"
            )
        return back.grams

    def clear_tare(self) -> None:
        """Clear the tare memory (``TAC`` → ``TAC A``, MT-SICS §3 "TAC"), then read back ``TA``."""
        self._acknowledged("TAC", "TAC", retry=True, idempotent=False)
        back = self._tare_reply("TA")
        if abs(back.grams) > back.resolution:
            raise DeviceFault(f"balance reads back a tare of {back.grams} g after 'TAC'")

    def reading(self, stable: bool = True) -> WeightReply:
        """Net weight with its status.

        `stable` uses ``S`` (waits for a stable reading, ``S S <value> <unit>``); otherwise
        ``SI`` sends the present reading at once, stable (``S S``) or dynamic (``S D``).
        MT-SICS §3 "S" and "SI".
        """
        command = "S" if stable else "SI"
        allowed = "S" if stable else "SD"
        return self._ask(
            command,
            lambda line: parse_weight(command, line, ident="S", allowed=allowed),
            retry=True,
        )

    def weight(self, stable: bool = True) -> float:
        """Net weight in grams (see `reading`)."""
        return self.reading(stable).grams

    # -- display (level 1) -----------------------------------------------------------------

    def display_text(self, text: str) -> None:
        """Show `text` on the balance display (``D "<text>"`` → ``D A``, MT-SICS §3 "D").

        Refused before sending unless `text` is at most 20 printable ASCII characters without
        a double quote (which would end the text, §2.1) or any control character.
        """
        if len(text) > _DISPLAY_CHARS or not _TEXT.fullmatch(text):
            raise LimitViolation(
                f"display text {escape(text)!r} is not allowed: up to {_DISPLAY_CHARS} printable "
                "ASCII characters, no double quote, CR, LF or other control characters"
            )
        self._acknowledged(f'D "{text}"', "D")

    def display_weight(self) -> None:
        """Show the weight again after `display_text` (``DW`` → ``DW A``, MT-SICS §3 "DW")."""
        self._acknowledged("DW", "DW")

    # -- exchange --------------------------------------------------------------------------

    def _text(self, command: str, *, idempotent: bool = True) -> str:
        ident = _IDENTS.get(command, command)
        texts = self._ask(
            command, lambda line: parse_texts(command, line, ident=ident), idempotent=idempotent
        )
        if len(texts) != 1:
            raise DeviceFault(
                f"balance answered {command!r} with {len(texts)} quoted texts; expected 1"
            )
        return texts[0]

    def _acknowledged(
        self, command: str, ident: str, *, retry: bool = False, idempotent: bool = True
    ) -> None:
        self._ask(
            command,
            lambda line: parse_acknowledgement(command, line, ident=ident),
            retry=retry,
            idempotent=idempotent,
        )

    def _tare_reply(self, command: str, *, idempotent: bool = True) -> WeightReply:
        return self._ask(
            command,
            lambda line: parse_weight(command, line, ident="TA", allowed="A"),
            retry=True,
            idempotent=idempotent,
        )

    def _ask(
        self,
        command: str,
        parse: Callable[[str], _T],
        *,
        retry: bool = False,
        idempotent: bool = True,
    ) -> _T:
        """Send `command` and parse its answer; with `retry`, resend while it answers ``I``.

        Queries are `idempotent` (re-sent once after a dropped link); state changes are not.
        """
        attempts = max(1, self.retries + 1) if retry else 1
        last: BalanceNotReady | None = None
        for attempt in range(attempts):
            line = query(self.resource, command, instrument="balance", idempotent=idempotent)
            try:
                return parse(line)
            except BalanceNotReady as exc:
                if not retry:
                    raise
                last = exc
            if attempt < attempts - 1:
                time.sleep(self.retry_delay)
        reply = last.reply if last is not None else "?"
        raise BalanceBusyError(
            f"balance answered {command!r} with {reply!r} {attempts} times: busy, or the load "
            "did not settle within the balance's stability timeout"
        ) from last
