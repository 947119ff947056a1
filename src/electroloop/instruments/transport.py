"""How drivers reach an instrument: a VISA message resource, optionally recorded verbatim.

Drivers take any object satisfying `MessageResource` (a pyvisa `MessageBasedResource` does), so
the same driver talks to hardware, to a loopback simulator (`TCPIP::127.0.0.1::<port>::SOCKET`
through pyvisa-py) or to a pyvisa-sim dialogue. `RecordingResource` keeps every exchange as text
so a measurement can store the raw traffic it was parsed from (`electroloop.models.Transcript`).
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any, Protocol, runtime_checkable

import pyvisa
from pyvisa import constants
from pyvisa.errors import InvalidSession, VisaIOError

from electroloop.errors import DeviceFault, InstrumentError, InstrumentTimeout
from electroloop.models import Transcript

__all__ = [
    "ConnectionLost",
    "MessageResource",
    "ReconnectingResource",
    "RecordingResource",
    "ReplayResource",
    "escape",
    "open_resource",
    "query",
    "write",
]


class ConnectionLost(InstrumentError):
    """The link dropped mid-exchange; the resource reconnected, the command was not re-sent."""


@runtime_checkable
class MessageResource(Protocol):
    """The part of pyvisa's `MessageBasedResource` a driver uses.

    `timeout` is in milliseconds, as in pyvisa.
    """

    timeout: float

    def write(self, message: str) -> Any: ...

    def read(self) -> str: ...

    def query(self, message: str) -> str: ...

    def close(self) -> None: ...


@runtime_checkable
class Reconnects(Protocol):
    """A resource that can reopen its link after it dropped (`ReconnectingResource`, and the
    wrappers around one); a bare PyVISA resource cannot."""

    def reconnect(self) -> bool:
        """Reopen the link; True when it did."""
        ...


@cache
def _resource_manager(backend: str) -> pyvisa.ResourceManager:
    # One manager per backend and process: pyvisa-py keeps its sessions there.
    return pyvisa.ResourceManager(backend)


def open_resource(
    resource_name: str,
    *,
    timeout: float = 2.0,
    read_termination: str = "\n",
    write_termination: str = "\n",
    backend: str = "@py",
) -> Any:
    """Open `resource_name` (e.g. ``TCPIP::127.0.0.1::5025::SOCKET``) as a message resource.

    `timeout` is in seconds. A raw TCP socket that cannot connect raises `InstrumentError`
    here rather than on the first write (pyvisa-py reports a refused connect as success).
    The caller closes the resource; closing releases the socket.
    """
    manager = _resource_manager(backend)
    try:
        resource = manager.open_resource(
            resource_name,
            timeout=round(timeout * 1000),
            open_timeout=round(timeout * 1000),
            read_termination=read_termination,
            write_termination=write_termination,
        )
    except Exception as exc:  # pyvisa-py raises a bare Exception when connect() times out
        raise InstrumentError(f"cannot open {resource_name}: {exc}") from exc
    if resource_name.upper().endswith("::SOCKET") and backend == "@py":
        _check_connected(manager, resource, resource_name)
    return resource


def _check_connected(manager: pyvisa.ResourceManager, resource: Any, name: str) -> None:
    session = getattr(manager.visalib, "sessions", {}).get(resource.session)
    sock = getattr(session, "interface", None)
    if sock is None:
        return
    try:
        sock.getpeername()
    except OSError as exc:
        resource.close()
        raise InstrumentError(f"cannot connect to {name}: connection refused") from exc
    # pyvisa-py leaves Nagle's algorithm on (and its SOCKET session refuses VI_ATTR_TCPIP_NODELAY):
    # a setting then its read-back waited 44 ms for the peer's delayed ACK instead of < 0.2 ms
    # (BENCHMARKS.md, benchmarks/instruments.py).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def escape(text: str) -> str:
    r"""Show control characters visibly (``\x03``, ``\r``) so a transcript stays one line each."""
    return text.encode("unicode_escape").decode("ascii")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RecordingResource:
    """Wraps a message resource and logs each exchange as text lines.

    Lines read ``<ISO-8601 UTC> > <sent>`` and ``<ISO-8601 UTC> < <received>`` (terminations
    stripped, control characters escaped); a failed read or write adds ``! <error>``.
    `take()` returns the text since the previous take as a `Transcript` and starts afresh.
    """

    def __init__(self, resource: MessageResource, instrument: str) -> None:
        self.resource = resource
        self.instrument = instrument
        self._lines: list[str] = []
        self._lock = threading.RLock()

    @property
    def timeout(self) -> float:
        return self.resource.timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self.resource.timeout = value

    def _log(self, marker: str, text: str) -> None:
        self._lines.append(f"{_now()} {marker} {escape(text)}")

    def write(self, message: str) -> Any:
        with self._lock:
            self._log(">", message)
            try:
                return self.resource.write(message)
            except Exception as exc:
                self._log("!", f"{type(exc).__name__}: {exc}")
                raise

    def read(self) -> str:
        with self._lock:
            try:
                reply = self.resource.read()
            except Exception as exc:
                self._log("!", f"{type(exc).__name__}: {exc}")
                raise
            self._log("<", reply)
            return reply

    def query(self, message: str) -> str:
        with self._lock:
            self.write(message)
            return self.read()

    def close(self) -> None:
        self.resource.close()

    def reconnect(self) -> bool:
        """Reconnect the wrapped resource if it can; True when it did."""
        with self._lock:
            done = isinstance(self.resource, Reconnects) and self.resource.reconnect()
            if done:
                self._log("!", "reconnected")
            return done

    def take(self) -> Transcript:
        """The traffic since the last take, with its SHA-256; the log is then cleared."""
        with self._lock:
            text = "".join(line + "\n" for line in self._lines)
            self._lines.clear()
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return Transcript(instrument=self.instrument, text=text, sha256=digest)


class ReconnectingResource:
    """A message resource that can be opened again after its connection dropped.

    `opener` opens a fresh resource (e.g. `functools.partial(open_resource, name)`). It is the
    driver's business whether to re-send after a reconnect: a query that moves nothing may be
    repeated, a command that moves liquid may not (see `query(..., idempotent=...)`).
    """

    def __init__(self, opener: Callable[[], MessageResource]) -> None:
        self._opener = opener
        self.resource = opener()
        self._timeout = self.resource.timeout  # kept here: a closed session cannot tell it
        self.reconnects = 0

    @property
    def timeout(self) -> float:
        return self._timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self.resource.timeout = value
        self._timeout = value

    def write(self, message: str) -> Any:
        return self.resource.write(message)

    def read(self) -> str:
        return self.resource.read()

    def query(self, message: str) -> str:
        return self.resource.query(message)

    def close(self) -> None:
        self.resource.close()

    def reconnect(self) -> bool:
        """Close the dropped connection and open a new one (raises InstrumentError if it can't;
        a later call tries again, as an instrument that reboots is back at its address)."""
        try:
            self.resource.close()
        except Exception:  # noqa: BLE001  the old session is already broken; nothing to save
            pass
        self.resource = self._opener()
        self.resource.timeout = self._timeout
        self.reconnects += 1
        return True


class ReplayResource:
    """Serves a recorded `Transcript` back to a driver, for tests without any instrument.

    Each write must equal the next recorded ``>`` line (else `AssertionError`: the driver's
    traffic changed); each read returns the next ``<`` line; a recorded ``! ...Timeout...``
    raises a VISA timeout and any other ``!`` a dropped connection, as they happened.
    """

    def __init__(self, transcript: Transcript | str, *, timeout: float = 2000.0) -> None:
        text = transcript.text if isinstance(transcript, Transcript) else transcript
        self.timeout = timeout
        self._steps: list[tuple[str, str]] = []
        for line in text.splitlines():
            _, marker, payload = line.split(" ", 2) if line.count(" ") >= 2 else (line, "", "")
            if marker in (">", "<", "!"):
                self._steps.append((marker, payload))

    @property
    def remaining(self) -> int:
        """Recorded steps not yet replayed."""
        return len(self._steps)

    def _next(self, wanted: str) -> str:
        if not self._steps:
            raise AssertionError(f"the transcript has ended; the driver wanted to {wanted}")
        marker, payload = self._steps.pop(0)
        if marker == "!":
            if payload == "reconnected":
                return self._next(wanted)
            if "timeout" in payload.lower() or "VI_ERROR_TMO" in payload:
                raise VisaIOError(constants.StatusCode.error_timeout)
            raise ConnectionResetError(payload)
        return marker + unescape(payload)

    def write(self, message: str) -> int:
        step = self._next(f"send {message!r}")
        if step != ">" + message:
            raise AssertionError(f"driver sent {message!r}; the transcript has {step!r}")
        return len(message)

    def read(self) -> str:
        step = self._next("read")
        if not step.startswith("<"):
            raise AssertionError(f"driver read; the transcript next sends {step!r}")
        return step[1:]

    def query(self, message: str) -> str:
        self.write(message)
        return self.read()

    def close(self) -> None:
        pass

    def reconnect(self) -> bool:
        return True


def unescape(text: str) -> str:
    """The inverse of `escape`."""
    return text.encode("ascii").decode("unicode_escape")


def _translate(exc: Exception, what: str) -> InstrumentError:
    if isinstance(exc, VisaIOError) and exc.error_code == constants.StatusCode.error_timeout:
        return InstrumentTimeout(f"{what}: no answer within the timeout")
    return InstrumentError(f"{what}: connection failed ({type(exc).__name__}: {exc})")


def _peer_closed(resource: Any) -> bool:
    """pyvisa-py reads a socket its peer closed as a timeout; peek to tell the two apart."""
    target = resource
    while not hasattr(target, "visalib") and hasattr(target, "resource"):
        target = target.resource  # unwrap Recording/ReconnectingResource
    sessions = getattr(getattr(target, "visalib", None), "sessions", {})
    sock = getattr(sessions.get(getattr(target, "session", None)), "interface", None)
    if not isinstance(sock, socket.socket):
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def _dropped(exc: Exception) -> bool:
    """A broken link (not a timeout: a silent device is still connected)."""
    if isinstance(exc, VisaIOError):
        return exc.error_code != constants.StatusCode.error_timeout
    return isinstance(exc, (InvalidSession, OSError))


def query(
    resource: MessageResource, message: str, *, instrument: str, idempotent: bool = True
) -> str:
    """Send `message`, return the reply; timeouts and broken links become typed errors.

    On a dropped connection the resource reconnects once; an `idempotent` query (one that
    moves nothing, e.g. a status or a reading) is then sent again, any other raises
    `ConnectionLost` so the driver can read back the device's state instead of repeating it.
    """
    try:
        return resource.query(message)
    except UnicodeDecodeError as exc:
        raise DeviceFault(f"{instrument} answered {escape(message)!r} with non-text bytes") from exc
    except (VisaIOError, InvalidSession, OSError) as exc:
        broken = _dropped(exc) or _peer_closed(resource)
        if not broken or not _reconnect(resource, instrument):
            raise _translate(exc, f"{instrument} {escape(message)!r}") from exc
        if not idempotent:
            raise ConnectionLost(
                f"{instrument}: connection dropped during {escape(message)!r}; reconnected, "
                "not re-sent because it changes the device's state"
            ) from exc
    try:
        return resource.query(message)
    except UnicodeDecodeError as exc:
        raise DeviceFault(f"{instrument} answered {escape(message)!r} with non-text bytes") from exc
    except (VisaIOError, InvalidSession, OSError) as exc:
        raise _translate(exc, f"{instrument} {escape(message)!r} after reconnecting") from exc


def _reconnect(resource: MessageResource, instrument: str) -> bool:
    if not isinstance(resource, Reconnects):
        return False
    try:
        return bool(resource.reconnect())
    except Exception as exc:  # noqa: BLE001  any failure to reopen is the instrument's
        raise InstrumentError(
            f"{instrument}: connection dropped and reconnecting failed: {exc}"
        ) from exc


def write(resource: MessageResource, message: str, *, instrument: str) -> None:
    """Send `message` that has no reply; broken links become typed errors (reconnects once,
    does not re-send: whether the device got the command is unknown)."""
    try:
        resource.write(message)
    except (VisaIOError, InvalidSession, OSError) as exc:
        if _dropped(exc) and _reconnect(resource, instrument):
            raise ConnectionLost(
                f"{instrument}: connection dropped during {escape(message)!r}; reconnected, "
                "not re-sent"
            ) from exc
        raise _translate(exc, f"{instrument} {escape(message)!r}") from exc
