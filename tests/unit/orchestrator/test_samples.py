"""Vials as tracked physical samples: labels, rack slots, moves in the event log, and what a
crash leaves behind, against the simulated bench and a technician (manual steps)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.kinds.registry import parse_campaign
from electroloop.orchestrator.closed_loop import Campaign, ManualStep
from electroloop.orchestrator.events import DosingRecorded, DosingStarted
from electroloop.orchestrator.samples import Technician, move_vial, new_vial
from electroloop.samples import BALANCE, METER, WASTE, rack_slot, vial_id
from electroloop.settings import Settings
from electroloop.workflows.build import Assembly, assemble


def test_vials_fill_racks_of_24_row_by_row() -> None:
    assert [rack_slot(n) for n in (1, 6, 7, 24, 25)] == [
        "rack-1:A1",
        "rack-1:A6",
        "rack-1:B1",
        "rack-1:D6",
        "rack-2:A1",
    ]
    with pytest.raises(ValueError, match="vial number must be >= 1"):
        rack_slot(0)


def test_vial_labels_are_short_unique_per_campaign_and_numbered() -> None:
    first, second = vial_id("screen-a", 1), vial_id("screen-a", 2)
    assert first.startswith("EL-") and first.endswith("-0001") and second.endswith("-0002")
    assert first[:9] == second[:9] and vial_id("screen-b", 1)[:9] != first[:9]
    assert len(first) <= 16  # fits a small Code 128 label


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Assembly]:
    data = default_campaign().model_dump(mode="json")
    data |= {"planner": "sobol", "budget": 4, "batch_size": 2, "name": "vials"}
    with assemble(parse_campaign(data, "test"), Settings(home=tmp_path), "v", []) as assembly:
        assembly.campaign.start()
        yield assembly


def test_a_vial_whose_dosing_was_cut_off_goes_to_waste_and_a_fresh_one_is_dosed(
    lab: Assembly,
) -> None:
    loop, sim = lab.campaign, lab.simulator
    assert sim is not None
    candidate = loop.propose()[0]
    vial, slot = new_vial(loop)
    move_vial(loop, sim.bench, vial, BALANCE, candidate.id)
    loop.record(DosingStarted(candidate_id=candidate.id))
    sim.bench.deliver("EC", 0.5)  # half a dose, then the process "died"
    result = loop.run_trial(candidate)
    assert result.failure is None and result.dosing is not None
    state = loop.state
    assert state.vials[vial].place == WASTE and sim.bench.places[vial] == WASTE
    assert sim.bench.vial_contents(vial) == pytest.approx(
        {"EC": 0.5 * sim.bench.stocks["EC"].density}, rel=1e-12
    )
    fresh = result.dosing.vial
    assert fresh is not None and fresh != vial and state.vial_of(candidate.id) == fresh
    assert state.vials[fresh].slot == rack_slot(2) != slot
    assert [m.target for m in state.vials[fresh].moves] == [BALANCE, METER, rack_slot(2)]


def test_a_vial_left_on_the_balance_before_dosing_began_is_used_not_replaced(
    lab: Assembly,
) -> None:
    loop, sim = lab.campaign, lab.simulator
    assert sim is not None
    candidate = loop.propose()[0]
    vial, _ = new_vial(loop)
    move_vial(loop, sim.bench, vial, BALANCE, candidate.id)  # then the process "died"
    result = loop.run_trial(candidate)
    assert result.dosing is not None and result.dosing.vial == vial
    assert len(loop.state.vials) == 1


def test_a_vial_the_technician_cannot_find_fails_its_trial_and_is_never_dosed_again(
    lab: Assembly,
) -> None:
    loop = lab.campaign
    candidate = loop.propose()[0]
    loop.run_trial(candidate)
    state = loop.state
    record = state.dosings[candidate.id]
    asked: list[ManualStep] = []

    def technician(step: ManualStep) -> dict[str, float]:
        asked.append(step)
        return {"found": 0.0}

    # A second process picks up a log that ends after the dosing: only the dosing is on record.
    events = loop.store.events(loop.id)
    cut = next(i for i, e in enumerate(events) if isinstance(e, DosingRecorded)) + 1
    for event in events[:cut]:
        loop.store.append("v2", event)
    loop.experiment.samples = Technician(technician)  # type: ignore[attr-defined]
    restarted = Campaign("v2", loop.spec, loop.store, loop.planner, loop.experiment)
    result = restarted.run_trial(candidate)
    assert result.failure == f"interrupted after dosing; vial {record.vial} lost"
    assert [step.key for step in asked] == [f"find-{record.vial}"]
    assert "on the **balance**" in asked[0].instructions  # where the log last had it
    assert restarted.state.dosings[candidate.id] == record  # no second dose
