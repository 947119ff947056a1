"""Kill the worker mid-campaign, resume from the event log: the same measurements as an
uninterrupted run, none twice, none lost; the dead run's leases are taken over, its Prefect
run is marked Crashed, and MLflow ends up with every trial."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.orchestrator.events import CampaignResumed, MeasurementRecorded
from electroloop.orchestrator.leases import LeaseBook, LeaseHeld
from electroloop.orchestrator.store import CampaignStore
from electroloop.settings import Settings
from electroloop.workflows.telemetry import store_exists
from electroloop.workflows.tracking import trial_runs

BUDGET = 8


def measured(store: str | Path, campaign_id: str) -> Counter[str]:
    with CampaignStore(store) as log:
        events = log.events(campaign_id)
    return Counter(e.measurement.candidate_id for e in events if isinstance(e, MeasurementRecorded))


def wait_for_measurements(store: str | Path, prefix: str, count: int, worker: Any) -> str:
    """The id of the campaign named `prefix` once it has `count` measurements."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert worker.poll() is None, "the worker ended before it could be killed"
        if store_exists(store):
            with CampaignStore(store) as log:
                ids = [c for c in log.campaign_ids() if c.startswith(prefix)]
            if ids and sum(measured(store, ids[0]).values()) >= count:
                return ids[0]
        time.sleep(0.2)
    raise AssertionError(f"{prefix} never reached {count} measurements")


def test_a_killed_worker_resumes_with_no_measurement_repeated_or_lost(
    prefect_server: str,
    electroloop_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    store_target: str | Path,
) -> None:
    """On the embedded SQLite store and on a lab's PostgreSQL."""
    from mlflow.tracking import MlflowClient
    from prefect.client.orchestration import get_client

    from electroloop.workflows.flows import conductivity_campaign, resume_campaign

    monkeypatch.setenv("ELECTROLOOP_LEASE_TTL", "3")
    if isinstance(store_target, str):
        monkeypatch.setenv("ELECTROLOOP_DATABASE_URL", store_target)
    design = default_campaign().model_dump(mode="json", exclude_none=True)
    design |= {"planner": "ax", "budget": BUDGET, "batch_size": 4, "seed": 3}
    campaign_file = tmp_path / "campaign.toml"
    campaign_file.write_text(tomli_w.dumps(design), encoding="utf-8")
    settings = Settings()

    reference = conductivity_campaign(
        default_campaign().model_copy(update={"name": "reference", "budget": BUDGET})
    )
    assert reference.trials == BUDGET

    env = os.environ | {  # with the test's ELECTROLOOP_DATABASE_URL, if any
        "ELECTROLOOP_HOME": str(electroloop_home),
        "PREFECT_API_URL": prefect_server,
    }
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "electroloop.cli", "run", str(campaign_file), "--name", "killed"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        campaign_id = wait_for_measurements(settings.store, "killed", 5, worker)
        with LeaseBook(settings.store) as book:  # one flow per campaign while it lives
            with pytest.raises(LeaseHeld, match=f"campaign:{campaign_id} is held by"):
                book.acquire(f"campaign:{campaign_id}", "another flow", 3.0)
        os.killpg(worker.pid, signal.SIGKILL)  # the worker dies mid-campaign
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        log.close()
    before = measured(settings.store, campaign_id)
    with LeaseBook(settings.store) as book:
        dead = [lease for lease in book.all() if lease.holder.startswith(campaign_id)]
    assert dead, "the dead worker's leases are still on the book until they expire"

    summary = resume_campaign(campaign_id)

    after = measured(settings.store, campaign_id)
    assert summary.finished == "budget spent"
    assert sum(after.values()) == reference.trials == BUDGET  # same as uninterrupted
    assert set(after.values()) == {1}  # nothing measured twice
    assert all(after[c] == 1 for c in before)  # what was measured before the kill is kept
    with CampaignStore(settings.store) as store:
        state = store.state(campaign_id)
        events = store.events(campaign_id)
    assert len(state.candidates) == BUDGET and not state.pending and not state.failures
    assert sum(isinstance(e, CampaignResumed) for e in events) == 1
    with LeaseBook(settings.store) as book:
        assert not [lease for lease in book.all() if lease.holder.startswith(campaign_id)]

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
    killed_runs = [
        r for r in runs if (r.parameters or {}).get("campaign", {}).get("name") == "killed"
    ]
    assert killed_runs and killed_runs[0].state is not None and killed_runs[0].state.is_crashed()

    mlflow = MlflowClient(settings.resolved_tracking_uri)
    trials = trial_runs(mlflow, summary.mlflow_experiment_id, summary.mlflow_run_id)
    assert sorted(r.data.tags["electroloop.candidate_id"] for r in trials) == sorted(
        state.candidates
    )
    finished = mlflow.get_run(summary.mlflow_run_id)
    assert finished.info.status == "FINISHED"

    # Resuming it again runs nothing and leaves its records as they are.
    settled = resume_campaign(campaign_id)
    assert settled.trials == summary.trials and measured(settings.store, campaign_id) == after
    again = mlflow.get_run(summary.mlflow_run_id)
    assert again.info.status == "FINISHED" and again.data.metrics == finished.data.metrics


def test_the_mlflow_run_is_created_only_after_the_campaigns_first_event(
    prefect_server: str, electroloop_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill between the two must leave a campaign resume can pick up: so the event log
    holds the campaign before MLflow does, and resume gives it the run it lacks."""
    from mlflow.tracking import MlflowClient

    from electroloop.workflows import flows
    from electroloop.workflows.build import assemble

    settings = Settings()
    seen: list[bool] = []

    class Checked(flows.MlflowTracker):  # the real tracker, noting what the log held then
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            with CampaignStore(settings.store) as store:
                seen.append(args[3] in store.campaign_ids())
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(flows, "MlflowTracker", Checked)
    spec = default_campaign().model_copy(update={"planner": "sobol", "budget": 4, "name": "o"})
    assert flows.conductivity_campaign(spec).trials == 4
    assert seen == [True]

    with assemble(spec, settings, "early-1", []) as parts:
        parts.campaign.start()  # its first event, then the process "died": no MLflow run yet
    summary = flows.resume_campaign("early-1")
    assert summary.trials == 4 and summary.finished == "budget spent"
    mlflow = MlflowClient(settings.resolved_tracking_uri)
    run = mlflow.get_run(summary.mlflow_run_id)
    assert run.info.status == "FINISHED" and run.data.tags["electroloop.campaign_id"] == "early-1"
    assert len(trial_runs(mlflow, summary.mlflow_experiment_id, summary.mlflow_run_id)) == 4
