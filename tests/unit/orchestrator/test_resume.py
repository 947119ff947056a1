"""Resuming a campaign whose process died, reviewing batches, and manual refills: the closed
loop without Prefect, against the real simulators and the real event log (the resume tests on
SQLite and on PostgreSQL)."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from electroloop.errors import CampaignError
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign, default_campaign
from electroloop.kinds.registry import parse_campaign
from electroloop.models import Formulation
from electroloop.orchestrator.closed_loop import Decision, ManualStep
from electroloop.orchestrator.events import (
    CampaignResumed,
    DosingStarted,
    MeasurementRecorded,
)
from electroloop.orchestrator.leases import Lease, LeaseBook
from electroloop.settings import Settings, default_lab_text
from electroloop.workflows.build import assemble


def spec(**overrides: object) -> ElectrolyteCampaign:
    data = default_campaign().model_dump(mode="json")
    data |= {"planner": "sobol", "budget": 8, "batch_size": 4, "name": "resume"} | overrides
    return parse_campaign(data, "test")


def measured_per_candidate(settings: Settings, campaign_id: str) -> Counter[str]:
    from electroloop.orchestrator.store import CampaignStore

    with CampaignStore(settings.store) as store:
        events = store.events(campaign_id)
    return Counter(e.measurement.candidate_id for e in events if isinstance(e, MeasurementRecorded))


@pytest.fixture
def on_both(tmp_path: Path, store_target: str | Path) -> Settings:
    """Settings whose campaigns database is SQLite in the home, then PostgreSQL."""
    url = store_target if isinstance(store_target, str) else None
    return Settings(home=tmp_path, database_url=url)


@pytest.mark.parametrize("planner", ["sobol", "ax"])
def test_a_campaign_that_died_mid_batch_resumes_without_repeating_or_losing_anything(
    on_both: Settings, planner: str
) -> None:
    settings = on_both
    campaign = spec(planner=planner, pipeline=planner == "ax")
    with assemble(campaign, settings, "c", []) as assembly:
        loop = assembly.campaign
        loop.start()
        first = loop.propose()
        for candidate in first:
            loop.run_trial(candidate)
        loop.conclude_iteration(first)
        second = loop.propose()
        loop.run_trial(second[0])
        # The worker dies here: second[1:] never ran, nothing was told about second[0].
    with assemble(campaign, settings, "c", []) as assembly:
        resumed = assembly.campaign
        if planner == "ax":  # restored from the snapshot stored with the second proposal
            assert resumed.planner.state()["pending"] == [c.id for c in second]
        state = resumed.run()
    assert state.finished == "budget spent"
    assert len(state.observations) == 8 and not state.pending
    counts = measured_per_candidate(settings, "c")
    assert set(counts.values()) == {1} and len(counts) == 8  # none twice, none lost
    assert [c.id for c in second] == list(state.candidates)[4:8]  # what was proposed was run
    assert len({c.formulation.model_dump_json() for c in state.candidates.values()}) == 8


def test_a_dosing_cut_off_by_a_crash_is_redone_in_a_fresh_vial(on_both: Settings) -> None:
    settings = on_both
    with assemble(spec(budget=4), settings, "c", []) as assembly:
        loop = assembly.campaign
        loop.start()
        batch = loop.propose()
        loop.run_trial(batch[0])
        loop.store.append("c", DosingStarted(candidate_id=batch[1].id))  # died while pumping
    with assemble(spec(budget=4), settings, "c", []) as assembly:
        state = assembly.campaign.run()
        events = assembly.campaign.store.events("c")
    resumed = [e for e in events if isinstance(e, CampaignResumed)]
    assert len(resumed) == 1 and resumed[0].redosed == (batch[1].id,)
    assert len(state.observations) == 4
    assert set(measured_per_candidate(settings, "c").values()) == {1}


def test_resuming_a_finished_campaign_is_refused(on_both: Settings) -> None:
    settings = on_both
    with assemble(spec(budget=4), settings, "c", []) as assembly:
        assembly.campaign.run()
    with assemble(spec(budget=4), settings, "c", []) as assembly:
        with pytest.raises(CampaignError, match="finished .budget spent.; nothing to resume"):
            assembly.campaign.resume()


@pytest.mark.parametrize("planner", ["sobol", "ax"])
def test_review_rejects_edits_and_refuses_edits_outside_the_space(
    tmp_path: Path, planner: str
) -> None:
    settings = Settings(home=tmp_path)
    with assemble(spec(budget=4, planner=planner), settings, "c", []) as assembly:
        loop = assembly.campaign
        loop.start()
        batch = loop.propose()
        outside = Formulation(
            fractions={"EC": 0.9, "EMC": 0.05, "DMC": 0.05},
            salt="LiPF6",
            molality=1.0,
            temperature=25.0,
        )
        with pytest.raises(
            CampaignError,
            match=rf"{batch[1].id}: the edited design: fraction of EC is 0.9; "
            r"allowed: 0.1..0.6",
        ):
            loop.review(batch, {batch[1].id: Decision(action="edit", formulation=outside)})
        assert not loop.state.abandoned  # nothing recorded from a refused review
        edited = outside.model_copy(update={"fractions": {"EC": 0.3, "EMC": 0.3, "DMC": 0.4}})
        to_run = loop.review(
            batch,
            {
                batch[0].id: Decision(action="reject", reason="cloudy stock"),
                batch[1].id: Decision(action="edit", formulation=edited),
            },
            reviewer="tech",
        )
        assert [c.id for c in to_run] == [batch[2].id, batch[3].id, f"{batch[1].id}-edit"]
        assert not loop.needs_review(batch)
        records = [loop.run_trial(candidate) for candidate in to_run]
        # vetoed candidates take no place: the trials are numbered 0, 1, 2 of the budget
        assert [r.index for r in records] == [0, 1, 2]
        assert [r.index for r in loop.trial_records()] == [0, 1, 2]
        loop.conclude_iteration(batch)
        state = loop.state
        if planner == "ax":  # the edit reached the model as a completed trial
            statuses = loop.planner.client.summarize()["trial_status"].tolist()
            assert statuses.count("COMPLETED") == 3 and statuses.count("ABANDONED") == 2
    assert state.abandoned[batch[0].id] == "tech: cloudy stock"
    assert state.observations[f"{batch[1].id}-edit"].formulation == edited  # stored as given
    assert state.budget_used == 3  # vetoed candidates cost no budget
    assert not loop.done()


def test_a_low_stock_bottle_pauses_for_a_refill_instead_of_failing(tmp_path: Path) -> None:
    lab_file = tmp_path / "lab.toml"
    lab_file.write_text(
        default_lab_text().replace("stock_mass = 500.0", "stock_mass = 5.0"), encoding="utf-8"
    )
    asked: list[ManualStep] = []

    def technician(step: ManualStep) -> dict[str, float]:
        asked.append(step)
        return {"added_mass": 4.0}

    settings = Settings(home=tmp_path)
    with assemble(spec(budget=6, lab=str(lab_file)), settings, "c", [], manual=technician) as a:
        state = a.campaign.run()
        bench = a.simulator.bench if a.simulator else None
    assert asked and all(step.key.startswith("refill-") for step in asked)
    assert len(state.observations) == 6 and not state.failures
    assert len(state.manual_steps) == len(asked)
    assert bench is not None and all(bench.bottle_mass(s) > 0.0 for s in bench.stocks)


def test_instruments_a_dead_holder_left_are_reconciled_before_anything_moves(
    on_both: Settings,
) -> None:
    settings = on_both
    leased: list[str] = []

    @contextmanager
    def lease(addresses: Sequence[str]) -> Iterator[dict[str, Lease]]:
        with LeaseBook(settings.store) as book:
            for address in addresses:  # a worker that died holding them
                book.acquire(address, "c/dead-run", ttl=0.05, note="flow run dead-run")
            time.sleep(0.1)
            taken = book.acquire_all(addresses, "c/new-run", ttl=30.0)
        leased.extend(addresses)
        yield {a.lease.resource: a.previous for a in taken if a.previous is not None}

    with assemble(spec(budget=4), settings, "c", [], lease=lease) as assembly:
        notes = assembly.reconciled
    pumps = [n for n in notes if n.startswith("pump ")]
    assert len(leased) == 2 + len(pumps) and len(pumps) >= 3
    assert all(re.search(r"'c/dead-run'.* left it idle.* at 0.000 mL; homed", n) for n in pumps)
    assert any(n.startswith("balance: reads ") for n in notes)
    assert any(n.startswith("meter: ") for n in notes)


@pytest.mark.parametrize(("role", "fault"), [("pumps", "stuck_busy"), ("balance", "drift")])
def test_an_instrument_failing_every_trial_stops_the_campaign_instead_of_its_budget(
    tmp_path: Path, role: str, fault: str
) -> None:
    """Three trials in a row failing the same way (a pump stuck busy; a drifting balance,
    whose failures differ only in what it weighed) stop the campaign, not finished: once the
    instrument is fixed, resume runs the rest of the budget and nothing is measured twice."""
    from electroloop.errors import CampaignHalted
    from electroloop.orchestrator.closed_loop import REPEATED_FAILURES

    stuck = tmp_path / "stuck.toml"
    quick = default_lab_text().replace("move_timeout = 30.0", "move_timeout = 3.0")  # not 30 s
    assert quick != default_lab_text()
    stuck.write_text(
        quick + f'\n[[{role}.faults]]\nfault = "{fault}"\nafter = 40\n', encoding="utf-8"
    )
    settings = Settings(home=tmp_path)
    with assemble(spec(budget=12, lab=str(stuck)), settings, "c", []) as assembly:
        with pytest.raises(CampaignHalted, match=r"last 3 trials failed the same way \(dosing"):
            assembly.campaign.run()
        state = assembly.campaign.state
    failed = list(state.failures.values())
    assert len(failed) >= REPEATED_FAILURES
    assert len({re.sub(r"[\d.]+", "#", f) for f in failed[-REPEATED_FAILURES:]}) == 1
    assert state.finished is None and state.trials_run < 12  # the budget is not spent on it
    with assemble(spec(budget=12), settings, "c", []) as assembly:  # the pump is fixed
        resumed = assembly.campaign.run()
    assert resumed.finished == "budget spent" and resumed.trials_run == 12
    assert set(measured_per_candidate(settings, "c").values()) == {1}
