"""Transport: opening loopback sockets, typed errors and the recorded transcript."""

from __future__ import annotations

import hashlib
import re
import socket
from functools import partial

import pytest

from electroloop.errors import DeviceFault, InstrumentError, InstrumentTimeout
from electroloop.instruments.sim.server import Fault, LineServer
from electroloop.instruments.transport import (
    MessageResource,
    ReconnectingResource,
    RecordingResource,
    escape,
    open_resource,
    query,
    write,
)

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [<>!] .*$")


class Echo(LineServer):
    name = "echo"

    def answer(self, line: str) -> str | None:
        return None if line == "quiet" else f"echo {line}\x03"


@pytest.fixture
def echo():
    with Echo() as server:
        yield server


def test_recording_resource_keeps_a_hashed_transcript(echo) -> None:
    resource = RecordingResource(open_resource(echo.resource_name, timeout=0.2), "echo")
    try:
        assert isinstance(resource, MessageResource)
        assert query(resource, "hello", instrument="echo") == "echo hello\x03"
        write(resource, "quiet", instrument="echo")
        resource.timeout = 50
        assert resource.timeout == 50
        transcript = resource.take()
        lines = transcript.text.splitlines()
        assert all(LINE.match(line) for line in lines)
        assert [line.split(" ", 1)[1] for line in lines] == [
            "> hello",
            r"< echo hello\x03",
            "> quiet",
        ]
        assert transcript.instrument == "echo"
        assert transcript.sha256 == hashlib.sha256(transcript.text.encode()).hexdigest()
        with pytest.raises(InstrumentTimeout):
            query(resource, "quiet", instrument="echo")
        assert resource.take().text.splitlines()[-1].split(" ", 1)[1].startswith("! VisaIOError")
        assert resource.take().text == ""
    finally:
        resource.close()


def test_escape_shows_control_characters() -> None:
    assert escape("/0`3000\x03\r\n") == r"/0`3000\x03\r\n"


def test_refused_connection_is_an_instrument_error() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(InstrumentError, match="refused"):
        open_resource(f"TCPIP::127.0.0.1::{port}::SOCKET", timeout=0.2)


def test_link_faults_are_typed(echo) -> None:
    resource = open_resource(echo.resource_name, timeout=0.1)
    try:
        echo.inject(Fault.SILENT)
        with pytest.raises(InstrumentTimeout):
            query(resource, "a", instrument="echo")
        echo.inject("\xff\xfe")
        with pytest.raises(DeviceFault, match="non-text"):
            query(resource, "b", instrument="echo")
        echo.inject(Fault.DISCONNECT)
        with pytest.raises(InstrumentError):
            query(resource, "c", instrument="echo")
        echo.close()
        with pytest.raises(InstrumentError):
            query(resource, "d", instrument="echo")
    finally:
        resource.close()
    with pytest.raises(InstrumentError):
        query(resource, "e", instrument="echo")  # a closed resource


def test_a_link_comes_back_after_a_failed_reconnect() -> None:
    """An instrument that reboots: the first reopen is refused while it is down, a later one
    reaches it at its address again, with the timeout the driver had set."""
    first = Echo()
    port = first.port
    resource = ReconnectingResource(partial(open_resource, first.resource_name, timeout=0.2))
    resource.timeout = 300
    first.close()
    with pytest.raises(InstrumentError, match="refused"):
        resource.reconnect()
    with Echo(port=port) as again:
        assert resource.reconnect()
        assert resource.timeout == 300
        assert query(resource, "back", instrument="echo") == "echo back\x03"
        assert again.commands == 1
    resource.close()
