"""Cells that go wrong on the real (detached) simulated cycler: a cell outside the chemistry's
limits is stopped by the cycler, failed with the reason and its channel freed; a cell fading
fast ends at the capacity floor, early, and is still observed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from electroloop.errors import InstrumentError
from electroloop.kinds.cycling.loop import CyclingLoop
from electroloop.kinds.cycling.records import CellRecordStore
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign
from electroloop.models import DosingRecord, Measurement
from electroloop.orchestrator.leases import LeaseBook
from electroloop.settings import Settings
from electroloop.workflows.build import assemble
from electroloop.workflows.cycler_service import stop_cycler
from electroloop.workflows.cycling_build import SimulatedCellLine
from tests.floats import SAME_COMPUTATION, assert_close
from tests.unit.kinds.cycling.simulated_cell import EXAMPLE, small_campaign


@dataclass
class AlteredCells:
    """The simulated cell line, but every cell it builds is changed (a faulty chamber, a
    cell with a bad SEI): what a real lab sees now and then."""

    line: SimulatedCellLine
    temperature: float | None = None
    sei_multiplier: float | None = None
    channels: frozenset[int] | None = None  # only the cells on these channels (None: all)

    def assemble(
        self, channel: int, dosing: DosingRecord, measurement: Measurement, capacity: float
    ) -> None:
        from electroloop.instruments.sim.cell_line import fill_over_link

        spec = self.line.spec_for(dosing, capacity)
        if self.channels is not None and channel not in self.channels:
            fill_over_link(self.line.resource, channel, spec)
            return
        changes = {"temperature": self.temperature, "sei_multiplier": self.sei_multiplier}
        spec = replace(spec, **{k: v for k, v in changes.items() if v is not None})
        fill_over_link(self.line.resource, channel, spec)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "runs"
    monkeypatch.setenv("ELECTROLOOP_HOME", str(home))
    yield home
    stop_cycler(home)


def run(spec: ElectrolyteCampaign, campaign_id: str, **alter: Any) -> tuple[CyclingLoop, list[str]]:
    lines: list[str] = []
    with assemble(spec, Settings(), campaign_id, []) as parts:
        assert parts.cycling is not None and spec.cycling is not None
        line = parts.cycling.cells
        assert isinstance(line, SimulatedCellLine)
        rig = replace(parts.cycling, cells=AlteredCells(line, **alter))
        loop = CyclingLoop(parts.campaign, spec.cycling, rig, say=lines.append)
        parts.campaign.start()
        loop.run()
        lines.append(f"{len(loop.free_channels())} free channels")
        for candidate_id, cell in loop.campaign.state.cells.items():
            status = rig.cycler.status(cell.assembled.channel)
            lines.append(f"{candidate_id} channel state {status.state}")
    return loop, lines


def test_a_cell_outside_the_chemistrys_limits_fails_with_the_reason(home: Path) -> None:
    loop, lines = run(small_campaign(), "hot", temperature=50.0)  # chemistry: <= 45 °C
    state = loop.campaign.state
    assert "TEMP_HIGH" in state.failures["t0000"]
    assert "50.00 C > 45.00 C" in state.failures["t0000"]
    assert lines[-1] == "t0000 channel state FAULT"  # the cycler stopped it at once
    assert not state.observations and state.iterations_completed == 1  # planner told: failed
    with LeaseBook(Settings().store_path) as book:
        assert not [lease for lease in book.all() if lease.holder.startswith("hot/")]
    assert lines[-2] == "8 free channels"  # its channel is free again


def test_a_fast_fading_cell_ends_at_the_capacity_floor_and_is_observed(home: Path) -> None:
    spec = small_campaign(capacity_floor=0.995, stop_early=False)
    loop, lines = run(spec, "fading", sei_multiplier=20.0)
    state = loop.campaign.state
    cell = state.cells["t0000"]
    assert cell.finished is not None and "below the floor 0.995" in cell.finished.reason
    retention = state.observations["t0000"].values["retention"]
    assert retention < 0.995  # its last measured retention: an upper bound at cycle 8
    ended_at = int(cell.finished.reason.split(" at cycle ")[1].split(":")[0])
    assert ended_at < 8  # before its last cycle: the channel is freed early
    with LeaseBook(Settings().store_path) as book:
        assert not [lease for lease in book.all() if lease.holder.startswith("fading/")]
    files = sorted(p.name for p in (home / "fading" / "cells" / cell.assembled.cell_id).iterdir())
    assert f"{cell.assembled.cell_id}_raw.parquet" in files
    assert f"{cell.assembled.cell_id}_fade.png" in files


def test_a_cell_clearly_worse_than_the_best_is_stopped_at_a_checkpoint(home: Path) -> None:
    spec = small_campaign(cycles=20, checkpoints=(5, 10), capacity_floor=0.8)
    spec = spec.model_copy(update={"budget": 2, "batch_size": 2})
    loop, lines = run(spec, "doomed", sei_multiplier=20.0, channels=frozenset({2}))
    state = loop.campaign.state
    cells = {c.assembled.channel: (cid, c) for cid, c in state.cells.items()}
    good_id, good = cells[1]
    bad_id, bad = cells[2]
    assert good.finished is not None and good.finished.reason == "completed 20 cycles"
    assert bad.finished is not None and bad.finished.early
    assert bad.finished.reason.startswith("stopped early") and "best" in bad.finished.reason
    last = bad.interim[-1]
    assert last.cycle < 20 and last.values["retention"].mean < 0.95
    retention = state.observations[bad_id].values["retention"]
    # its prediction: the same estimate from the same cycles, computed again when the cell ended
    assert_close(retention, last.values["retention"].mean, **SAME_COMPUTATION)
    assert retention < state.observations[good_id].values["retention"]
    assert f"{bad_id} channel state IDLE" in lines  # the orchestrator stopped it (PROT:STOP)
    assert "8 free channels" in lines


class Crash(BaseException):
    """The orchestrator process dying at one exact point (not an error it could handle)."""


@dataclass
class CrashOnStart:
    """The real cycler driver, except that the process 'dies' instead of sending START
    number `crash_at` (after the phase's protocol is loaded and recorded)."""

    cycler: Any
    crash_at: int
    starts: int = 0

    def start(self, channel: int) -> Any:
        self.starts += 1
        if self.starts == self.crash_at:
            raise Crash(f"killed before START {self.starts}")
        return self.cycler.start(channel)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cycler, name)


@pytest.mark.parametrize("crash_at", [1, 2], ids=["formation", "rate test after formation"])
def test_a_phase_loaded_but_never_started_is_started_after_a_restart(
    home: Path, crash_at: int
) -> None:
    spec = small_campaign(cycles=5, checkpoints=(3,))
    assert spec.cycling is not None
    with assemble(spec, Settings(), "restart", []) as parts:
        assert parts.cycling is not None
        crashing = replace(parts.cycling, cycler=CrashOnStart(parts.cycling.cycler, crash_at))
        parts.campaign.start()
        with pytest.raises(Crash):
            CyclingLoop(parts.campaign, spec.cycling, crashing).run()
    with assemble(spec, Settings(), "restart", []) as parts:  # a new process, same cycler
        assert parts.cycling is not None
        loop = CyclingLoop(parts.campaign, spec.cycling, parts.cycling)
        parts.campaign.resume()
        loop.resume()
        loop.run()
        state = loop.campaign.state
        with CellRecordStore(Settings().store_path) as records:
            stored = records.records("restart", state.cells["t0000"].assembled.cell_id)
    cell = state.cells["t0000"]
    names = ["formation", "rate-1C", "rate-2C", "cycling"]
    assert [p.phase for p in cell.phases] == names  # each phase once, none skipped
    assert sorted({phase for phase, _ in stored}) == sorted(names)  # and each one ran
    indices = [r.index for _, r in stored]
    assert indices == list(range(indices[0], indices[0] + len(indices)))
    assert "retention" in state.observations["t0000"].values and not state.failures


def test_a_networked_cycler_whose_readings_drift_fails_the_cell_not_the_campaign(
    home: Path, tmp_path: Path
) -> None:
    """A cycler that is not ours (a lab file address): a technician builds each cell (the
    manual step, answered here), and when its readings drift past what the safety limits allow,
    the cell is failed with the reason and its channel stopped and freed."""
    from electroloop.instruments.sim.clock import SimClock
    from electroloop.instruments.sim.cycler import CyclerServer
    from electroloop.instruments.sim.server import Fault, FaultRule
    from electroloop.orchestrator.closed_loop import ManualStep
    from electroloop.settings import default_lab_text
    from electroloop.simulations.cell_circuit import CellSpec

    server = CyclerServer(4, clock=SimClock(20_000.0), seed=3)
    try:
        lab_text = default_lab_text().replace(
            "[cycler]                 # multichannel battery cycler (docs/cycler_protocol.md)\n"
            'driver = "electroloop-cycler"\naddress = "sim"',
            f'[cycler]\ndriver = "electroloop-cycler"\naddress = "{server.resource_name}"',
        )
        assert server.resource_name in lab_text
        (tmp_path / "lab.toml").write_text(lab_text, encoding="utf-8")
        spec = small_campaign(cycles=40, checkpoints=(5,), poll_interval=1.0)
        spec = spec.model_copy(update={"lab": str(tmp_path / "lab.toml")})
        asked: list[ManualStep] = []

        def technician(step: ManualStep) -> dict[str, float]:
            asked.append(step)
            channel = int(step.title.rsplit(" ", 1)[1])
            server.fill(channel, CellSpec(capacity=0.005))  # clips a cell on the channel
            return {"electrolyte_volume": 45.0}

        with assemble(spec, Settings(), "drifting", [], manual=technician) as parts:
            assert parts.cycling is not None and spec.cycling is not None
            assert parts.cycling.cells is None and parts.cycling.confirm_assembly
            server.drift_per_command = 0.01
            server.schedule(FaultRule(Fault.DRIFT, after=60))
            loop = CyclingLoop(parts.campaign, spec.cycling, parts.cycling)
            parts.campaign.start()
            loop.run()
            state = loop.campaign.state
        assert [step.key for step in asked] == ["assemble-t0000"]
        # the technician's answer, stored as given
        assert state.manual_steps[0].response == {"electrolyte_volume": 45.0, "channel": 1}
        reason = state.failures["t0000"]
        assert "5 polls in a row failed" in reason and "beyond what its safety limits" in reason
        with LeaseBook(Settings().store_path) as book:
            assert not [lease for lease in book.all() if lease.holder.startswith("drifting/")]
    finally:
        server.close()


class CountingLoop(CyclingLoop):
    """The real loop, noting after each poll how many records are stored and alerts raised."""

    polls: list[tuple[int, int]]

    def poll(self) -> None:
        super().poll()
        state = self.campaign.state
        stored = sum(
            self.rig.records.next_index(self.campaign.id, c.assembled.cell_id)
            for c in state.cells.values()
        )
        self.polls = [*getattr(self, "polls", []), (stored, len(state.alerts))]


def test_a_thermal_excursion_pages_on_the_first_poll_that_sees_it_naming_its_runbook(
    home: Path,
) -> None:
    """Cells 10 °C above the campaign's 25 °C (a chamber out of control, still under the
    chemistry's 45 °C trip): one page per cell, on the very poll whose records show it."""
    spec = small_campaign()
    lines: list[str] = []
    with assemble(spec, Settings(), "warm", []) as parts:
        assert parts.cycling is not None and spec.cycling is not None
        line = parts.cycling.cells
        assert isinstance(line, SimulatedCellLine)
        rig = replace(parts.cycling, cells=AlteredCells(line, temperature=35.0))
        loop = CountingLoop(parts.campaign, spec.cycling, rig, say=lines.append)
        parts.campaign.start()
        loop.run()
    state = loop.campaign.state
    assert [(a.rule, a.severity, a.subject) for a in state.alerts] == [
        ("thermal-excursion", "page", "t0000")
    ]  # once, not once per poll
    first_records = next(i for i, (stored, _) in enumerate(loop.polls) if stored)
    first_alert = next(i for i, (_, alerts) in enumerate(loop.polls) if alerts)
    assert first_alert == first_records
    runbook = state.alerts[0].runbook
    assert (EXAMPLE.parents[2] / runbook).is_file()
    said = [text for text in lines if text.startswith("ALERT page thermal-excursion (t0000)")]
    assert len(said) == 1 and f"runbook: {runbook}" in said[0] and "35." in said[0]
    assert state.observations  # an alert is not a failure: the cell still ran to its end


def test_a_cycler_that_reboots_is_waited_for_not_a_crash(home: Path, tmp_path: Path) -> None:
    """The cycler (a lab file address) goes down between polls: no channel counts as free and
    nothing is proposed, instead of the campaign dying; back at its address, its channels are
    found again over the same link. Still gone after `MAX_STRIKES` asks, it is an error."""
    from electroloop.instruments.sim.clock import SimClock
    from electroloop.instruments.sim.cycler import CyclerServer
    from electroloop.kinds.cycling.loop import MAX_STRIKES
    from electroloop.settings import default_lab_text

    server = CyclerServer(4, clock=SimClock(20_000.0), seed=3)
    port = server.port
    lab_text = default_lab_text().replace(
        'driver = "electroloop-cycler"\naddress = "sim"',
        f'driver = "electroloop-cycler"\naddress = "{server.resource_name}"',
    )
    (tmp_path / "lab.toml").write_text(lab_text, encoding="utf-8")
    spec = small_campaign().model_copy(update={"lab": str(tmp_path / "lab.toml")})
    try:
        with assemble(spec, Settings(), "reboot", [], manual=lambda step: {}) as parts:
            assert parts.cycling is not None and spec.cycling is not None
            loop = CyclingLoop(parts.campaign, spec.cycling, parts.cycling)
            parts.campaign.start()
            assert loop.free_channels() == [1, 2, 3, 4]
            server.close()  # the cycler reboots
            assert loop.free_channels() == []
            assert not loop.may_propose()
            server = CyclerServer(4, clock=SimClock(20_000.0), seed=3, port=port)
            assert loop.free_channels() == [1, 2, 3, 4]  # back, over the same link
            server.close()
            for _ in range(MAX_STRIKES - 1):
                assert loop.free_channels() == []
            with pytest.raises(InstrumentError):
                loop.free_channels()
    finally:
        server.close()
