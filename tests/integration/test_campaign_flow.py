"""A whole dry-run campaign through Prefect, MLflow and the protocol simulators, end to end."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.kinds.electrolyte.recipes import as_dosed
from electroloop.kinds.registry import parse_campaign
from electroloop.orchestrator.store import CampaignStore
from electroloop.simulations.optimum import true_value
from electroloop.workflows.build import lab_for, simulated_stocks


def eight_trial_spec():  # type: ignore[no-untyped-def]
    data = default_campaign().model_dump(mode="json")
    data |= {"name": "it-sobol", "budget": 8, "batch_size": 4, "planner": "sobol", "seed": 3}
    return parse_campaign(data, "test")


async def _flow_runs_and_task_runs(flow_run_id: str) -> tuple[str, list[str]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async with get_client() as client:
        run = await client.read_flow_run(flow_run_id)
        tasks = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
        )
    return run.state.type.value, sorted(t.name for t in tasks)


def test_eight_trial_campaign_end_to_end(prefect_server: str, electroloop_home: Path) -> None:
    from electroloop.workflows.flows import conductivity_campaign

    spec = eight_trial_spec()
    state = conductivity_campaign(spec, return_state=True)
    summary = state.result()
    assert summary.trials == 8 and summary.failures == 0

    # Prefect ran it as one flow run with a task run per step.
    flow_state, task_names = asyncio.run(
        _flow_runs_and_task_runs(str(state.state_details.flow_run_id))
    )
    assert flow_state == "COMPLETED"
    assert sum(name.startswith("trial-") for name in task_names) == 8
    assert sum(name.startswith("propose") for name in task_names) == 2
    assert sum(name.startswith("tell") for name in task_names) == 2

    # The event log holds 8 observations, each from its own dosing record.
    with CampaignStore(electroloop_home / "campaigns.sqlite") as store:
        log = store.state(summary.campaign_id)
    assert len(log.observations) == 8 and not log.failures and not log.pending

    # What the meter reported depends on what was dosed (weighed masses), within meter noise.
    stocks = simulated_stocks(spec.space, lab_for(spec))
    for candidate_id, observation in log.observations.items():
        dosing = log.dosings[candidate_id]
        dosed = as_dosed(
            dosing.dosed_masses, stocks, spec.salt.name, spec.salt.molar_mass, spec.temperature
        )
        expected = true_value(spec.space, dosed)
        assert observation.values["conductivity"] == pytest.approx(expected, rel=0.03)
        requested = log.candidates[candidate_id].formulation
        assert dosed.molality == pytest.approx(requested.molality, rel=0.02)

    # MLflow: one campaign run, eight nested trial runs, best-so-far per trial index.
    client = MlflowClient(f"sqlite:///{electroloop_home / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(spec.study)
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [p.info.run_id for p in parents] == [summary.mlflow_run_id]
    tags = parents[0].data.tags  # provenance: what produced the data, by version
    assert tags["electroloop.versions.kind"] == "electrolyte/1"
    assert tags["electroloop.versions.planner"].startswith("electroloop.planners.")
    assert tags["electroloop.versions.parser.ConductivityMeter"] == "1"
    children = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{summary.mlflow_run_id}'",
    )
    assert len(children) == 8
    history = client.get_metric_history(summary.mlflow_run_id, "best_conductivity")
    assert sorted(m.step for m in history) == list(range(8))
    assert max(m.value for m in history) == pytest.approx(
        max(o.values["conductivity"] for o in log.observations.values())
    )

    # A trial run links to the raw meter transcript whose hash matches the stored one.
    child = children[0]
    candidate_id = child.data.tags["electroloop.candidate_id"]
    stored = log.measurements[candidate_id][0].transcript
    local = client.download_artifacts(
        child.info.run_id,
        f"transcripts/{stored.instrument}.txt",
        str(electroloop_home / "download"),
    )
    text = Path(local).read_text(encoding="utf-8")
    assert hashlib.sha256(text.encode()).hexdigest() == stored.sha256
    assert child.data.tags[f"transcript.{stored.instrument}.sha256"] == stored.sha256
    assert "MEAS:COND?" in text
    assert Path(summary.plot).stat().st_size > 10_000


def test_two_objective_constrained_campaign_records_every_metric(
    prefect_server: str, electroloop_home: Path
) -> None:
    from electroloop.kinds.registry import load_campaign
    from electroloop.workflows.flows import conductivity_campaign

    example = Path(__file__).resolve().parents[2] / "examples" / "campaigns"
    data = load_campaign(example / "conductivity_cost.toml").model_dump(mode="json")
    spec = parse_campaign(data | {"planner": "sobol", "budget": 8, "name": "it-moo"}, "test")
    assert spec.pipeline and spec.space.max_components == 2

    summary = conductivity_campaign(spec)
    with CampaignStore(electroloop_home / "campaigns.sqlite") as store:
        log = store.state(summary.campaign_id)
    assert len(log.observations) + len(log.failures) == 8
    for candidate in log.candidates.values():
        spec.space.check(candidate.formulation)  # EC >= 0.2 and at most two solvents, always
    for observation in log.observations.values():
        assert set(observation.values) == {"conductivity", "cost"}
        assert 2.0 < observation.values["cost"] < 10.0  # USD/kg: salt-dominated, plausible

    client = MlflowClient(f"sqlite:///{electroloop_home / 'mlflow.db'}")
    child = client.search_runs(
        [summary.mlflow_experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{summary.mlflow_run_id}'",
    )[0]
    assert {"conductivity", "cost"} <= set(child.data.metrics)
