"""Line-oriented TCP server base for the protocol-true simulators.

Each simulator listens on 127.0.0.1 with an OS-chosen port, serves every client connection in
its own thread, splits the byte stream at the protocol's line terminator and answers each line
with exactly the bytes the real instrument sends. `close()` stops accepting, closes every client
socket and joins every thread, so nothing is left listening or running.

Faults are injected per request (`inject`): no answer (the client times out), garbage bytes,
a dropped connection, or a verbatim replacement answer.
"""

from __future__ import annotations

import enum
import select
import socket
import threading
from abc import ABC, abstractmethod
from collections import deque
from types import TracebackType
from typing import Self

__all__ = ["Fault", "LineServer"]

_POLL = 0.05  # s; how often idle threads look at the stop flag


class Fault(enum.Enum):
    """A fault to apply to the next request instead of the normal answer."""

    SILENT = "silent"  # read the request, answer nothing
    GARBAGE = "garbage"  # answer non-protocol bytes
    DISCONNECT = "disconnect"  # close the connection without answering


class LineServer(ABC):
    """Threaded TCP server; subclasses implement `answer(line) -> str | None`.

    `terminator` splits requests; `reply_terminator` is appended to every answer.
    """

    terminator: bytes = b"\n"
    reply_terminator: bytes = b"\n"
    name: str = "instrument"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._listener = socket.create_server((host, port))
        self._listener.setblocking(False)
        self.host, self.port = self._listener.getsockname()[:2]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._clients: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._faults: deque[Fault | str] = deque()
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

    @abstractmethod
    def answer(self, line: str) -> str | None:
        """The answer to one request line (without terminator), or None for no answer."""

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
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        if fault is Fault.DISCONNECT:
            return False
        if fault is Fault.SILENT:
            return True
        if fault is Fault.GARBAGE:
            reply: str | None = "\x7f#garbage?~"
        elif isinstance(fault, str):
            reply = fault
        else:
            reply = self.answer(line)
        if reply is not None:
            client.sendall(reply.encode("latin-1") + self.reply_terminator)
        return True
