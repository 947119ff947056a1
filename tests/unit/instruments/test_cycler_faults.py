"""MultichannelCycler under every injected fault: the typed error, or the recovery."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest

from electroloop.errors import DeviceFault, InstrumentError, InstrumentTimeout
from electroloop.instruments.cycler import (
    ChannelLimits,
    CycleRecord,
    CyclerError,
    CyclingProtocol,
    MultichannelCycler,
    ProtocolStep,
)
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.cycler import CyclerServer
from electroloop.instruments.sim.server import Fault, FaultRule
from electroloop.instruments.transport import ReconnectingResource, open_resource
from electroloop.simulations.cell_circuit import CellSpec

Q = 0.005
CYCLE = CyclingProtocol(
    steps=(
        ProtocolStep.cc(Q / 2, 4.2),
        ProtocolStep.cv(4.2, Q / 20),
        ProtocolStep.rest(600.0),
        ProtocolStep.cc(-Q / 2, 2.5),
    ),
    record_interval=60.0,
)


@pytest.fixture
def rig() -> Iterator[tuple[CyclerServer, MultichannelCycler, ReconnectingResource, SimClock]]:
    clock = SimClock(speedup=30000.0)
    with CyclerServer(2, clock=clock, seed=9) as server:
        opener = partial(
            open_resource, server.resource_name, timeout=0.5, **MultichannelCycler.TERMINATIONS
        )
        link = ReconnectingResource(opener)
        cycler = MultichannelCycler(
            link, limits=ChannelLimits(max_current=0.01), clock=clock, max_errors=5
        )
        try:
            yield server, cycler, link, clock
        finally:
            cycler.close()


def test_silent_query_is_asked_again_once_then_a_timeout(rig) -> None:
    server, cycler, _, _ = rig
    server.inject(Fault.SILENT)
    assert cycler.status(1).state == "IDLE"  # reopened, queue empty, asked again
    server.inject(Fault.SILENT, times=4)  # the query, SYST:ERR?, the retry, SYST:ERR?
    with pytest.raises(InstrumentTimeout):
        cycler.status(1)


def test_faults_while_fetching_lose_no_record_and_duplicate_none(rig) -> None:
    server, cycler, link, _ = rig
    cycler.load(1, CYCLE)
    cycler.start(1)
    server.schedule(FaultRule(Fault.DISCONNECT, probability=0.15, times=4))
    server.schedule(FaultRule(Fault.GARBAGE, probability=0.15, times=4))
    collected: list[CycleRecord] = []
    since, failures, finished = 0, 0, False
    while True:
        try:
            finished = cycler.status(1).state == "DONE"
            page, since = cycler.fetch(1, since, max_records=10)
        except InstrumentError:  # garbage: ask again from the same index
            failures += 1
            continue
        collected.extend(page)
        if finished and not page:
            break
    assert [r.index for r in collected] == list(range(cycler.record_count(1)))
    assert failures >= 1 and link.reconnects >= 1
    assert server.commands > 20


def test_dropped_start_is_not_repeated_but_reported(rig) -> None:
    server, cycler, link, _ = rig
    cycler.load(2, CYCLE)
    # start() asks DATA:COUNT? first (re-sent if dropped); the drop hits START;STAT?
    server.schedule(FaultRule(Fault.DISCONNECT, after=server.commands + 1))
    with pytest.raises(DeviceFault, match="did not start"):
        cycler.start(2)
    assert link.reconnects == 1
    assert cycler.status(2).state == "IDLE"
    assert cycler.start(2).state == "RUNNING"  # the caller decides to start it again


def test_instrument_error_is_read_from_the_queue(rig) -> None:
    server, cycler, _, _ = rig
    server.inject(Fault.ERROR)
    with pytest.raises(CyclerError, match="-200") as error:
        cycler.load(1, CYCLE)
    assert error.value.errors == [(-200, "Execution error")]


def test_stuck_channel_never_finishes(rig) -> None:
    server, cycler, _, _ = rig
    cycler.load(1, CYCLE)
    cycler.start(1)
    server.inject(Fault.STUCK_BUSY)
    frozen = cycler.status(1)
    with pytest.raises(InstrumentTimeout, match="still RUNNING"):
        cycler.wait(1, timeout=4 * 3600.0, poll_interval=600.0)
    assert cycler.status(1) == frozen  # the same reply parsed again: its test time is a copy


def test_drifting_measurement_is_caught_by_the_record_check(rig) -> None:
    server, cycler, _, clock = rig
    server.fill(1, CellSpec(initial_soc=1.0))
    cycler.load(1, CyclingProtocol((ProtocolStep.rest(4 * 3600.0),), record_interval=60.0))
    cycler.start(1)
    server.drift_per_command = 0.02
    server.inject(Fault.DRIFT)
    for _ in range(10):
        clock.sleep(120.0)
        cycler.status(1)  # each command drifts the channel's measurements further
    with pytest.raises(DeviceFault, match="drifting"):
        cycler.fetch_all(1)
    assert cycler.status(1).state == "RUNNING"  # the true cell is fine; the gauge is not
