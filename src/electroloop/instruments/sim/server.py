"""Line-oriented TCP server base for the protocol-true simulators.

Each simulator listens on 127.0.0.1 with an OS-chosen port, serves every client connection in
its own thread, splits the byte stream at the protocol's line terminator and answers each line
with exactly the bytes the real instrument sends. `close()` stops accepting, closes every client
socket and joins every thread, so nothing is left listening or running.

Faults are injected per request (`inject`) or scheduled (`schedule`: after N commands, or with
probability p per command, as a lab file asks): no answer (the client times out), garbage bytes,
a dropped connection, the instrument's own error reply, a device stuck busy, a drifting reading,
answers that come late, or a verbatim replacement answer. An error reply, stuck busy and drift
are the instrument's to interpret: a subclass implements `error_answer`, and reads `stuck_busy`
and `drift` where its answers are made.
"""

from __future__ import annotations

import enum
import random
import select
import socket
import threading
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Self

__all__ = ["Fault", "FaultRule", "LineServer"]

_POLL = 0.05  # s; how often idle threads look at the stop flag


class Fault(enum.Enum):
    """A fault to apply to the next request instead of the normal answer."""

    SILENT = "silent"  # read the request, answer nothing: the client times out
    GARBAGE = "garbage"  # answer non-protocol bytes
    DISCONNECT = "disconnect"  # close the connection without answering
    ERROR = "error"  # the instrument's own error reply (`error_answer`)
    STUCK_BUSY = "stuck_busy"  # from now on the device reports busy and never finishes
    DRIFT = "drift"  # from now on readings drift (`drift_per_command` more each command)
    SLOW = "slow"  # from now on every answer comes `slow_delay` seconds late


@dataclass(frozen=True)
class FaultRule:
    """When to apply a fault: once after `after` commands, or to each command with `probability`.

    `times` caps how often the rule fires (None: no cap). Probabilistic rules use the server's
    seeded random stream, so a dry run with faults repeats exactly.
    """

    fault: Fault
    after: int | None = None
    probability: float | None = None
    times: int | None = 1

    def __post_init__(self) -> None:
        if (self.after is None) == (self.probability is None):
            raise ValueError("a fault rule needs exactly one of after (commands) or probability")
        if self.after is not None and self.after < 0:
            raise ValueError(f"after is {self.after}; allowed: >= 0 commands")
        if self.probability is not None and not 0.0 < self.probability <= 1.0:
            raise ValueError(f"probability is {self.probability}; allowed: 0 < p <= 1")
        if self.times is not None and self.times < 1:
            raise ValueError(f"times is {self.times}; allowed: >= 1, or None for no cap")


class LineServer(ABC):
    """Threaded TCP server; subclasses implement `answer(line) -> str | None`.

    `terminator` splits requests; `reply_terminator` is appended to every answer.
    """

    terminator: bytes = b"\n"
    reply_terminator: bytes = b"\n"
    name: str = "instrument"
    drift_per_command: float = 0.002  # relative drift a DRIFT fault adds per command
    slow_delay: float = 0.1
    """Seconds a SLOW fault delays each answer: an overloaded serial-to-Ethernet converter or a
    busy instrument firmware (an assumption of this project), well inside the 5 s timeouts."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, seed: int = 0) -> None:
        self._listener = socket.create_server((host, port))
        self._listener.setblocking(False)
        self.host, self.port = self._listener.getsockname()[:2]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._clients: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._faults: deque[Fault | str] = deque()
        self._rules: list[list[FaultRule | int]] = []  # [rule, times fired]
        self._fault_rng = random.Random(f"{self.name}-faults-{seed}")
        self.commands = 0  # requests received, over all connections
        self.stuck_busy = False
        self.drift = 0.0  # relative error added to readings once a DRIFT fault has fired
        self._drifting = False
        self._slow = False
        self._acceptor = threading.Thread(
            target=self._accept_loop, name=f"{self.name}-accept:{self.port}", daemon=True
        )
        self._acceptor.start()

    @property
    def resource_name(self) -> str:
        """VISA resource name a driver opens with pyvisa-py."""
        return f"TCPIP::{self.host}::{self.port}::SOCKET"

    @property
    def connections(self) -> int:
        """Open client connections."""
        with self._lock:
            return len(self._clients)

    def inject(self, fault: Fault | str, times: int = 1) -> None:
        """Apply `fault` (or answer the literal text `fault`) to the next `times` requests."""
        with self._lock:
            self._faults.extend([fault] * times)

    def schedule(self, rule: FaultRule) -> None:
        """Apply `rule` from now on (counted in commands this server has received)."""
        with self._lock:
            self._rules.append([rule, 0])

    @abstractmethod
    def answer(self, line: str) -> str | None:
        """The answer to one request line (without terminator), or None for no answer."""

    def error_answer(self, line: str) -> str | None:
        """The instrument's own error reply to `line` (a Fault.ERROR); subclasses override."""
        return None

    def _next_fault(self) -> Fault | str | None:
        """The fault for the request just counted: injected first, then scheduled rules."""
        with self._lock:
            self.commands += 1
            if self._drifting:
                self.drift += self.drift_per_command
            if self._faults:
                return self._faults.popleft()
            for entry in self._rules:
                rule, fired = entry
                assert isinstance(rule, FaultRule) and isinstance(fired, int)
                if rule.times is not None and fired >= rule.times:
                    continue
                due = (
                    self.commands > rule.after
                    if rule.after is not None
                    else self._fault_rng.random() < (rule.probability or 0.0)
                )
                if due:
                    entry[1] = fired + 1
                    return rule.fault
            return None

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Stop accepting, close client sockets and join every thread. Idempotent."""
        self._stop.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept loop's select at once
        except OSError:
            pass
        if self._acceptor is not threading.current_thread():
            self._acceptor.join()
        self._listener.close()
        with self._lock:
            clients = list(self._clients)
            threads = list(self._threads)
        for client in clients:
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- threads -------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._listener], [], [], _POLL)
            if not ready:
                continue
            try:
                client, _ = self._listener.accept()
            except (BlockingIOError, OSError):
                continue
            client.setblocking(True)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(
                target=self._serve,
                args=(client,),
                name=f"{self.name}-client:{self.port}",
                daemon=True,
            )
            with self._lock:
                self._threads = {t for t in self._threads if t.is_alive()}
                self._clients.add(client)
                self._threads.add(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        buffer = b""
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([client], [], [], _POLL)
                if not ready:
                    continue
                chunk = client.recv(4096)
                if not chunk:
                    return
                buffer += chunk
                while self.terminator in buffer:
                    raw, buffer = buffer.split(self.terminator, 1)
                    if not self._respond(client, raw.decode("latin-1")):
                        return
        except OSError:
            return
        finally:
            client.close()
            with self._lock:
                self._clients.discard(client)

    def _respond(self, client: socket.socket, line: str) -> bool:
        """Answer one line; False when the connection is to be dropped."""
        fault = self._next_fault()
        if fault is Fault.DISCONNECT:
            return False
        if fault is Fault.SILENT:
            return True
        if fault is Fault.STUCK_BUSY:
            self.stuck_busy = True
        elif fault is Fault.DRIFT:
            with self._lock:
                self._drifting = True
        elif fault is Fault.SLOW:
            self._slow = True
        if self._slow:
            self._stop.wait(self.slow_delay)
        if fault is Fault.GARBAGE:
            reply: str | None = "\x7f#garbage?~"
        elif fault is Fault.ERROR:
            reply = self.error_answer(line)
        elif isinstance(fault, str):
            reply = fault
        else:
            reply = self.answer(line)
        if reply is not None:
            client.sendall(reply.encode("latin-1") + self.reply_terminator)
        return True
