"""A dry-run conductivity campaign whose vials a simulated Brooks PreciseFlex arm moves: every
instrument a protocol-true server named by address in `examples/labs/lab.arm.toml`, each vial's
path rack → balance → meter → rack in the event log, moved by the arm."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from electroloop.instruments.precise_flex import UnknownPosition
from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.kinds.registry import parse_campaign
from electroloop.orchestrator.events import DosingRecorded, DosingStarted, VialMoved
from electroloop.orchestrator.samples import move_vial, new_vial
from electroloop.samples import BALANCE, METER
from electroloop.settings import Settings
from electroloop.workflows.build import assemble

LAB = Path(__file__).resolve().parents[2] / "examples" / "labs" / "lab.arm.toml"


def test_the_arm_carries_every_vial_rack_balance_meter_rack(tmp_path: Path) -> None:
    data = default_campaign().model_dump(mode="json")
    data |= {"name": "arm", "planner": "sobol", "budget": 3, "batch_size": 3, "lab": str(LAB)}
    spec = parse_campaign(data, "test")
    with assemble(spec, Settings(home=tmp_path), "arm-dry-run", []) as assembly:
        sim = assembly.simulator
        assert sim is not None and sim.arm is not None
        state = assembly.campaign.run()
        events = assembly.campaign.store.events("arm-dry-run")
        picks = sim.arm.received.count("pickplate")
        places = dict(sim.bench.places)

    assert len(state.observations) == 3 and not state.failures
    moves = [e for e in events if isinstance(e, VialMoved)]
    assert {m.by for m in moves} == {"PreciseFlex arm"}
    assert len(state.vials) == 3
    for number, (vial, track) in enumerate(state.vials.items(), start=1):
        assert re.fullmatch(r"EL-[0-9A-F]{6}-000" + str(number), vial)
        slot = f"rack-1:A{number}"
        assert [(m.source, m.target) for m in track.moves] == [
            (slot, "balance"),
            ("balance", "meter"),
            ("meter", slot),
        ]
        assert places[vial] == slot  # the simulated bench agrees: the vial is back in its slot
        assert state.dosings[track.candidate_id].vial == vial
    # 9 vial moves and the check standard to the meter and back, each one pick by the arm.
    assert picks == 9 + 2
    assert places["STD-KCL-1413"] == "standards"


def test_a_campaign_needing_untaught_rack_slots_is_refused_before_anything_moves(
    tmp_path: Path,
) -> None:
    data = default_campaign().model_dump(mode="json")
    data |= {"name": "arm", "planner": "sobol", "budget": 25, "batch_size": 5, "lab": str(LAB)}
    spec = parse_campaign(data, "test")
    with pytest.raises(UnknownPosition, match="arm position 'rack-2:A1' is not taught"):
        with assemble(spec, Settings(home=tmp_path), "too-many", []):
            pass


def test_a_resumed_campaign_finds_the_dosed_vial_on_the_balance_with_the_arm(
    tmp_path: Path,
) -> None:
    data = default_campaign().model_dump(mode="json")
    data |= {"name": "arm", "planner": "sobol", "budget": 2, "batch_size": 2, "lab": str(LAB)}
    spec = parse_campaign(data, "test")
    settings = Settings(home=tmp_path)
    with assemble(spec, settings, "arm-resume", []) as first:
        loop = first.campaign
        loop.start()
        done, dosed = loop.propose()
        loop.run_trial(done)
        vial, _ = new_vial(loop)  # the second trial: on the balance and dosed, then "died"
        move_vial(loop, loop.experiment.samples, vial, BALANCE, dosed.id)  # type: ignore[attr-defined]
        loop.record(DosingStarted(candidate_id=dosed.id))
        record = loop.experiment.prepare(dosed, vial)  # type: ignore[attr-defined]
        loop.record(DosingRecorded(record=record))

    with assemble(spec, settings, "arm-resume", []) as second:
        sim = second.simulator
        assert sim is not None and sim.arm is not None
        # The fresh simulators stand every vial where the log has it (they died with the run).
        assert sim.bench.places[vial] == BALANCE and sim.bench.vial_id == vial
        state = second.campaign.run()
        picks = sim.arm.received.count("pickplate")

    assert len(state.observations) == 2 and not state.failures
    assert state.dosings[dosed.id] == record  # found and measured, never dosed again
    assert [(m.source, m.target) for m in state.vials[vial].moves] == [
        ("rack-1:A2", BALANCE),
        (BALANCE, METER),
        (METER, "rack-1:A2"),
    ]
    # find: one grip at the balance (set back), then the vial to the meter and back to A2.
    assert picks == 3
