"""A tracking server that dies mid-campaign costs MLflow records, never a measurement."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.orchestrator.closed_loop import TrialRecord
from electroloop.settings import Settings
from electroloop.workflows.build import assemble, simulator_oracle
from electroloop.workflows.mlflow_server import MlflowServer
from electroloop.workflows.tracking import MlflowTracker


def test_the_campaign_finishes_when_the_tracking_server_goes_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail fast, not after minutes
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    spec = default_campaign().model_copy(update={"planner": "sobol", "budget": 4, "batch_size": 2})
    oracle = simulator_oracle(spec)
    backend = f"sqlite:///{tmp_path / 'mlflow.db'}"
    server = MlflowServer(backend, tmp_path / "artifacts").start()
    try:
        tracker = MlflowTracker(server.url, tmp_path, spec, "outage", oracle and oracle.model)

        def outage_after_first_trial(record: TrialRecord) -> None:
            if record.index == 0:
                server.stop()

        observers = [tracker, outage_after_first_trial]
        with assemble(spec, Settings(home=tmp_path), "outage", observers, oracle) as assembly:
            state = assembly.campaign.run()
    finally:
        server.stop()
    assert len(state.observations) == 4 and state.finished == "budget spent"
    assert tracker.failure is not None and "ConnectionError" in tracker.failure

    with MlflowServer(backend, tmp_path / "artifacts") as again:  # what MLflow kept
        client = MlflowClient(again.url)
        trials = client.search_runs(
            [tracker.experiment_id], f"tags.mlflow.parentRunId = '{tracker.run_id}'"
        )
        assert [t.data.tags["electroloop.candidate_id"] for t in trials] == [
            next(iter(state.candidates))
        ]
