"""BiologicCycler over FakeBiologicAPI (a fake at aurora-biologic's Python API), and the fake."""

from __future__ import annotations

import importlib.util
import sys
from functools import partial
from pathlib import Path
from types import ModuleType

import pytest
from aurora_unicycler import CyclingProtocol as UnicyclerProtocol
from aurora_unicycler import ImpedanceSpectroscopy, RecordParams, SampleParams

from electroloop.clocks import SteppedClock
from electroloop.errors import ConfigError, DeviceFault, InstrumentTimeout, LimitViolation
from electroloop.instruments.biologic import (
    FAKE_NAME,
    BiologicCycler,
    ChannelBusy,
    StartUnconfirmed,
    connect_biologic,
)
from electroloop.instruments.cycler import (
    ChannelLimits,
    CycleRecord,
    CyclingProtocol,
    MultichannelCycler,
    ProtocolStep,
)
from electroloop.instruments.protocol_export import UnsupportedStep
from electroloop.instruments.sim.biologic_fake import STATUS_FIELDS, STATUS_NAMES, FakeBiologicAPI
from electroloop.instruments.sim.cycler import CyclerServer
from electroloop.instruments.transport import ReconnectingResource, open_resource
from electroloop.simulations.cell_circuit import CellSpec

Q = 0.005  # Ah, the default cell; 1C = 5 mA
LIMITS = ChannelLimits(min_voltage=2.5, max_voltage=4.2, max_current=0.02)
HOUR = 3600.0
F4 = {"abs": 1e-5}
"""EC-Lab stores Ewe and I as 4-byte floats: 7 significant digits of a few volts or mA."""


def c_over_2(cycles: int = 2) -> CyclingProtocol:
    """CC-CV charge at C/2 to 4.2 V (cut-off C/20), rest, CC discharge at C/2 to 2.5 V."""
    return CyclingProtocol(
        steps=(
            ProtocolStep.cc(Q / 2, 4.2),
            ProtocolStep.cv(4.2, Q / 20),
            ProtocolStep.rest(1800.0),
            ProtocolStep.cc(-Q / 2, 2.5),
        ),
        cycles=cycles,
        record_interval=60.0,
    )


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
def api(clock: SteppedClock) -> FakeBiologicAPI:
    return FakeBiologicAPI(4, clock=clock, seed=5)


@pytest.fixture
def cycler(api: FakeBiologicAPI, clock: SteppedClock, tmp_path: Path) -> BiologicCycler:
    return BiologicCycler(api, folder=tmp_path / "eclab", capacity=Q, limits=LIMITS, clock=clock)


def run_to_end(cycler: BiologicCycler, clock: SteppedClock, channel: int) -> None:
    for _ in range(200):
        if cycler.status(channel).state != "RUNNING":
            return
        clock.sleep(HOUR)
    raise AssertionError("still running after 200 h")


def test_channels_are_the_pipelines_in_order(cycler: BiologicCycler) -> None:
    assert cycler.channel_count() == 4
    assert [cycler.pipeline(n) for n in (1, 4)] == ["MPG2-1-1", "MPG2-1-4"]
    assert "MPG2-1 (SN 12345)" in cycler.identity()
    with pytest.raises(LimitViolation, match=r"channel 5; allowed: 1\.\.4"):
        cycler.status(5)


def test_load_start_run_and_fetch_exact_pages(
    cycler: BiologicCycler, api: FakeBiologicAPI, clock: SteppedClock
) -> None:
    api.fill(1, CellSpec(initial_soc=0.0))
    assert cycler.status(1).state == "IDLE"
    cycler.load(1, c_over_2())
    assert cycler.status(1).state == "IDLE"  # loaded, not started
    assert cycler.record_count(1) == 0
    started = cycler.start(1)
    assert (started.state, started.step, started.cycle) == ("RUNNING", 1, 1)
    run_to_end(cycler, clock, 1)
    done = cycler.status(1)
    assert (done.state, done.step, done.cycle) == ("DONE", 4, 2)
    records, next_index = cycler.fetch_all(1)
    assert next_index == cycler.record_count(1) == len(records) > 300
    assert [r.index for r in records] == list(range(next_index))
    assert {r.cycle for r in records} == {1, 2} and {r.step for r in records} == {1, 2, 3, 4}
    ends = {(r.cycle, r.step): r for r in records}  # the last record of each step
    for cycle in (1, 2):
        charged = ends[cycle, 1].capacity + ends[cycle, 2].capacity
        discharged = ends[cycle, 4].capacity
        assert discharged == pytest.approx(Q, rel=0.04)
        assert 0.99 < discharged / charged <= 1.0
        assert ends[cycle, 1].voltage == pytest.approx(4.2, abs=2e-3)
        assert ends[cycle, 4].voltage == pytest.approx(2.5, abs=2e-3)
        assert ends[cycle, 3].capacity == pytest.approx(0.0, abs=1e-12)
        assert ends[cycle, 4].energy / discharged == pytest.approx(3.7, abs=0.15)
    page, after = cycler.fetch(1, since=10, max_records=5)
    assert [r.index for r in page] == [10, 11, 12, 13, 14] and after == 15
    assert cycler.fetch(1, since=10, max_records=5) == (page, after)  # idempotent
    assert page == records[10:15]
    assert cycler.fetch(1, since=next_index) == ([], next_index)
    with pytest.raises(LimitViolation, match="max 501"):
        cycler.fetch(1, max_records=501)


def test_a_second_phase_continues_the_indices_and_stop_is_idle(
    cycler: BiologicCycler, api: FakeBiologicAPI, clock: SteppedClock
) -> None:
    api.fill(2, CellSpec(initial_soc=0.0))
    cycler.load(2, c_over_2(cycles=1))
    cycler.start(2)
    run_to_end(cycler, clock, 2)
    first = cycler.record_count(2)
    cycler.load(2, c_over_2(cycles=1))
    assert cycler.record_count(2) == first  # loading adds no records
    cycler.start(2)
    clock.sleep(600.0)
    stopped = cycler.stop(2)
    assert stopped.state == "IDLE"  # stopped, not finished
    assert cycler.stop(2) == stopped  # the target state: safe to repeat
    records, next_index = cycler.fetch_all(2)
    assert [r.index for r in records] == list(range(next_index)) and next_index > first
    second = records[first:]
    assert second[0].time == pytest.approx(0.0, abs=1e-9)  # each run's time starts at 0
    assert (second[0].cycle, second[0].step) == (1, 1)
    assert second[-1].time == pytest.approx(600.0, abs=1e-6)
    runs = sorted(p.name for p in (cycler.folder / "MPG2-1-2").iterdir())
    assert runs == ["run-0001", "run-0002"]


def test_same_records_as_the_scpi_cycler_simulator(
    cycler: BiologicCycler, api: FakeBiologicAPI, clock: SteppedClock
) -> None:
    """The fake runs the SCPI simulator's engine: same seed, cell and protocol, same records."""
    cell = CellSpec(initial_soc=0.0, electrolyte_conductivity=8.0)
    api.fill(3, cell)
    with CyclerServer(4, clock=clock, seed=5) as server:  # type: ignore[arg-type]
        server.fill(3, cell)
        opener = partial(
            open_resource, server.resource_name, timeout=2.0, **MultichannelCycler.TERMINATIONS
        )
        resource = ReconnectingResource(opener)
        try:
            scpi = MultichannelCycler(resource, limits=LIMITS, clock=clock)
            for driver in (scpi, cycler):
                driver.load(3, c_over_2(cycles=1))
                driver.start(3)
            clock.sleep(8 * HOUR)
            assert scpi.status(3).state == "DONE"
            expected, _ = scpi.fetch_all(3)
        finally:
            resource.close()
    assert cycler.status(3).state == "DONE"  # the fake writes what it ran by this read
    got, _ = cycler.fetch_all(3)
    assert len(got) == len(expected) > 100

    def fields(r: CycleRecord) -> tuple[int, int, int]:
        return r.index, r.cycle, r.step

    assert [fields(r) for r in got] == [fields(r) for r in expected]
    for a, b in zip(got, expected, strict=True):  # the SCPI wire keeps 7 digits (NR3 .6E)
        assert a.time == pytest.approx(b.time, rel=1e-6, abs=1e-9)
        assert a.voltage == pytest.approx(b.voltage, **F4)
        assert a.current == pytest.approx(b.current, rel=1e-6, abs=1e-9)
        assert a.capacity == pytest.approx(b.capacity, rel=1e-6, abs=1e-12)
        assert a.energy == pytest.approx(b.energy, rel=1e-6, abs=1e-12)
        assert a.temperature == pytest.approx(b.temperature, **F4)


def test_a_safety_trip_reads_as_fault(
    cycler: BiologicCycler, api: FakeBiologicAPI, clock: SteppedClock
) -> None:
    empty = CellSpec(initial_soc=0.0, electrolyte_conductivity=1.0)
    api.fill(1, empty)  # OCV 2.5 V: a 2C discharge through its resistance is below 2.45 V
    cycler.load(1, CyclingProtocol((ProtocolStep.cc(-2 * Q, 2.5),), record_interval=60.0))
    status = cycler.start(1)
    assert (status.state, status.reason) == ("FAULT", "safety limit Emin")
    assert cycler.record_count(1) >= 1


@pytest.mark.parametrize(
    ("limits", "step", "error", "match"),
    [
        (LIMITS, ProtocolStep.cc(0.05, 4.2), LimitViolation, r"allowed \|I\| <= 0.02 A"),
        (LIMITS, ProtocolStep.cv(4.4, 0.001), LimitViolation, r"voltage 4.4 V; allowed 2.5..4.2"),
        (  # a window the chemistry allows but EC-Lab's Ewe control range (0..5 V) does not
            ChannelLimits(min_voltage=2.5, max_voltage=5.5, max_current=0.02),
            ProtocolStep.cc(0.01, 5.2),
            UnsupportedStep,
            "BioLogic EC-Lab: .*outside of range",
        ),
        (  # beyond the largest current range unicycler writes (1 A)
            ChannelLimits(max_current=2.0),
            ProtocolStep.cc(1.5, 4.2),
            UnsupportedStep,
            "BioLogic EC-Lab: .*I range not supported",
        ),
    ],
)
def test_refused_before_anything_is_loaded(
    api: FakeBiologicAPI,
    clock: SteppedClock,
    tmp_path: Path,
    limits: ChannelLimits,
    step: ProtocolStep,
    error: type[Exception],
    match: str,
) -> None:
    cycler = BiologicCycler(api, folder=tmp_path / "eclab", capacity=Q, limits=limits, clock=clock)
    with pytest.raises(error, match=match):
        cycler.load(1, CyclingProtocol((step, ProtocolStep.rest(60.0))))
    assert not (tmp_path / "eclab").exists()  # no settings file written
    assert api.get_status("MPG2-1-1")["MPG2-1-1"]["Technique code"] == 0  # nothing loaded
    with pytest.raises(DeviceFault, match="no protocol loaded"):
        cycler.start(1)


def test_settings_ec_lab_refuses_leave_nothing_to_start(
    clock: SteppedClock, tmp_path: Path
) -> None:
    small = FakeBiologicAPI(2, clock=clock, max_current=0.01)  # a 10 mA channel
    cycler = BiologicCycler(small, folder=tmp_path, capacity=Q, limits=LIMITS, clock=clock)
    with pytest.raises(DeviceFault, match=r"safety \|I\| = 0.021 A beyond the channel's 0.01 A"):
        cycler.load(1, c_over_2())  # the chemistry's 20 mA (+5 %) is the safety limit
    with pytest.raises(DeviceFault, match="no protocol loaded"):
        cycler.start(1)
    assert cycler.status(1).state == "IDLE"


def test_a_running_channel_is_not_loaded_or_started_again(
    cycler: BiologicCycler, api: FakeBiologicAPI
) -> None:
    api.fill(1, CellSpec(initial_soc=0.0))
    cycler.load(1, c_over_2())
    cycler.start(1)
    with pytest.raises(ChannelBusy, match="running; stop it before loading"):
        cycler.load(1, c_over_2(cycles=1))
    with pytest.raises(ChannelBusy, match="already running"):
        cycler.start(1)
    assert len(list((cycler.folder / "MPG2-1-1").iterdir())) == 1  # one run folder


class FakeSlowEcLab(FakeBiologicAPI):
    """A FAKE of aurora-biologic's API (see `FakeBiologicAPI`) whose EC-Lab takes its time:
    ``run_channel`` returns at once and the START reaches the channel only when the test
    calls `arrive` (never, for a START that got lost); with `slow` False it starts at once."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.slow = True
        self.runs: list[tuple[str, Path]] = []
        self.pending: list[tuple[str, Path]] = []

    def run_channel(self, pipeline: str, output_path: str | Path) -> None:
        self.runs.append((pipeline, Path(output_path)))
        self.pending.append((pipeline, Path(output_path)))
        if not self.slow:
            self.arrive()

    def arrive(self) -> None:
        while self.pending:
            super().run_channel(*self.pending.pop(0))


@pytest.fixture
def slow(clock: SteppedClock, tmp_path: Path) -> tuple[FakeSlowEcLab, BiologicCycler]:
    api = FakeSlowEcLab(2, clock=clock, seed=5)
    api.fill(1, CellSpec(initial_soc=0.0))
    return api, BiologicCycler(api, folder=tmp_path, capacity=Q, limits=LIMITS, clock=clock)


def test_a_start_not_confirmed_is_never_sent_again(slow) -> None:
    api, cycler = slow
    cycler.load(1, c_over_2())
    with pytest.raises(DeviceFault, match="did not start .*a person has checked the channel"):
        cycler.start(1)
    assert len(api.runs) == 1
    with pytest.raises(StartUnconfirmed, match="never confirmed .*delete .*start-sent") as caught:
        cycler.start(1)  # what a caller retrying after the DeviceFault would do
    assert isinstance(caught.value, InstrumentTimeout)  # a cycling loop polls again later
    with pytest.raises(StartUnconfirmed):
        cycler.load(1, c_over_2(cycles=1))  # nor new settings under a START that may run
    assert len(api.runs) == 1  # nothing sent
    api.arrive()  # EC-Lab was slow, not deaf: the one START runs
    assert cycler.status(1).state == "RUNNING"
    with pytest.raises(ChannelBusy, match="already running"):
        cycler.start(1)
    assert len(api.runs) == 1 and len(list((cycler.folder / "MPG2-1-1").iterdir())) == 1


def test_a_lost_start_is_sent_again_once_a_person_cleared_it(slow) -> None:
    api, cycler = slow
    cycler.load(1, c_over_2())
    with pytest.raises(DeviceFault, match="did not start"):
        cycler.start(1)
    with pytest.raises(StartUnconfirmed) as caught:
        cycler.start(1)
    api.pending.clear()  # the START never reached the channel: EC-Lab shows no experiment
    caught.value.marker.unlink()  # the person deletes the file the error names
    api.slow = False
    assert cycler.start(1).state == "RUNNING"
    assert len(api.runs) == 2 and api.runs[0] == api.runs[1]  # the same run folder
    assert (cycler.folder / "MPG2-1-1" / "run-0001" / "start-confirmed").exists()


def aurora_dicts() -> ModuleType:
    """aurora_biologic/dicts.py, read without the package (its __init__ imports comtypes)."""
    found = importlib.util.find_spec("aurora_biologic")
    assert found is not None and found.submodule_search_locations
    path = Path(next(iter(found.submodule_search_locations))) / "dicts.py"
    spec = importlib.util.spec_from_file_location("aurora_biologic_dicts", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fake_status_codes_are_the_packages() -> None:
    dicts = aurora_dicts()
    assert STATUS_FIELDS == tuple(dicts.status_codes[i] for i in range(len(dicts.status_codes)))
    for field, names in STATUS_NAMES.items():
        assert names.items() <= dicts.status_nested_codes[field].items()


def test_fake_status_has_the_real_api_fields(cycler: BiologicCycler, api: FakeBiologicAPI) -> None:
    api.fill(1, CellSpec(initial_soc=0.0))
    cycler.load(1, c_over_2())
    cycler.start(1)
    status = api.get_status(["MPG2-1-1", "nope"])
    assert list(status) == ["MPG2-1-1"]  # unknown ids are left out, as the real API does
    info = status["MPG2-1-1"]
    assert tuple(info) == STATUS_FIELDS
    assert (info["Status"], info["Technique code"], info["Safety limit"]) == ("Run", "MB", "Ok")
    assert (info["Ox/Red"], info["OCV"], info["EIS"]) == ("Oxidation", "Other", "No EIS")
    assert info["I (A)"] == pytest.approx(Q / 2, rel=1e-3)
    start, end, folder, files = api.get_experiment_info("MPG2-1-1")
    assert end is None and files[0] == "data.mpr" and len(files) == 20
    assert Path(folder).name == "run-0001"
    assert api.get_job_id("MPG2-1-1") == {"MPG2-1-1": "run-0001"}
    with pytest.raises(ValueError, match="not known as a pipeline"):
        api.stop("MPG2-1-9")


def test_fake_refuses_settings_it_cannot_run(api: FakeBiologicAPI, tmp_path: Path) -> None:
    eis = UnicyclerProtocol(
        sample=SampleParams(name="cell", capacity_mAh=5.0),
        record=RecordParams(time_s=60.0),
        method=[
            ImpedanceSpectroscopy(amplitude_V=0.01, start_frequency_Hz=1e5, end_frequency_Hz=0.1)
        ],
    )
    settings = tmp_path / "eis.mps"
    settings.write_text(eis.to_biologic_mps(), encoding="cp1252")
    with pytest.raises(RuntimeError, match=r"sequence 0 \(PEIS\): the fake runs Rest, CC, CV"):
        api.load_settings("MPG2-1-1", settings)
    with pytest.raises(FileNotFoundError):
        api.load_settings("MPG2-1-1", tmp_path / "missing.mps")
    with pytest.raises(RuntimeError, match="RunChannel refused"):
        api.run_channel("MPG2-1-1", tmp_path / "out.mpr")
    with pytest.raises(ValueError, match="not directory"):
        api.run_channel("MPG2-1-1", tmp_path)


@pytest.mark.skipif(sys.platform == "win32", reason="EC-Lab may be there on Windows")
def test_connect_biologic_off_windows_names_the_fake() -> None:
    with pytest.raises(ConfigError, match="runs on Windows only") as caught:
        connect_biologic()
    assert FAKE_NAME in str(caught.value) and "'sim'" in str(caught.value)
