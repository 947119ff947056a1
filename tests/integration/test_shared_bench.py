"""Two campaigns at once on one bench: an arm, a balance, pumps and a meter served by another
process (`electroloop sim up`) and reached by address, as a lab's shared bench is.

Each campaign holds the bench's instruments only for one step of a trial (dose, measure), taking
its turn in the lab's lease queue as a flow does, so the two campaigns' trials interleave; the
rack's slots are handed out lab-wide, so neither campaign doses into the other's vial.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.kinds.registry import design_types, parse_campaign
from electroloop.orchestrator.events import (
    DosingRecorded,
    DosingStarted,
    Event,
    MeasurementRecorded,
    VialMoved,
)
from electroloop.orchestrator.lease_queue import LeaseQueue, Waiting, queued_hold
from electroloop.orchestrator.leases import LeaseBook
from electroloop.orchestrator.rack import SharedRack
from electroloop.orchestrator.store import CampaignStore
from electroloop.samples import METER
from electroloop.settings import Settings, load_lab
from electroloop.workflows.build import assemble
from tests.integration.served import sim_up

LAB = Path(__file__).resolve().parents[2] / "examples" / "labs" / "lab.arm.toml"
CAMPAIGNS = ("shared-a", "shared-b")
BUDGET = 3
Window = tuple[datetime, datetime, str]


def _run(lab: Path, settings: Settings, campaign_id: str, waits: list[Waiting]) -> None:
    """One campaign as a flow runs it: each step waits its turn in the lab's lease queue."""
    data = default_campaign().model_dump(mode="json")
    data |= {"planner": "sobol", "budget": BUDGET, "batch_size": 1, "lab": str(lab)}
    spec = parse_campaign(data | {"seed": CAMPAIGNS.index(campaign_id)}, "test")
    with LeaseBook(settings.store) as book:
        hold = queued_hold(
            LeaseQueue(book, poll=0.02), f"{campaign_id}/run-1", 30.0, on_wait=waits.append
        )
        with assemble(spec, settings, campaign_id, [], lease=hold) as parts:
            parts.campaign.run()


def _steps(campaign_id: str, events: list[Event], times: list[datetime]) -> list[Window]:
    """(start, end, campaign) of each dose (dosing started → weighed) and each measurement
    (vial to the meter → read): times the campaign held the bench, by its event log."""
    windows: list[Window] = []
    start: datetime | None = None
    for event, at in zip(events, times, strict=True):
        if isinstance(event, DosingStarted) or (
            isinstance(event, VialMoved) and event.target == METER
        ):
            start = at
        elif isinstance(event, DosingRecorded | MeasurementRecorded):
            assert start is not None
            windows.append((start, at, campaign_id))
            start = None
    return windows


def test_two_campaigns_share_one_served_bench_step_by_step(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    waits: dict[str, list[Waiting]] = {c: [] for c in CAMPAIGNS}
    errors: list[BaseException] = []

    with sim_up(LAB, tmp_path / "lab.local.toml") as lab:

        def campaign(campaign_id: str) -> None:
            try:
                _run(lab, settings, campaign_id, waits[campaign_id])
            except BaseException as error:  # noqa: BLE001  the test reports it below
                errors.append(error)

        threads = [threading.Thread(target=campaign, args=(c,), name=c) for c in CAMPAIGNS]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not any(thread.is_alive() for thread in threads), "a campaign did not finish"
        bench = load_lab(lab).balance.address
    assert not errors, errors

    with CampaignStore(settings.store, designs=design_types()) as store:
        states = {c: store.state(c) for c in CAMPAIGNS}
        windows = sorted(
            w
            for c in CAMPAIGNS
            for w in _steps(c, store.events(c), [at for _, at in store.timeline(c)])
        )
    for state in states.values():
        assert len(state.observations) == BUDGET and not state.failures
        assert all(len(m) == 1 for m in state.measurements.values())  # each read once
        for track in state.vials.values():  # dosed, parked in its slot, measured, back
            assert [m.target for m in track.moves][1:] == [track.slot, METER, track.slot]

    # One hold of the bench at a time (the arm serves every step): each campaign's set-up, then
    # one hold per dose and per measurement, in the lab's lease history.
    with LeaseBook(settings.store) as book:
        holds = LeaseQueue(book).history()
        assert book.all() == []  # every step gave its instruments back
    assert sorted(h.holder for h in holds) == sorted(
        f"{c}/run-1" for c in CAMPAIGNS for _ in range(1 + 2 * BUDGET)
    )
    for before, after in zip(holds, holds[1:], strict=False):
        assert before.released_at <= after.granted_at
    # The log's dose and measurement windows lie inside them: not one campaign after the
    # other, their steps alternate, each waiting its turn and hearing for what.
    assert len(windows) == 2 * 2 * BUDGET
    for (_, end, _), (start, _, _) in zip(windows, windows[1:], strict=False):
        assert end <= start
    order = [c for _, _, c in windows]
    switches = sum(a != b for a, b in zip(order, order[1:], strict=False))
    assert switches >= 3, order
    assert all(waits.values())  # both waited, and heard who held what they waited for
    assert any("held by" in w.describe() for ws in waits.values() for w in ws)

    slots = {vial: t.slot for state in states.values() for vial, t in state.vials.items()}
    assert len(set(slots.values())) == len(slots) == 2 * BUDGET  # no slot taken twice
    rack = SharedRack(settings.store, bench, slots=24)
    try:
        assert rack.taken() == slots  # the lab-wide ledger agrees with both event logs
    finally:
        rack.close()
