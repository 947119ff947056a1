"""MultichannelCycler driver: dialogues (pyvisa-sim), validation and response parsers."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from electroloop.clocks import SteppedClock
from electroloop.errors import ConfigError, DeviceFault, InstrumentError, LimitViolation
from electroloop.instruments.cycler import (
    ChannelFault,
    ChannelLimits,
    ChannelStatus,
    CycleRecord,
    CyclerError,
    CyclingProtocol,
    MultichannelCycler,
    ProtocolStep,
    parse_error,
    parse_protocol,
    parse_records,
    parse_status,
)

T = MultichannelCycler.TERMINATIONS
OK, REFUSING = (f"TCPIP0::192.0.2.60::{port}::SOCKET" for port in (5025, 5026))
LIMITS = ChannelLimits(min_voltage=2.5, max_voltage=4.2, max_current=0.005)
TWO_CYCLES = CyclingProtocol(
    steps=(
        ProtocolStep.cc(2.5e-3, 4.2),
        ProtocolStep.cv(4.2, 2.5e-4),
        ProtocolStep.rest(600.0),
        ProtocolStep.cc(-2.5e-3, 2.5, max_duration=36000.0),
    ),
    cycles=2,
)


def cycler(dialogue, name: str) -> MultichannelCycler:
    resource = dialogue("cycler.yaml", name, T, timeout=0.05)
    return MultichannelCycler(resource, limits=LIMITS, clock=SteppedClock(), max_errors=3)


def sent(instrument: MultichannelCycler) -> list[str]:
    text = instrument.resource.take().text  # type: ignore[attr-defined]
    return [line.split(" ", 2)[2] for line in text.splitlines() if " > " in line]


def test_loads_starts_and_fetches(dialogue) -> None:
    c = cycler(dialogue, OK)
    assert c.identity() == "Acme Cyclers,BCS-8,SN77,2.0"
    c.reset()
    c.load(1, TWO_CYCLES)
    assert c.start(1) == ChannelStatus("RUNNING", step=2, cycle=1, time=3605.5)
    records, next_index = c.fetch(1)
    assert next_index == 2
    assert records[1] == CycleRecord(1, 30.0, 1, 1, 2.5001e-3, 3.25, 2.083333e-5, 6.7e-5, 25.01)
    assert c.fetch(1, since=2) == ([], 2)
    wire = TWO_CYCLES.wire()
    assert sent(c) == [
        "*IDN?",
        "*RST;*OPC?",
        "SYST:ERR?",
        "SYST:CHAN?",
        ":CHAN1:LIM:VOLT 2.450000E+00,4.250000E+00;:CHAN1:LIM:VOLT?",
        ":CHAN1:LIM:CURR 5.250000E-03;:CHAN1:LIM:CURR?",
        ":CHAN1:LIM:TEMP 6.000000E+01;:CHAN1:LIM:TEMP?",
        ":CHAN1:DATA:INT 3.000000E+01;:CHAN1:DATA:INT?",
        f':CHAN1:PROT:LOAD "{wire}";:CHAN1:PROT?',
        "CHAN1:DATA:COUNT?",
        ":CHAN1:PROT:START;:CHAN1:STAT?",
        "CHAN1:DATA? 0,100",
        "CHAN1:DATA? 2,100",
    ]


def test_wait_returns_done_and_raises_on_fault_or_stop(dialogue) -> None:
    c = cycler(dialogue, OK)
    assert c.wait(3, timeout=60.0).state == "DONE"
    with pytest.raises(ChannelFault, match="TEMP_HIGH: 61.00 C > 60.00 C") as fault:
        c.wait(2, timeout=60.0)
    assert fault.value.status == ChannelStatus(
        "FAULT", 3, 2, 7200.0, "TEMP_HIGH: 61.00 C > 60.00 C"
    )
    with pytest.raises(InstrumentError, match="IDLE"):
        c.wait(4, timeout=60.0)
    with pytest.raises(DeviceFault, match="STAT"):
        c.status(7)


def test_wait_times_out_in_instrument_time(dialogue) -> None:
    c = cycler(dialogue, OK)
    with pytest.raises(InstrumentError, match="still RUNNING after 600"):
        c.wait(1, timeout=600.0, poll_interval=100.0)
    # Seconds on a stepped clock: a sum of 100 s polls, exact but for rounding.
    assert c.clock.now() == pytest.approx(600.0, rel=0.0, abs=1e-9)  # type: ignore[attr-defined]


def test_inconsistent_data_is_a_device_fault(dialogue) -> None:
    c = cycler(dialogue, OK)
    with pytest.raises(DeviceFault, match="out of sequence"):
        c.fetch(4, since=5)
    with pytest.raises(DeviceFault, match="announced 3 records, got 1"):
        c.fetch(5)
    with pytest.raises(DeviceFault, match="beyond what its safety limits allow"):
        c.fetch(6)  # 5.1 V on a 4.2 V cell whose channel trips at 4.25 V


def test_refused_start_is_read_from_the_error_queue(dialogue) -> None:
    c = cycler(dialogue, REFUSING)
    with pytest.raises(CyclerError, match="-113"):
        c.start(1)  # START unknown here: STAT? still says IDLE, then SYST:ERR?
    with pytest.raises(LimitViolation, match="channel 3; allowed: 1..2"):
        c.status(3)


@pytest.mark.parametrize(
    ("protocol", "match"),
    [
        (CyclingProtocol((ProtocolStep.cc(0.01, 4.2),)), "current 0.01 A"),
        (CyclingProtocol((ProtocolStep.cc(-1e-3, 2.0),)), "voltage 2.0 V"),
        (CyclingProtocol((ProtocolStep.cv(4.3, 1e-4),)), "voltage 4.3 V"),
        (CyclingProtocol((ProtocolStep.cv(4.2, 0.005),)), "cut-off 0.005 A"),
    ],
)
def test_protocol_outside_the_chemistry_is_refused_before_sending(
    dialogue, protocol: CyclingProtocol, match: str
) -> None:
    c = cycler(dialogue, OK)
    with pytest.raises(LimitViolation, match=match):
        c.load(1, protocol)
    assert sent(c) == []


@pytest.mark.parametrize(
    "make",
    [
        lambda: ProtocolStep.cc(0.0, 4.2),
        lambda: ProtocolStep.cv(4.2, 0.0),
        lambda: ProtocolStep.rest(-1.0),
        lambda: ProtocolStep.cc(math.inf, 4.2),
        lambda: ProtocolStep("pulse"),  # type: ignore[arg-type]
        lambda: CyclingProtocol(()),
        lambda: CyclingProtocol((ProtocolStep.rest(1.0),), cycles=0),
        lambda: CyclingProtocol((ProtocolStep.rest(1.0),), record_interval=0.1),
        lambda: ChannelLimits(min_voltage=4.2, max_voltage=2.5),
    ],
)
def test_malformed_values_are_config_errors(make) -> None:
    with pytest.raises(ConfigError):
        make()


def test_fetch_arguments_are_checked(dialogue) -> None:
    c = cycler(dialogue, OK)
    with pytest.raises(LimitViolation):
        c.fetch(1, since=-1)
    with pytest.raises(LimitViolation):
        c.fetch(1, max_records=501)


# -- response parsers -----------------------------------------------------------------------

COUNT = st.integers(0, 10**6)
NUMBER = st.floats(-1e6, 1e6, allow_nan=False)
REASON = st.text(st.characters(blacklist_characters='"\n', codec="ascii"), max_size=40)


@given(
    state=st.sampled_from(["IDLE", "RUNNING", "DONE", "FAULT"]),
    step=COUNT,
    cycle=COUNT,
    time=st.floats(0.0, 1e8),
    reason=REASON,
)
def test_parse_status_round_trips(
    state: str, step: int, cycle: int, time: float, reason: str
) -> None:
    reply_time = f"{time:.3f}"
    status = parse_status(f'{state},{step},{cycle},{reply_time},"{reason}"')
    # Parsed from the reply: the time is a copy of the text's value, not computed.
    assert status == ChannelStatus(state, step, cycle, float(reply_time), reason)  # type: ignore[arg-type]


@given(
    start=COUNT,
    rows=st.lists(
        st.tuples(st.floats(0, 1e7), COUNT, COUNT, NUMBER, NUMBER, NUMBER, NUMBER, NUMBER),
        max_size=5,
    ),
)
def test_parse_records_round_trips(start: int, rows: list[tuple]) -> None:
    lines = [
        f"{start + i},{t:.6E},{c},{s},{a:.6E},{v:.6E},{q:.6E},{e:.6E},{k:.6E}"
        for i, (t, c, s, a, v, q, e, k) in enumerate(rows)
    ]
    records = parse_records(";".join([str(len(rows)), *lines]))
    assert [r.index for r in records] == list(range(start, start + len(rows)))
    for record, (t, c, s, a, v, q, e, k) in zip(records, rows, strict=True):
        assert (record.cycle, record.step) == (c, s)
        values = (record.time, record.current, record.voltage, record.capacity, record.energy)
        # NR3 with 7 significant digits: the reply rounds each value by at most 5e-7 relative.
        assert values == pytest.approx((t, a, v, q, e), rel=1e-6, abs=1e-300)
        assert record.temperature == pytest.approx(k, rel=1e-6, abs=1e-300)


STEP = st.one_of(
    st.builds(
        ProtocolStep.cc,
        st.floats(0.001, 1.0) | st.floats(-1.0, -0.001),
        st.floats(0.0, 5.0),
        st.none() | st.floats(1.0, 1e5),
    ),
    st.builds(
        ProtocolStep.cv, st.floats(0.0, 5.0), st.floats(1e-6, 1.0), st.none() | st.floats(1.0, 1e5)
    ),
    st.builds(ProtocolStep.rest, st.floats(1.0, 1e5)),
)


@given(steps=st.lists(STEP, min_size=1, max_size=8), cycles=st.integers(1, 1000))
def test_parse_protocol_round_trips_the_wire_format(steps: list, cycles: int) -> None:
    protocol = CyclingProtocol(tuple(steps), cycles=cycles)
    parsed = parse_protocol(f'"{protocol.wire()}"')
    assert parsed.cycles == cycles
    for a, b in zip(parsed.steps, protocol.steps, strict=True):
        assert a.kind == b.kind
        # The wire format is NR3 with 7 significant digits: at most 5e-7 relative.
        assert (a.current, a.voltage, a.cutoff_current) == pytest.approx(
            (b.current, b.voltage, b.cutoff_current), rel=1e-6, abs=0.0
        )
        assert (a.duration is None) == (b.duration is None)


@given(code=st.integers(-999, 999), message=REASON)
def test_parse_error_round_trips(code: int, message: str) -> None:
    assert parse_error(f'{code},"{message}"') == (code, message)


@given(reply=st.text(max_size=60))
def test_parsers_raise_only_device_faults_on_junk(reply: str) -> None:
    for parser in (parse_status, parse_records, parse_protocol, parse_error):
        try:
            parser(reply)
        except DeviceFault:
            pass
