"""The closed loop without Prefect: faults, vetoes and pipelining against the real simulators."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from electroloop.errors import CampaignError, ConfigError
from electroloop.instruments.conductivity_meter import ConductivityMeter
from electroloop.instruments.sim.server import Fault
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign, default_campaign
from electroloop.kinds.registry import parse_campaign
from electroloop.orchestrator.closed_loop import Campaign
from electroloop.orchestrator.events import DosingRecorded
from electroloop.orchestrator.samples import move_vial, new_vial
from electroloop.samples import BALANCE, METER
from electroloop.settings import Settings
from electroloop.workflows.build import Assembly, assemble


def spec(**overrides: object) -> ElectrolyteCampaign:
    data = default_campaign().model_dump(mode="json")
    data |= {"planner": "sobol", "budget": 8, "batch_size": 4, "name": "loop"} | overrides
    return parse_campaign(data, "test")


@pytest.fixture
def lab(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Assembly]:
    overrides = getattr(request, "param", {})
    with assemble(spec(**overrides), Settings(home=tmp_path), "c1", []) as assembly:
        assembly.campaign.start()
        yield assembly


def test_a_meter_fault_fails_the_trial_and_keeps_the_dosing(lab: Assembly) -> None:
    loop, sim = lab.campaign, lab.simulator
    assert sim is not None
    first, second, *_ = loop.propose()
    sim.meter.inject(Fault.GARBAGE)
    failed = loop.run_trial(first)
    assert failed.failure is not None and "measurement failed" in failed.failure
    ok = loop.run_trial(second)
    assert ok.observation is not None
    state = loop.state
    assert first.id in state.failures and first.id in state.dosings  # the dose is on record
    assert first.id not in state.observations
    with pytest.raises(CampaignError, match="already been run"):
        loop.run_trial(first)


def test_a_trial_interrupted_after_dosing_measures_its_vial_and_never_redoses(
    lab: Assembly,
) -> None:
    loop, sim = lab.campaign, lab.simulator
    assert sim is not None
    candidate = loop.propose()[0]
    vial, slot = new_vial(loop)
    move_vial(loop, sim.bench, vial, BALANCE, candidate.id)
    record = loop.experiment.prepare(candidate, vial)
    loop.store.append(loop.id, DosingRecorded(record=record))  # then the worker "died"
    bottles = {name: sim.bench.bottle_mass(name) for name in sim.bench.stocks}
    restarted = Campaign(loop.id, loop.spec, loop.store, loop.planner, loop.experiment)
    result = restarted.run_trial(candidate)
    assert result.failure is None and result.dosing == record  # read back from the log
    # that very vial, rebuilt from the recorded masses (copies), measured and put back
    assert record.vial == vial and sim.bench.vial_contents(vial) == record.dosed_masses
    moves = loop.store.state(loop.id).vials[vial].moves
    assert [(m.source, m.target) for m in moves] == [
        (slot, BALANCE),
        (BALANCE, METER),
        (METER, slot),
    ]
    # no liquid moved: the bottles hold the very same floats
    assert {name: sim.bench.bottle_mass(name) for name in sim.bench.stocks} == bottles
    assert len(loop.store.state(loop.id).measurements[candidate.id]) == 1


def test_an_abandoned_candidate_is_never_run_nor_proposed_again(lab: Assembly) -> None:
    loop = lab.campaign
    batch = loop.propose()
    vetoed = batch[0]
    loop.abandon(vetoed, "technician: stock bottle cloudy")
    with pytest.raises(CampaignError, match="abandoned"):
        loop.run_trial(vetoed)
    for candidate in batch[1:]:
        loop.run_trial(candidate)
    loop.conclude_iteration(batch)
    state = loop.state
    assert state.abandoned == {vetoed.id: "technician: stock bottle cloudy"}
    assert state.trials_run == 4
    later = [c.formulation for c in loop.propose()]
    assert vetoed.formulation not in later


@pytest.mark.parametrize("lab", [{"pipeline": True}], indirect=True)
def test_pipelining_proposes_the_next_batch_before_the_current_is_told(lab: Assembly) -> None:
    state = lab.campaign.run()
    assert len(state.observations) == 8 and not state.pending
    # the in-memory fold matches the log: the same events, stored and read back
    assert state == lab.campaign.store.state("c1")
    kinds = [kind for kind, _ in lab.campaign.store.timeline("c1")]
    second_proposal = [i for i, k in enumerate(kinds) if k == "candidates_proposed"][1]
    first_tell = kinds.index("iteration_completed")
    assert second_proposal < first_tell


def test_warm_start_and_ask_timeout_reach_the_planner(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    with assemble(spec(budget=4), settings, "earlier", []) as assembly:
        assembly.campaign.start()
        assembly.campaign.run()
    warm = spec(planner="ax", warm_start=["earlier"], ask_timeout=30.0)
    with assemble(warm, settings, "later", []) as assembly:
        planner = assembly.campaign.planner
        assert planner.client.summarize()["trial_status"].tolist().count("COMPLETED") == 4
    with pytest.raises(ConfigError, match=r"does not accept \['warm_start'\]"):
        with assemble(spec(warm_start=["earlier"]), settings, "sobol-warm", []):
            pass


def test_learn_from_reaches_the_transfer_planner_as_related_tasks(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    with assemble(spec(budget=4), settings, "earlier", []) as assembly:
        assembly.campaign.start()
        earlier = assembly.campaign.run()
    for observation in earlier.observations.values():  # each reading told with the meter's error
        value = observation.values["conductivity"]
        assert observation.errors["conductivity"] == pytest.approx(0.005 * value, rel=1e-9)
    data = default_campaign().model_dump(mode="json")
    del data["planner"]
    data |= {"budget": 4, "batch_size": 4, "name": "later"}
    data["learn_from"] = {"campaigns": ["earlier"], "model": "calisol-23"}
    later = parse_campaign(data, "test")
    assert later.planner == "transfer"  # naming what to learn from picks the planner that can
    with assemble(later, settings, "later", []) as assembly:
        planner = assembly.campaign.planner
        names = [task.name for task in planner.related]  # type: ignore[attr-defined]
        assert names == ["campaign earlier", "CALiSol-23 conductivity model"]
        assert len(planner.related[0].values) == 4  # type: ignore[attr-defined]
        assert len(planner.related[1].values) >= 32  # type: ignore[attr-defined]
        batch = assembly.campaign.propose()
        assert len(batch) == 4
        for candidate in batch:
            later.space.check(candidate.formulation)
    with pytest.raises(ConfigError, match="learn_from: planner 'ax' takes no related tasks"):
        with assemble(parse_campaign(data | {"planner": "ax"}, "t"), settings, "ax", []):
            pass
    with pytest.raises(CampaignError, match="'nowhere' has no events"):
        unknown = data | {"learn_from": {"campaigns": ["nowhere"]}}
        with assemble(parse_campaign(unknown, "t"), settings, "unknown", []):
            pass


def test_a_model_prior_is_refused_for_an_objective_it_does_not_predict() -> None:
    data = default_campaign().model_dump(mode="json")
    data |= {"objectives": [{"name": "cost", "direction": "minimize"}]}
    with pytest.raises(ConfigError, match="learn_from.model 'calisol-23' predicts conductivity"):
        parse_campaign(data | {"learn_from": {"model": "calisol-23"}}, "t")


def test_a_failing_observer_loses_its_own_record_not_the_campaign(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def tracking_server_down(record: object) -> None:
        raise ConnectionError("tracking server unreachable")

    observers = [tracking_server_down, lambda record: seen.append(record.candidate.id)]  # type: ignore[attr-defined]
    with assemble(spec(budget=4), Settings(home=tmp_path), "c2", observers) as assembly:
        state = assembly.campaign.run()
    assert len(state.observations) == 4 and state.finished == "budget spent"
    assert seen == list(state.candidates)  # later observers still hear of every trial
    assert caplog.text.count("tracking server unreachable") == 4


def test_the_campaign_records_what_produced_its_data(lab: Assembly) -> None:
    loop = lab.campaign
    (started,) = [e for e in loop.store.events("c1") if e.kind == "campaign_started"]
    versions = started.versions
    assert versions["kind"] == "electrolyte/1"
    assert versions["planner"].startswith("electroloop.planners.sobol.SobolPlanner source ")
    assert versions["parser.ConductivityMeter"] == ConductivityMeter.PARSER_VERSION
    assert {"parser.MettlerToledoBalance", "parser.SyringePump", "electroloop"} <= set(versions)
    trial = loop.run_trial(loop.propose()[0])
    assert trial.measurement is not None
    assert trial.measurement.parser.endswith("ConductivityMeter.conductivity")
    assert trial.measurement.parser_version == ConductivityMeter.PARSER_VERSION
