"""The Orion Star A215 simulator on a raw TCP socket: the bytes a real meter sends, its command
rules, the data log, the clock and the seeded noise it shares with the SCPI meter."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from electroloop.instruments.orion_meter import parse_log, parse_measurements
from electroloop.instruments.sim.bench import SimulatedBench
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.meter import MeterServer
from electroloop.instruments.sim.orion_meter import OrionMeterServer
from electroloop.instruments.transport import open_resource, query
from electroloop.models import Stock
from electroloop.simulations.conductivity import conductivity

GRAMS = {"EC": 1.0, "LiPF6-EC": 1.2, "EMC": 2.0, "DMC": 0.8}


def filled_bench(stocks: list[Stock], seed: int = 5) -> SimulatedBench:
    bench = SimulatedBench(stocks, 25.0, conductivity, seed)
    for name, grams in GRAMS.items():
        bench.deliver(name, grams / bench.stocks[name].density)
    return bench


@pytest.fixture
def server(stocks: list[Stock]) -> Iterator[OrionMeterServer]:
    with OrionMeterServer(filled_bench(stocks), serial="X51250", clock=SimClock(1000.0)) as s:
        yield s


class Terminal:
    """A bare socket, as a serial-to-Ethernet converter passes the meter's bytes through."""

    def __init__(self, s: OrionMeterServer) -> None:
        self.sock = socket.create_connection((s.host, s.port), timeout=2.0)
        self.pending = b""

    def ask(self, command: bytes) -> bytes:
        """Send `command`, read to and including the prompt ``> ``."""
        self.sock.sendall(command)
        while b"> " not in self.pending:
            chunk = self.sock.recv(4096)
            assert chunk, "the simulator closed the connection"
            self.pending += chunk
        reply, self.pending = self.pending.split(b"> ", 1)
        return reply + b"> "

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def terminal(server: OrionMeterServer) -> Iterator[Terminal]:
    t = Terminal(server)
    yield t
    t.close()


def test_replies_are_framed_as_the_captured_a215_reply(terminal: Terminal) -> None:
    terminal.ask(b"SETCSV\r")
    reply = terminal.ask(b"GETMEAS\r")
    # echo padded to 16, CR LF CR LF CR, the record, LF CR CR, the prompt and its space
    assert reply.startswith(b"GETMEAS         \r\n\r\n\rA215 Cond,X51250,3.04,")
    assert reply.endswith(b",M100,#1\n\r\r> ")
    assert reply.count(b",") == 17  # 18 fields
    assert terminal.ask(b"\r") == b"> "  # an empty command: the prompt again


def test_commands_ignore_case_and_line_feeds(terminal: Terminal) -> None:
    terminal.ask(b"setcsv\r\n")
    reply = terminal.ask(b"\ngetmeas 2\r").decode("latin-1")
    assert reply.startswith("getmeas 2       \r\n")
    readings = parse_measurements(reply.removesuffix("> "), "GETMEAS 2")
    assert [r.log_number for r in readings] == [1, 2]


def test_an_unknown_command_fails_with_echo_and_prompt_only(terminal: Terminal) -> None:
    assert terminal.ask(b"CALIBRATE\r") == b"CALIBRATE       \r\n\r\n\r> "
    assert terminal.ask(b"GETMEAS 0\r") == b"GETMEAS 0       \r\n\r\n\r> "
    assert terminal.ask(b"GETCAL PH\r") == b"GETCAL PH       \r\n\r\n\r> "  # no pH calibration


def test_the_printer_format_until_setcsv(terminal: Terminal) -> None:
    printed = terminal.ask(b"GETMEAS\r").decode("latin-1")
    assert "Conductivity  " in printed and "," not in printed
    assert "," not in terminal.ask(b"SYSTEM\r").decode("latin-1")
    terminal.ask(b"SETCSV\r")
    assert terminal.ask(b"SYSTEM\r").split(b"\r")[3].startswith(b"A215,X51250,3.04,")


def test_the_data_log_keeps_every_printed_record(server: OrionMeterServer) -> None:
    io = open_resource(
        server.resource_name, timeout=5.0, read_termination=">", write_termination="\r"
    )
    try:
        assert parse_log(query(io, "GETLOG", instrument="orion"), "GETLOG") == []  # empty log
        query(io, "SETCSV", instrument="orion")
        printed = [
            parse_measurements(query(io, "GETMEAS", instrument="orion"))[0] for _ in range(3)
        ]
        logged = parse_log(query(io, "GETLOG", instrument="orion"), "GETLOG")
        assert [r.log_number for r in logged] == [1, 2, 3]
        assert [r.conductivity for r in logged] == [r.conductivity for r in printed]
    finally:
        io.close()


def test_an_acquisition_takes_its_measurement_time(stocks: list[Stock]) -> None:
    clock = SimClock(100.0)
    with OrionMeterServer(filled_bench(stocks), measurement_time=5.0, clock=clock) as s:
        t = Terminal(s)
        try:
            before = clock.now()
            t.ask(b"GETMEAS 2\r")
            assert clock.now() - before >= 10.0  # two records of 5 s each, in instrument time
        finally:
            t.close()


def test_the_same_seed_reads_the_same_as_the_scpi_meter(stocks: list[Stock]) -> None:
    """Both meters draw their noise from the bench's ``meter`` stream in the same order, so a
    campaign gives the same readings on either (up to the Orion's 4 printed digits)."""
    with (
        OrionMeterServer(filled_bench(stocks, seed=11), clock=SimClock(1000.0)) as orion,
        MeterServer(filled_bench(stocks, seed=11), clock=SimClock(1000.0)) as scpi,
    ):
        o, s = Terminal(orion), socket.create_connection((scpi.host, scpi.port), timeout=2.0)
        try:
            o.ask(b"SETCSV\r")
            for _ in range(5):
                (reading,) = parse_measurements(o.ask(b"GETMEAS\r").decode().removesuffix("> "))
                s.sendall(b"MEAS:COND?\n")
                siemens_per_metre = float(s.recv(100).decode())
                assert reading.conductivity == pytest.approx(siemens_per_metre * 10, rel=6e-4)
        finally:
            o.close()
            s.close()


def test_stuck_busy_never_prints_a_reading_but_answers_system(server: OrionMeterServer) -> None:
    server.stuck_busy = True
    t = Terminal(server)
    try:
        assert t.ask(b"SYSTEM\r").startswith(b"SYSTEM")
        t.sock.settimeout(0.2)  # only the reading that never comes waits so little
        t.sock.sendall(b"GETMEAS\r")
        with pytest.raises(TimeoutError):
            t.sock.recv(100)
    finally:
        t.close()
