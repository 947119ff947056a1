"""What every SCPI simulator here shares: headers, the error queue, parameters, program messages.

Sources: IEEE 488.2-1992 §6.1.6 (a command error discards the rest of the message, an
execution error does not), §7.1 (a program message joins units with ``;``); SCPI-1999 Vol. 1
§6.2.1 (a header node matches its short or long form, in any case; bracketed nodes are
optional), §7.2.1 (NRf numbers; ``MINimum``/``MAXimum``/``DEFault``), §7.3 (booleans
``ON|OFF|1|0``), §7.8.2 (strings: a doubled quote stands for one), Vol. 2 §21.8 (the error
queue and its codes: -104 data type, -108 parameter not allowed, -109 missing parameter, -113
undefined header, -222 data out of range, -224 illegal parameter value, -350 queue overflow).

Two ways of answering use these pieces: a `CommandTable` of header patterns answers one unit
per line (the conductivity meter, the thermal chamber); `execute_message` runs every unit of a
``;``-joined line through a dispatcher (the SMU, the cycler).
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable, Iterable

__all__ = [
    "CommandTable",
    "ErrorQueue",
    "Handler",
    "ScpiHeader",
    "ScpiReject",
    "execute_message",
    "parse_number",
    "parse_parameter",
    "parse_switch",
    "split_message",
]

Handler = Callable[[str], "str | None"]  # parameters -> answer, None for no answer
_NRF = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class ScpiReject(Exception):
    """A command the instrument refuses: queue (code, message), send nothing."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code},{message}")
        self.code = code
        self.message = message


class ScpiHeader:
    """One SCPI program header pattern, e.g. ``[SENSe:]CONDuctivity:TCOMPensation[:STATe]``.

    Each node matches its short form (the upper-case letters) or its long form, in any case;
    bracketed nodes may be left out (SCPI-1999 Vol. 1 §6.2.1). A leading ``:`` is optional.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        pieces = []
        for node in re.findall(r"\[?:?[A-Za-z*]+\??\]?", pattern):
            optional = node.startswith("[")
            name = node.strip("[]:?")
            short = "".join(c for c in name if c.isupper() or c == "*")
            alternatives = "|".join(re.escape(f) for f in dict.fromkeys([short, name.upper()]))
            piece = f":(?:{alternatives})"
            pieces.append(f"(?:{piece})?" if optional else piece)
        query = r"\?" if pattern.endswith("?") else ""
        self._regex = re.compile("".join(pieces) + query, re.IGNORECASE)

    def matches(self, header: str) -> bool:
        text = header if header.startswith(":") else ":" + header
        return self._regex.fullmatch(text) is not None


class ErrorQueue:
    """The SCPI error/event queue: FIFO, ``0,"No error"`` when empty (SCPI-1999 Vol. 2 §21.8).

    When full, the newest entry is replaced by -350 queue overflow, as the standard requires.
    """

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._queue: deque[tuple[int, str]] = deque()

    def push(self, code: int, message: str) -> None:
        if len(self._queue) >= self.size:
            self._queue[-1] = (-350, "Queue overflow")
        else:
            self._queue.append((code, message))

    def pop(self) -> str:
        code, message = self._queue.popleft() if self._queue else (0, "No error")
        quoted = message.replace('"', '""')
        return f'{code},"{quoted}"'

    def clear(self) -> None:
        self._queue.clear()

    def __len__(self) -> int:
        return len(self._queue)


# -- parameters -----------------------------------------------------------------------------


def parse_number(text: str, low: float = -math.inf, high: float = math.inf) -> float:
    """A number within [low, high]: -104 if it does not read as one, -222 if it is out of range
    or not finite. Reads what Python's `float` reads (``nan`` is then -222, ``1_0`` is 10);
    `parse_parameter` first holds a parameter to the NRf grammar (SCPI-1999 Vol. 1 §7.2.1)."""
    try:
        value = float(text)
    except ValueError:
        raise ScpiReject(-104, "Data type error") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise ScpiReject(-222, "Data out of range")
    return value


def parse_parameter(
    text: str, *, low: float, high: float, default: float, integer: bool = False
) -> float:
    """One numeric parameter (NRf, or ``MINimum``/``MAXimum``/``DEFault``) within [low, high].

    Raises `ScpiReject` with -109 (missing), -108 (more than one), -104 (not a number) or -222
    (out of range), as SCPI-1999 Vol. 2 §21.8 assigns them.
    """
    text = text.strip()
    if not text:
        raise ScpiReject(-109, "Missing parameter")
    if "," in text:
        raise ScpiReject(-108, "Parameter not allowed")
    word = text.upper()
    if word in ("MIN", "MINIMUM"):
        return low
    if word in ("MAX", "MAXIMUM"):
        return high
    if word in ("DEF", "DEFAULT"):
        return default
    if not _NRF.fullmatch(text):
        raise ScpiReject(-104, "Data type error")
    return parse_number(text, low, high)


def parse_switch(text: str) -> bool:
    """A boolean parameter ``ON|OFF|1|0`` (SCPI-1999 Vol. 1 §7.3); else -224 / -109."""
    word = text.strip().upper()
    if not word:
        raise ScpiReject(-109, "Missing parameter")
    if word in ("ON", "1"):
        return True
    if word in ("OFF", "0"):
        return False
    raise ScpiReject(-224, "Illegal parameter value")


# -- answering ------------------------------------------------------------------------------


class CommandTable:
    """Header patterns and their handlers, for simulators that answer one unit per line."""

    def __init__(self, commands: Iterable[tuple[str, Handler]]) -> None:
        self._commands = [(ScpiHeader(pattern), handler) for pattern, handler in commands]

    def execute(self, header: str, parameters: str, errors: ErrorQueue) -> str | None:
        """Run the first handler whose pattern matches `header`; a refusal is queued in
        `errors` and answers nothing: -108 for a query given parameters, -113 for no match."""
        for pattern, handler in self._commands:
            if pattern.matches(header):
                try:
                    if header.endswith("?") and parameters.strip():
                        raise ScpiReject(-108, "Parameter not allowed")
                    return handler(parameters)
                except ScpiReject as reject:
                    errors.push(reject.code, reject.message)
                    return None
        errors.push(-113, "Undefined header")
        return None


def split_message(line: str) -> list[str]:
    """Program message units of one line: split at ``;`` outside double quotes (IEEE 488.2
    §7.1 program message; a quoted string may hold semicolons)."""
    units: list[str] = []
    current: list[str] = []
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            units.append("".join(current))
            current = []
        else:
            current.append(char)
    units.append("".join(current))
    return [unit.strip() for unit in units if unit.strip()]


def execute_message(
    line: str, dispatch: Callable[[str, str], str | None], errors: ErrorQueue
) -> str | None:
    """Run each unit of `line` as ``dispatch(header, argument)``; the answers joined with ``;``.

    A refused unit is queued in `errors`: a command error (-1xx) discards the rest of the
    message, an execution error (-2xx) does not (IEEE 488.2 §6.1.6). A query that cannot
    complete (None) leaves the whole message unanswered.
    """
    replies = []
    for unit in split_message(line):
        head, _, argument = unit.partition(" ")
        try:
            reply = dispatch(head, argument.strip())
        except ScpiReject as reject:
            errors.push(reject.code, reject.message)
            if reject.code > -200:
                break
            continue
        if reply is None and head.endswith("?"):
            return None
        if reply is not None:
            replies.append(reply)
    return ";".join(replies) if replies else None
