"""NewareCycler against the simulated Neware BTS: the SCPI cycler's records, named errors,
record indices across tests and restarts, and a link that drops mid-download."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
def server(clock: SteppedClock) -> Iterator[NewareServer]:
    with NewareServer(3, clock=clock, seed=3) as sim:  # type: ignore[arg-type]
        sim.fill(1, SPEC)
        yield sim


def driver(server: NewareServer, folder: Path, **options: object) -> NewareCycler:
    return NewareCycler(
        f"127.0.0.1:{server.port}",
        step_folder=folder,
        limits=LIMITS,
        capacity_ah=0.005,
        timeout=0.5,
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
    cycler: NewareCycler, server: NewareServer, clock: SteppedClock
) -> None:
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
    assert since == end and pages == whole


def test_a_link_that_stays_silent_raises_a_timeout(
    cycler: NewareCycler, server: NewareServer
) -> None:
    cycler.channel_count()
    server.inject(Fault.SILENT, times=2)
    with pytest.raises(InstrumentTimeout, match="no answer to connect"):
        cycler.status(1)


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
    # start asks inquire, inquire and inquiredf, then aurora-neware inquire and start: drop start
    server.schedule(FaultRule(Fault.DISCONNECT, after=server.commands + 4))
    with pytest.raises(DeviceFault, match="did not start .*not re-sent"):
        cycler.start(1)
    assert cycler.status(1).state == "IDLE"  # nothing runs, nothing was sent twice
    assert cycler.start(1).state == "RUNNING"  # the caller may start it again
