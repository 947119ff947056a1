"""aurora-neware's own client (`NewareAPI`, unchanged) against the simulated Neware BTS."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from aurora_neware import NewareAPI
from aurora_unicycler import (
    ConstantCurrent,
    ConstantVoltage,
    CyclingProtocol,
    Loop,
    OpenCircuitVoltage,
    RecordParams,
    SafetyParams,
    SampleParams,
    Tag,
    VoltageScan,
)

from electroloop.clocks import SteppedClock
from electroloop.errors import SimulationError
from electroloop.instruments.sim.neware import (
    NEWARE_TERMINATOR,
    NewareServer,
    StepFileError,
    fill_over_api,
    parse_step_file,
)
from electroloop.simulations.cell_circuit import CellSpec

SPEC = CellSpec(capacity=0.005, electrolyte_conductivity=8.0, temperature=25.0)
PIPE = "21-1-1"


def unicycler(method: list[object] | None = None) -> CyclingProtocol:
    """Two C/2 CC-CV / rest / CC cycles of a 5 mAh cell, recorded every minute."""
    return CyclingProtocol(
        sample=SampleParams(name="cellA", capacity_mAh=5.0),
        record=RecordParams(time_s=60.0),
        safety=SafetyParams(
            max_voltage_V=4.25, min_voltage_V=2.45, max_current_mA=5.25, min_current_mA=-5.25
        ),
        method=method
        or [
            Tag(tag="cycle"),
            ConstantCurrent(current_mA=2.5, until_voltage_V=4.2),
            ConstantVoltage(voltage_V=4.2, until_current_mA=0.25),
            OpenCircuitVoltage(until_time_s=600.0),
            ConstantCurrent(current_mA=-2.5, until_voltage_V=3.0),
            Loop(loop_to="cycle", cycle_count=2),
        ],
    )


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
def server(clock: SteppedClock) -> Iterator[NewareServer]:
    with NewareServer(10, clock=clock, seed=2) as sim:  # type: ignore[arg-type]
        sim.fill(1, SPEC)
        yield sim


@pytest.fixture
def api(server: NewareServer) -> Iterator[NewareAPI]:
    client = NewareAPI("127.0.0.1", server.port)
    client.neware_socket.settimeout(5.0)
    with client:
        yield client


def test_getdevinfo_lists_pipelines_across_subdevices(api: NewareAPI) -> None:
    assert list(api.channel_map) == [f"21-1-{n}" for n in range(1, 9)] + ["21-2-1", "21-2-2"]
    assert api.channel_map["21-2-2"]["devtype"] == 27
    status = api.getchlstatus()
    assert {s["status"] for s in status.values()} == {"stop"}
    assert api.inquire(PIPE)[PIPE]["step_type"] is None  # "--": nothing has run


def test_start_runs_the_step_file_to_finish_and_downloads(
    api: NewareAPI, clock: SteppedClock, tmp_path: Path
) -> None:
    xml = tmp_path / "cellA.xml"
    unicycler().to_neware_xml(save_path=xml)
    assert api.start(PIPE, "cellA", xml)[0]["start"] == "ok"
    working = api.inquire(PIPE)[PIPE]
    assert (working["workstatus"], working["step_type"], working["barcode"]) == (
        "working",
        "cc",
        "cellA",
    )
    clock.time = 2 * 86400.0
    done = api.inquire(PIPE)[PIPE]
    assert done["workstatus"] == "finish"
    assert 5 * 3600 < done["totaltime"] < 12 * 3600  # two C/2 cycles and rests
    count = api.inquiredf(PIPE)[PIPE]["count"]
    data = api.download(PIPE, last_n_points=0)
    assert data["seqid"] == list(range(1, count + 1)) and count > 300
    assert set(data["cycleid"]) == {1, 2} and set(data["stepid"]) == {1, 2, 3, 4}
    assert set(data["steptype"]) == {"cc", "cv", "rest", "dc"}
    discharge = [c for c, s in zip(data["curr"], data["stepid"], strict=True) if s == 4]
    assert all(c == pytest.approx(-0.0025, rel=0.01) for c in discharge)  # noise 0.02 %
    steps = api.get_steps(PIPE)
    assert [s["stepid"] for s in steps] == [1, 2, 3, 4, 1, 2, 3, 4]
    assert steps[-1]["endseqid"] == count
    # testtime is the time in the step (ms): its last record's equals the step's steptime
    last_of_first_step = data["testtime"][steps[0]["endseqid"] - 1]
    assert last_of_first_step == steps[0]["steptime"]
    assert steps[2]["steptime"] == 600000  # the rest, exactly
    log = api.downloadlog(PIPE)
    assert [entry["log_code"] for entry in log] == [100000, 100001]  # start, finish
    assert api.stop(PIPE)[0]["stop"] == "false"  # nothing works on it any more


def test_stop_ends_a_working_test(api: NewareAPI, clock: SteppedClock, tmp_path: Path) -> None:
    xml = tmp_path / "p.xml"
    unicycler().to_neware_xml(save_path=xml)
    api.start(PIPE, "cellA", xml)
    clock.time = 3600.0
    assert api.stop(PIPE)[0]["stop"] == "ok"
    assert api.getchlstatus(PIPE)[PIPE]["status"] == "stop"
    assert api.light(PIPE)[0]["light"] == "ok"
    assert api.clearflag(PIPE)[0]["clearflag"] == "ok"
    assert api.get_testid(PIPE)[PIPE]["test_id"] == 1


def test_unknown_step_type_is_refused_and_nothing_starts(api: NewareAPI, tmp_path: Path) -> None:
    xml = tmp_path / "lsv.xml"
    text = unicycler(
        [VoltageScan(start_voltage_V=3.0, end_voltage_V=4.0, scan_rate_mV_per_s=1.0)]
    ).to_neware_xml()
    xml.write_text(text, encoding="utf-8")
    assert api.start(PIPE, "x", xml)[0]["start"] == "false"
    assert api.inquire(PIPE)[PIPE]["workstatus"] == "stop"


def test_a_second_start_on_a_working_channel_is_refused(
    api: NewareAPI, server: NewareServer, tmp_path: Path
) -> None:
    xml = tmp_path / "p.xml"
    unicycler().to_neware_xml(save_path=xml)
    api.start(PIPE, "first", xml)
    with pytest.raises(ValueError, match="blocked states"):  # aurora-neware's own check
        api.start(PIPE, "second", xml)
    raw = (
        '<cmd>start</cmd><list count = "1"><start ip="127.0.0.1" devtype="27" devid="21" '
        f'subdevid="1" chlid="1" barcode="second">{xml}</start></list>'
    )
    assert ">false</start>" in api.command(raw)  # and the BTS's, past the client's check
    assert api.inquire(PIPE)[PIPE]["barcode"] == "first"


def exchange(port: int, body: bytes) -> bytes:
    """One request framed as aurora-neware frames it, and the raw reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=5.0) as raw:
        raw.sendall(
            b'<?xml version="1.0" encoding="UTF-8" ?><bts version="1.0">'
            + body
            + b"</bts>"
            + NEWARE_TERMINATOR
        )
        reply = b""
        while not reply.endswith(NEWARE_TERMINATOR):
            reply += raw.recv(4096)
    return reply


def test_replies_are_framed_as_the_bts_frames_them(server: NewareServer) -> None:
    """Byte for byte as the replies aurora-neware's tests/mocks.py captured from a BTS 8.0."""
    login = b"<cmd>connect</cmd><username>admin</username><password>neware</password>"
    assert exchange(server.port, login + b"<type>bfgs</type>") == (
        b'<?xml version="1.0" encoding="UTF-8"?>\r\n<bts version="1.0">\r\n'
        b"  <cmd>connect_resp</cmd>\r\n  <result>ok</result>\r\n</bts>" + NEWARE_TERMINATOR
    )
    download = (
        b'<cmd>download</cmd><download devtype="27" devid="21" subdevid="1" chlid="2" '
        b'auxid="0" testid="0" startpos="0" count="0"/>'
    )
    assert exchange(server.port, download) == (  # mocks' _download0_repsonse, no test yet
        b'<?xml version="1.0" encoding="UTF-8"?>\r\n<bts version="1.0">\r\n'
        b"  <cmd>donwload_resp</cmd>\r\n"
        b'  <download devtype="27" devid="21" subdevid="1" chlid="2" testid="0" startpos="0" '
        b'count="0" auxid="0" />\r\n  <list count="0" />\r\n</bts>' + NEWARE_TERMINATOR
    )


def test_simfill_puts_the_cell_on_the_channel(api: NewareAPI, server: NewareServer) -> None:
    spec = CellSpec(capacity=0.004, electrolyte_conductivity=7.25, temperature=30.0)
    fill_over_api(api, "21-2-1", spec)
    assert server.cell(9).spec == spec
    with pytest.raises(SimulationError, match="refused"):
        fill_over_api(api, "21-3-1", spec)


def test_step_files_are_read_in_neware_units() -> None:
    """V x 10000, ms and mA, as aurora-unicycler writes them, back to V, s and A."""
    steps, limits, interval = parse_step_file(unicycler().to_neware_xml())
    assert [s.wire() for s in steps] == [
        "CC,2.500000E-03,4.200000E+00",
        "CV,4.200000E+00,2.500000E-04",
        "REST,6.000000E+02",
        "CC,-2.500000E-03,3.000000E+00",
        "LOOP,1,2",
    ]
    assert limits == pytest.approx({"vmin": 2.45, "vmax": 4.25, "imax": 0.00525}, rel=1e-12)
    assert interval == pytest.approx(60.0, rel=1e-12)
    no_current = unicycler().to_neware_xml().replace('<Curr Value="2.500000"/>', "", 1)
    with pytest.raises(StepFileError, match="step 1: CC needs Curr > 0"):
        parse_step_file(no_current)
    with pytest.raises(StepFileError, match="not XML"):
        parse_step_file("<root>")
