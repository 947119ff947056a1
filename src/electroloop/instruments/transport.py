"""How drivers reach an instrument: a VISA message resource, optionally recorded verbatim.

Drivers take any object satisfying `MessageResource` (a pyvisa `MessageBasedResource` does), so
the same driver talks to hardware, to a loopback simulator (`TCPIP::127.0.0.1::<port>::SOCKET`
through pyvisa-py) or to a pyvisa-sim dialogue. `RecordingResource` keeps every exchange as text
so a measurement can store the raw traffic it was parsed from (`electroloop.models.Transcript`).
"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime
from functools import cache
from typing import Any, Protocol, runtime_checkable

import pyvisa
from pyvisa import constants
from pyvisa.errors import InvalidSession, VisaIOError

from electroloop.errors import DeviceFault, InstrumentError, InstrumentTimeout
from electroloop.models import Transcript

__all__ = [
    "MessageResource",
    "RecordingResource",
    "escape",
    "open_resource",
    "query",
    "write",
]


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

    def take(self) -> Transcript:
        """The traffic since the last take, with its SHA-256; the log is then cleared."""
        with self._lock:
            text = "".join(line + "\n" for line in self._lines)
            self._lines.clear()
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return Transcript(instrument=self.instrument, text=text, sha256=digest)


def _translate(exc: Exception, what: str) -> InstrumentError:
    if isinstance(exc, VisaIOError) and exc.error_code == constants.StatusCode.error_timeout:
        return InstrumentTimeout(f"{what}: no answer within the timeout")
    return InstrumentError(f"{what}: connection failed ({type(exc).__name__}: {exc})")


def query(resource: MessageResource, message: str, *, instrument: str) -> str:
    """Send `message`, return the reply; timeouts and broken links become typed errors."""
    try:
        return resource.query(message)
    except UnicodeDecodeError as exc:
        raise DeviceFault(f"{instrument} answered {escape(message)!r} with non-text bytes") from exc
    except (VisaIOError, InvalidSession, OSError) as exc:
        raise _translate(exc, f"{instrument} {escape(message)!r}") from exc


def write(resource: MessageResource, message: str, *, instrument: str) -> None:
    """Send `message` that has no reply; broken links become typed errors."""
    try:
        resource.write(message)
    except (VisaIOError, InvalidSession, OSError) as exc:
        raise _translate(exc, f"{instrument} {escape(message)!r}") from exc
