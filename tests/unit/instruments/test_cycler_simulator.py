"""MultichannelCycler against the loopback cycler simulator (accelerated clock), and replayed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import partial

import pytest

from electroloop.clocks import SteppedClock
from electroloop.errors import InstrumentTimeout
from electroloop.instruments.cycler import (
    ChannelFault,
    ChannelLimits,
    CycleRecord,
    CyclingProtocol,
    MultichannelCycler,
    ProtocolStep,
)
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.cycler import CyclerServer
from electroloop.instruments.transport import (
    ReconnectingResource,
    RecordingResource,
    ReplayResource,
    open_resource,
    query,
)
from electroloop.simulations.cell_circuit import CellSpec

T = MultichannelCycler.TERMINATIONS
Q = 0.005  # Ah, the default cell; 1C = 5 mA
LIMITS = ChannelLimits(min_voltage=2.5, max_voltage=4.2, max_current=0.02)
Opener = Callable[..., MultichannelCycler]


def c_over_2(cycles: int = 2, rest: float = 1800.0) -> CyclingProtocol:
    """CC-CV charge at C/2 to 4.2 V (cut-off C/20), rest, CC discharge at C/2 to 2.5 V, rest."""
    return CyclingProtocol(
        steps=(
            ProtocolStep.cc(Q / 2, 4.2),
            ProtocolStep.cv(4.2, Q / 20),
            ProtocolStep.rest(rest),
            ProtocolStep.cc(-Q / 2, 2.5),
            ProtocolStep.rest(rest),
        ),
        cycles=cycles,
        record_interval=60.0,
    )


def step_ends(records: list[CycleRecord]) -> list[CycleRecord]:
    """The last record of every (cycle, step) run."""
    return [a for a, b in zip(records, records[1:], strict=False) if a.step != b.step] + [
        records[-1]
    ]


@pytest.fixture
def clock() -> SimClock:
    return SimClock(speedup=30000.0)  # 10 h of instrument time in 1.2 s


@pytest.fixture
def server(clock: SimClock) -> Iterator[CyclerServer]:
    with CyclerServer(4, clock=clock, seed=5) as sim:
        yield sim


@pytest.fixture
def cycler(clock: SimClock) -> Iterator[Opener]:
    opened: list[MultichannelCycler] = []

    def _open(sim: CyclerServer, *, timeout: float = 0.5) -> MultichannelCycler:
        opener = partial(open_resource, sim.resource_name, timeout=timeout, **T)
        driver = MultichannelCycler(
            RecordingResource(ReconnectingResource(opener), "cycler"), limits=LIMITS, clock=clock
        )
        opened.append(driver)
        return driver

    yield _open
    for driver in opened:
        driver.close()


def test_ten_hour_cycle_test_runs_in_seconds(server, cycler) -> None:
    c = cycler(server)
    assert c.identity().startswith("Electroloop Sim,CYC-4,")
    capacity = server.cell(1).capacity
    c.load(1, c_over_2())
    c.start(1)
    done = c.wait(1, timeout=14 * 3600.0, poll_interval=300.0)
    records, next_index = c.fetch_all(1)
    assert (done.state, done.cycle, done.step) == ("DONE", 2, 5)
    assert 9 * 3600 < done.time < 11.5 * 3600  # two C/2 cycles with rests: about 10 h
    assert [r.index for r in records] == list(range(next_index)) and next_index > 500
    assert all(2.49 < r.voltage < 4.21 for r in records)
    assert all(24.5 < r.temperature < 25.5 for r in records)
    ends = {(r.cycle, r.step): r for r in step_ends(records)}
    for cycle in (1, 2):
        charged = ends[cycle, 1].capacity + ends[cycle, 2].capacity
        discharged = ends[cycle, 4].capacity
        assert discharged == pytest.approx(capacity, rel=0.04)
        assert 0.99 < discharged / charged <= 1.0  # Coulombic efficiency just below 1
        assert ends[cycle, 1].voltage == pytest.approx(4.2, abs=2e-3)  # CC landed on the cut-off
        assert ends[cycle, 2].current <= Q / 20 * 1.01
        assert ends[cycle, 4].voltage == pytest.approx(2.5, abs=2e-3)
        assert ends[cycle, 4].energy / discharged == pytest.approx(3.7, abs=0.15)  # V mean
    assert ends[2, 4].capacity < ends[1, 4].capacity * 1.002  # no capacity gain with cycling


def test_worse_electrolyte_delivers_less_at_2c(server, cycler) -> None:
    c = cycler(server)
    for channel, sigma in ((1, 10.0), (2, 0.5)):
        server.fill(channel, CellSpec(electrolyte_conductivity=sigma, initial_soc=1.0))
        c.load(channel, CyclingProtocol((ProtocolStep.cc(-2 * Q, 2.5),), record_interval=60.0))
        c.start(channel)
    delivered = {}
    for channel in (1, 2):
        c.wait(channel, timeout=3 * 3600.0, poll_interval=120.0)
        records, _ = c.fetch_all(channel)
        delivered[channel] = records[-1].capacity
        first_loaded = records[1].voltage  # after 60 s at 2C
        delivered[channel, "v"] = first_loaded
    assert delivered[2] < 0.95 * delivered[1]
    assert delivered[2, "v"] < delivered[1, "v"] - 0.1  # 10 mA through ~75 Ω more


def test_safety_limits_end_the_run_with_a_reason(server, cycler) -> None:
    c = cycler(server)
    server.fill(1, CellSpec(temperature=70.0))
    c.load(1, c_over_2(cycles=1))
    c.start(1)
    with pytest.raises(ChannelFault, match="TEMP_HIGH: 70.00 C > 60.00 C"):
        c.wait(1, timeout=3600.0)
    # A protocol the driver would refuse, sent raw: charge to 4.4 V under a 4.25 V limit.
    c.load(2, c_over_2(cycles=1))  # sets the 2.45..4.25 V safety window
    resource = c.resource
    assert query(resource, ':CHAN2:PROT:LOAD "CC,1E-2,4.4";:CHAN2:PROT?', instrument="c")
    c.start(2)
    with pytest.raises(ChannelFault, match=r"VOLT_HIGH: 4\.2\d+ V > 4\.2500 V") as fault:
        c.wait(2, timeout=4 * 3600.0, poll_interval=120.0)
    assert fault.value.status.step == 1
    records, _ = c.fetch_all(2)
    assert records[-1].voltage == pytest.approx(4.25, abs=0.02)  # the sample that tripped


def test_stop_and_restart_continue_the_record_indices(server, cycler, clock) -> None:
    c = cycler(server)
    c.load(3, c_over_2(cycles=1))
    assert c.start(3).state == "RUNNING"
    clock.sleep(3600.0)
    stopped = c.stop(3)
    assert stopped.state == "IDLE" and stopped.step == 1
    assert c.stop(3).state == "IDLE"  # stopping again changes nothing
    count = c.record_count(3)
    c.start(3)
    clock.sleep(600.0)
    c.stop(3)
    records, next_index = c.fetch_all(3)
    assert [r.index for r in records] == list(range(next_index))
    # The second run's start: its test time is reset to 0 s and sent as such, not computed.
    assert records[count].time == 0.0 and records[count].step == 1


def test_fetching_in_pages_while_running_yields_every_record_once(server, cycler) -> None:
    c = cycler(server)
    c.load(4, c_over_2(cycles=1, rest=600.0))
    c.start(4)
    collected: list[CycleRecord] = []
    since = 0
    while True:
        state = c.status(4).state
        page, since = c.fetch(4, since, max_records=7)
        collected.extend(page)
        if state == "DONE" and not page:
            break
    assert [r.index for r in collected] == list(range(c.record_count(4)))


def test_replayed_transcript_gives_the_same_results(server, cycler) -> None:
    live = cycler(server)
    protocol = c_over_2(cycles=1, rest=600.0)
    live.load(1, protocol)
    live.start(1)
    status = live.wait(1, timeout=8 * 3600.0, poll_interval=600.0)
    records, _ = live.fetch_all(1)
    transcript = live.resource.take()  # type: ignore[attr-defined]
    replay = ReplayResource(transcript)
    again = MultichannelCycler(replay, limits=LIMITS, clock=SteppedClock())
    again.load(1, protocol)
    again.start(1)
    # The driver only parses: statuses and records are copies of the same reply text.
    assert again.wait(1, timeout=8 * 3600.0, poll_interval=600.0) == status
    assert again.fetch_all(1) == (records, len(records))
    assert replay.remaining == 0


def test_simulator_speaks_the_documented_forms_and_errors(server) -> None:
    resource = open_resource(server.resource_name, timeout=1.0, **T)
    try:
        ask = partial(query, resource, instrument="cycler")
        assert ask("system:channels?") == "4"
        assert ask(':channel1:protocol:load "rest,60";:CHANNEL1:PROTOCOL?') == '"REST,6.000000E+01"'
        assert ask(":CHAN1:DATA:INTERVAL 10;:CHAN1:PROT:START;:CHAN1:STATUS?").startswith(
            "RUNNING,1,1,"
        )
        assert ask(':CHAN1:PROT:LOAD "REST,1";:CHAN1:PROT:START;:CHAN1:LIM:CURR 1;*OPC?') == "1"
        assert ask(':CHAN2:PROT:LOAD "CV,4.2";:CHAN2:PROT:LOAD "LOOP,1,2";*OPC?') == "1"
        assert ask(":CHAN2:DATA? 0,501;:CHAN2:DATA? 0,1") == "0"
        with pytest.raises(InstrumentTimeout):  # -114: a command error ends the message
            ask(":CHAN9:STAT?")
        errors = [ask("SYST:ERR?") for _ in range(7)]
        assert errors == [
            '-221,"Settings conflict;channel running"',
            '-221,"Settings conflict;already running"',
            '-221,"Settings conflict;channel running"',
            '-224,"Illegal parameter value;step 1: CV takes 2 or 3 fields"',
            '-224,"Illegal parameter value;step 1: LOOP target or count out of range"',
            '-222,"Data out of range"',
            '-114,"Header suffix out of range"',
        ]
        assert ask("SYST:ERR?") == '0,"No error"'
    finally:
        resource.close()


def test_close_leaves_no_threads(clock) -> None:
    before = threading.active_count()
    sim = CyclerServer(2, clock=clock)
    resource = open_resource(sim.resource_name, timeout=0.2, **T)
    assert MultichannelCycler(resource).channel_count() == 2
    resource.close()
    sim.close()
    assert threading.active_count() == before
