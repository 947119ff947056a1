"""NewareCycler against the simulated Neware BTS: the SCPI cycler's records, named errors,
record indices across tests and restarts, a link that drops mid-download, records a new test
would bury, and tests started by someone else between the driver's requests.

Ordinary traffic gets a 5 s timeout (the simulator integrates every channel on each command, so
a loaded machine may answer slowly); only tests that inject a SILENT fault use short ones."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aurora_neware import NewareAPI

from electroloop.clocks import SteppedClock
from electroloop.errors import ConfigError, DeviceFault, InstrumentTimeout, LimitViolation
from electroloop.instruments.cycler import (
    ChannelLimits,
    CycleRecord,
    CyclingProtocol,
    MultichannelCycler,
    ProtocolStep,
)
from electroloop.instruments.neware import (
    ChannelBusy,
    NewareCycler,
    RecordsNotFetched,
    UnknownPipeline,
    parse_address,
)
from electroloop.instruments.sim.cycler import CyclerServer
from electroloop.instruments.sim.neware import NewareServer
from electroloop.instruments.sim.server import Fault, FaultRule
from electroloop.instruments.transport import open_resource
from electroloop.simulations.cell_circuit import CellSpec

SPEC = CellSpec(capacity=0.005, electrolyte_conductivity=8.0)
LIMITS = ChannelLimits(min_voltage=2.5, max_voltage=4.2, max_current=0.005)
PROTOCOL = CyclingProtocol(
    (
        ProtocolStep.cc(0.0025, 4.2),
        ProtocolStep.cv(4.2, 0.00025),
        ProtocolStep.rest(600.0),
        ProtocolStep.cc(-0.0025, 3.0),
    ),
    cycles=2,
    record_interval=60.0,
)
LATER = 1e5  # s of instrument time: both cycles are done
NR3 = {"rel": 1e-6, "abs": 1e-9}
"""The SCPI cycler's replies carry 7 significant digits (NR3 ``%.6E``); the BTS's 15."""
TIME = {"abs": 0.02}
"""s: the BTS gives times in whole ms per step (the sum over 8 steps), NR3 of ~3e4 s 0.01 s."""
REPLY = 5.0  # s: the timeout for ordinary traffic
SILENT = 0.5  # s: the timeout where a test makes the simulator stay silent


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
def server(clock: SteppedClock) -> Iterator[NewareServer]:
    with NewareServer(3, clock=clock, seed=3) as sim:  # type: ignore[arg-type]
        sim.fill(1, SPEC)
        yield sim


def driver(
    server: NewareServer, folder: Path, timeout: float = REPLY, **options: object
) -> NewareCycler:
    return NewareCycler(
        f"127.0.0.1:{server.port}",
        step_folder=folder,
        limits=LIMITS,
        capacity_ah=0.005,
        timeout=timeout,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def cycler(server: NewareServer, tmp_path: Path) -> Iterator[NewareCycler]:
    neware = driver(server, tmp_path)
    yield neware
    neware.close()


def scpi_records() -> list[CycleRecord]:
    """The same cell, seed and protocol on the SCPI cycler simulator."""
    clock = SteppedClock()
    with CyclerServer(3, clock=clock, seed=3) as sim:  # type: ignore[arg-type]
        sim.fill(1, SPEC)
        resource = open_resource(sim.resource_name, timeout=2.0, **MultichannelCycler.TERMINATIONS)
        try:
            scpi = MultichannelCycler(resource, limits=LIMITS)
            scpi.load(1, PROTOCOL)
            scpi.start(1)
            clock.time = LATER
            return scpi.fetch_all(1)[0]
        finally:
            resource.close()


def test_the_same_protocol_gives_the_scpi_cyclers_records(
    cycler: NewareCycler, clock: SteppedClock
) -> None:
    cycler.load(1, PROTOCOL)
    assert cycler.start(1).state == "RUNNING"
    clock.time = LATER
    done = cycler.status(1)
    records, next_index = cycler.fetch_all(1)
    expected = scpi_records()
    assert done.state == "DONE" and next_index == len(expected) > 400
    for got, want in zip(records, expected, strict=True):
        assert (got.index, got.cycle, got.step) == (want.index, want.cycle, want.step)
        assert got.time == pytest.approx(want.time, **TIME)
        for name in ("current", "voltage", "capacity", "energy"):
            assert getattr(got, name) == pytest.approx(getattr(want, name), **NR3), name


def test_indices_run_on_across_tests_and_driver_restarts(
    cycler: NewareCycler, server: NewareServer, clock: SteppedClock, tmp_path: Path
) -> None:
    cycler.load(1, PROTOCOL, sample="cell-7")
    cycler.start(1)
    clock.time = LATER
    first, after_first = cycler.fetch_all(1)
    assert cycler.record_count(1) == after_first
    cycler.load(1, PROTOCOL, sample="cell-7")
    cycler.start(1)  # a new BTS test: seqids restart at 1, indices do not
    clock.time = 2 * LATER
    restarted = driver(server, tmp_path)  # what an orchestrator restarted meanwhile builds
    page, since = restarted.fetch(1, after_first, 50)
    assert [r.index for r in page] == list(range(after_first, after_first + 50))
    assert page[0].time == pytest.approx(0.0, abs=1e-9) and page[0].step == 1
    again, _ = restarted.fetch(1, after_first, 50)
    assert again == page  # idempotent
    rest, end = restarted.fetch_all(1, since)
    assert end == restarted.record_count(1) > after_first + 300  # two more cycles
    assert rest[-1].index == end - 1
    with pytest.raises(DeviceFault, match="earlier test"):
        restarted.fetch(1, after_first - 1, 10)
    restarted.close()


def test_dropped_and_silent_links_lose_and_repeat_nothing(
    server: NewareServer, clock: SteppedClock, tmp_path: Path
) -> None:
    cycler = driver(server, tmp_path, timeout=SILENT)
    cycler.load(1, PROTOCOL)
    cycler.start(1)
    clock.time = LATER
    whole, end = cycler.fetch_all(1)
    pages: list[CycleRecord] = []
    since = 0
    for fault in (Fault.DISCONNECT, Fault.GARBAGE, Fault.DISCONNECT, Fault.SILENT, None):
        if fault is not None:
            server.inject(fault)  # the next request: inquire or download, mid-download
        page, since = cycler.fetch(1, since, 100)
        pages += page
    page, since = cycler.fetch(1, since, 1000)
    pages += page
    cycler.close()
    assert since == end and pages == whole


def test_a_link_that_stays_silent_raises_a_timeout(server: NewareServer, tmp_path: Path) -> None:
    cycler = driver(server, tmp_path, timeout=SILENT)
    cycler.channel_count()
    server.inject(Fault.SILENT, times=2)
    with pytest.raises(InstrumentTimeout, match="no answer to connect"):
        cycler.status(1)
    cycler.close()


def test_bad_input_is_refused_before_anything_moves(
    cycler: NewareCycler, server: NewareServer, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="allowed: 'host:port'"):
        NewareCycler("127.0.0.1:99999", step_folder=tmp_path)
    assert parse_address("bts-pc") == ("bts-pc", 502)
    with pytest.raises(UnknownPipeline, match=r"\['21-4-1'\].*allowed"):
        driver(server, tmp_path, pipelines=["21-1-1", "21-4-1"]).channel_count()
    assert driver(server, tmp_path, pipelines=["21-1-3"]).pipeline(1) == "21-1-3"
    with pytest.raises(LimitViolation, match=r"channel 4; allowed: 1\.\.3"):
        cycler.status(4)
    too_fast = CyclingProtocol((ProtocolStep.cc(0.01, 4.2),))
    with pytest.raises(LimitViolation, match=r"current 0.01 A; allowed \|I\| <= 0.005 A"):
        cycler.load(2, too_fast)
    assert not cycler.step_file(2).exists()
    with pytest.raises(ConfigError, match="load a protocol first"):
        cycler.start(2)
    with pytest.raises(ConfigError, match="sample"):
        cycler.load(2, PROTOCOL, sample="a b")
    with pytest.raises(LimitViolation, match="max 2000"):
        cycler.fetch(1, 0, 2000)


def test_a_working_channel_is_not_started_or_reloaded(cycler: NewareCycler) -> None:
    cycler.load(1, PROTOCOL, sample="first")
    cycler.start(1)
    with pytest.raises(ChannelBusy, match="is working; allowed to start: finish, stop"):
        cycler.start(1)
    with pytest.raises(ChannelBusy, match="is working"):
        cycler.load(1, PROTOCOL, sample="second")
    assert cycler.status(1).state == "RUNNING"
    assert cycler.stop(1).state == "IDLE"
    assert cycler.stop(1).state == "IDLE"  # idempotent
    assert cycler.identity().startswith("Neware BTS devtype 27 unit 21")


def test_a_start_lost_on_the_link_is_reported_not_resent(
    cycler: NewareCycler, server: NewareServer
) -> None:
    cycler.load(1, PROTOCOL)
    cycler.record_count(1)  # connected: the next requests are start's own
    # start asks inquiredf and inquire, then aurora-neware inquire and start: drop start
    server.schedule(FaultRule(Fault.DISCONNECT, after=server.commands + 3))
    with pytest.raises(DeviceFault, match="did not start .*not re-sent"):
        cycler.start(1)
    assert cycler.status(1).state == "IDLE"  # nothing runs, nothing was sent twice
    assert cycler.start(1).state == "RUNNING"  # the caller may start it again


def interpose(
    monkeypatch: pytest.MonkeyPatch,
    server: NewareServer,
    before: Callable[[str], None],
    after: Callable[[str, str], str] = lambda line, reply: reply,
) -> None:
    """Run `before(request)` in the simulated BTS as each request arrives, ahead of its answer,
    and pass the answer through `after`: what another BTS client does (or a link drops)
    between two of the driver's requests, at a point no timing could hit reliably."""
    answer = server.answer

    def answered(line: str) -> str | None:
        before(line)
        reply = answer(line)
        return None if reply is None else after(line, reply)

    monkeypatch.setattr(server, "answer", answered)


def request(body: str) -> str:
    """`body` framed as aurora-neware frames a request (less the terminator)."""
    return f'<?xml version="1.0" encoding="UTF-8" ?><bts version="1.0">{body}</bts>'


def start_by_someone_else(step_file: Path, barcode: str) -> str:
    """The ``start`` the BTS client would send for channel 1 (pipeline 21-1-1)."""
    return request(
        '<cmd>start</cmd><list count = "1"><start ip="127.0.0.1" devtype="27" devid="21" '
        f'subdevid="1" chlid="1" barcode="{barcode}">{step_file}</start></list>'
    )


def test_start_refuses_while_records_a_new_test_would_bury_are_unfetched(
    cycler: NewareCycler, server: NewareServer, clock: SteppedClock, tmp_path: Path
) -> None:
    cycler.load(1, PROTOCOL, sample="a")
    cycler.start(1)
    clock.time = LATER
    _, since = cycler.fetch(1, 0, 100)
    end = cycler.record_count(1)
    cycler.load(1, PROTOCOL, sample="b")
    with pytest.raises(RecordsNotFetched, match=rf"records 100\.\.{end - 1} of test 1 .*fetch"):
        cycler.start(1)
    assert cycler.status(1).state == "DONE"  # nothing was sent: test 1's records stay readable
    rest, after = cycler.fetch_all(1, since)
    assert after == end and [r.index for r in rest] == list(range(100, end))
    assert cycler.start(1).state == "RUNNING"  # all read: the new test may start
    clock.time = 2 * LATER
    cycler.load(1, PROTOCOL, sample="c")
    with pytest.raises(RecordsNotFetched, match=rf"records {end}\.\."):
        cycler.start(1)  # started by this driver and never read: refused as well
    restarted = driver(server, tmp_path)  # neither started nor read it: the caller's to judge
    assert restarted.start(1).state == "RUNNING"
    restarted.close()


def test_an_old_test_with_the_same_barcode_does_not_confirm_a_lost_start(
    cycler: NewareCycler, server: NewareServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cycler.load(1, PROTOCOL, sample="s")
    cycler.start(1)
    cycler.stop(1)
    cycler.fetch_all(1)

    def drop_start(line: str) -> None:
        if "<cmd>start</cmd>" in line:
            raise ConnectionAbortedError("the link drops: start never arrives")

    def no_records(line: str, reply: str) -> str:  # a test stopped before its first record
        return re.sub(r'(<chl [^>]*count=")\d+', r"\g<1>0", reply)

    interpose(monkeypatch, server, drop_start, no_records)
    assert cycler.record_count(1) == 0  # so the new barcode is the old test's: s@0
    cycler.load(1, PROTOCOL, sample="s")
    with pytest.raises(DeviceFault, match=r"did not start .*test id 1, as before 1.*not re-sent"):
        cycler.start(1)
    assert cycler.status(1).state == "IDLE"


def test_a_test_started_mid_fetch_is_not_read_under_the_old_indices(
    cycler: NewareCycler, server: NewareServer, clock: SteppedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    cycler.load(1, PROTOCOL, sample="a")
    cycler.start(1)
    clock.time = LATER
    first, since = cycler.fetch(1, 0, 50)
    other = start_by_someone_else(cycler.step_file(1), "other@5000")
    answer, started = server.answer, []

    def start_before_download(line: str) -> None:
        if "<cmd>download</cmd>" in line and not started:
            started.append(answer(other))

    interpose(monkeypatch, server, start_before_download)
    with pytest.raises(DeviceFault, match="for test 2, not the inquired test 1"):
        cycler.fetch(1, since, 50)
    assert ">ok</start>" in started[0]
    with pytest.raises(DeviceFault, match="earlier test"):
        cycler.fetch(1, since, 50)  # test 1's later records: gone with someone else's start


def test_a_step_file_gone_before_start_is_sent_is_a_config_error(
    cycler: NewareCycler, server: NewareServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cycler.load(1, PROTOCOL, sample="mine")
    step_file = cycler.step_file(1)

    def lose_the_step_file(line: str) -> None:  # after the driver's check, before aurora's
        if "<cmd>inquire</cmd>" in line:
            step_file.unlink(missing_ok=True)

    interpose(monkeypatch, server, lose_the_step_file)
    with pytest.raises(ConfigError, match="step file .* is gone"):  # not "maybe arrived"
        cycler.start(1)
    assert cycler.status(1).state == "IDLE"


def test_a_channel_busy_by_the_time_start_is_sent_is_channel_busy(
    cycler: NewareCycler, server: NewareServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cycler.load(1, PROTOCOL, sample="mine")
    answer, inquiries = server.answer, []
    theirs = start_by_someone_else(cycler.step_file(1), "theirs")

    def someone_starts_first(line: str) -> None:  # between the driver's inquire and aurora's
        if "<cmd>inquire</cmd>" in line:
            inquiries.append(line)
            if len(inquiries) == 2:
                assert ">ok</start>" in (answer(theirs) or "")

    interpose(monkeypatch, server, someone_starts_first)
    connections = server.connections
    with pytest.raises(ChannelBusy, match="began working before start was sent"):
        cycler.start(1)
    assert server.connections == connections  # a refusal, not a fault: the link stays
    with NewareAPI("127.0.0.1", server.port) as api:  # aurora-neware's own client
        assert api.inquire("21-1-1")["21-1-1"]["barcode"] == "theirs"


def test_a_pipeline_the_bts_no_longer_lists_is_named(
    cycler: NewareCycler, server: NewareServer, clock: SteppedClock
) -> None:
    assert cycler.status(3).state == "IDLE"
    server.close()  # the BTS PC restarts with one channel configured, on the same port
    with NewareServer(1, clock=clock, port=server.port):  # type: ignore[arg-type]
        with pytest.raises(UnknownPipeline, match=r"21-1-3 is not on .*allowed: \['21-1-1'\]"):
            cycler.fetch(3, 0, 10)
