"""The engine runs a kind it has never heard of: ask → run → tell → event log → resume.

The density kind (tests/fixtures/kinds/density) is a package of its own plus one registry entry
here; nothing in the engine names it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from electroloop.errors import ConfigError
from electroloop.kinds.registry import KINDS, Kind, parse_campaign
from electroloop.orchestrator.closed_loop import Campaign
from electroloop.orchestrator.store import CampaignStore
from electroloop.planners import SobolPlanner
from electroloop.simulations.density import density
from tests.fixtures.kinds.density.campaign import DensityCampaign
from tests.fixtures.kinds.density.experiment import DensityExperiment

WITH_DENSITY = {**KINDS, "density": Kind("density", "1", DensityCampaign, "test-only: density")}

CAMPAIGN = {
    "kind": "density",
    "name": "density",
    "study": "density",
    "budget": 6,
    "batch_size": 2,
    "planner": "sobol",
    "objectives": [{"name": "density", "direction": "minimize"}],
    "solvents": [
        {"name": "EC", "smiles": "C1COC(=O)O1", "min_fraction": 0.1, "max_fraction": 0.6},
        {"name": "DMC", "smiles": "COC(=O)OC", "min_fraction": 0.4, "max_fraction": 0.9},
    ],
    "salt": {
        "name": "LiPF6",
        "smiles": "[Li+].F[P-](F)(F)(F)(F)F",
        "min_molality": 0.5,
        "max_molality": 2.0,
    },
    "temperature": 25.0,
}


def test_a_kind_is_one_package_and_one_registry_entry() -> None:
    spec = parse_campaign(CAMPAIGN, "density.toml", WITH_DENSITY)
    assert type(spec) is DensityCampaign and spec.unit("density") == "g/mL"
    with pytest.raises(
        ConfigError, match="kind 'density'; allowed: cycling, electrode, electrolyte"
    ):
        parse_campaign(CAMPAIGN, "density.toml")  # this build's own registry knows no density
    with pytest.raises(ConfigError, match=r"unknown metrics \['conductivity'\]"):
        parse_campaign(CAMPAIGN | {"objectives": [{"name": "conductivity"}]}, "x", WITH_DENSITY)


def test_the_engine_runs_and_resumes_a_kind_it_never_heard_of(tmp_path: Path) -> None:
    spec = parse_campaign(CAMPAIGN, "density.toml", WITH_DENSITY)
    assert isinstance(spec, DensityCampaign)
    experiment = DensityExperiment(spec.space, refuse={"t0001"})
    log = tmp_path / "campaigns.sqlite"
    with CampaignStore(log) as store:
        first = Campaign("d1", spec, store, SobolPlanner(spec.space, spec.goal, 0), experiment)
        first.start()
        batch = first.propose()
        for candidate in batch:
            first.run_trial(candidate)
        first.conclude_iteration(batch)
        first.run_trial(first.propose()[0])  # then the process dies mid-batch
    with CampaignStore(log) as store:  # a new process: the planner comes back from the log
        snapshot = store.state("d1").planner_state
        assert snapshot is not None
        planner = SobolPlanner.from_state(snapshot)
        state = Campaign("d1", spec, store, planner, experiment).run()
        events = store.events("d1")
    assert state.finished == "budget spent" and state.budget_used == spec.budget
    assert state.failures == {"t0001": "the densitometer is unplugged"}
    assert len(state.observations) == spec.budget - 1
    assert set(experiment.runs.values()) == {1}  # no trial ran twice, across the restart
    measured = [e.measurement.candidate_id for e in events if e.kind == "measurement_recorded"]
    assert sorted(measured) == sorted(state.observations)  # one stored measurement each
    for observation in state.observations.values():
        f = observation.formulation
        salt = spec.salt.canonical_smiles
        truth = density(spec.space.fractions_by_smiles(f), salt, f.molality, 25.0)
        # the observation carries the model's value, stored and read back (rel: rounding only)
        assert observation.values["density"] == pytest.approx(truth, rel=1e-12)
    assert [e.kind for e in events].count("campaign_resumed") == 1
