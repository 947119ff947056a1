"""A lab on several machines shares one PostgreSQL: `electroloop up` runs the Prefect server and
the MLflow tracking server on it, and campaigns keep their event log and leases in it, so any
PC of the lab sees the same campaigns. Debian's PostgreSQL, a throwaway cluster on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import tomli_w

from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.orchestrator.events import MeasurementRecorded
from electroloop.orchestrator.leases import LeaseBook
from electroloop.orchestrator.store import CampaignStore
from electroloop.workflows.services import ServiceConfig, Services, down, up
from electroloop.workflows.tracking import trial_runs
from tests.postgres import PostgresCluster

BUDGET = 8


@dataclass(frozen=True)
class SharedLab:
    home: Path
    services: Services
    prefect_db: str
    mlflow_db: str
    campaigns_db: str
    password: str


@pytest.fixture(scope="module")
def shared_lab(
    postgres: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedLab]:
    """`electroloop up` with Prefect and MLflow on PostgreSQL; a third database for the
    campaigns. Stopped at the end whatever happens."""
    home = tmp_path_factory.mktemp("shared-lab") / "runs"
    prefect_db = postgres.create_database("lab_prefect")
    mlflow_db = postgres.create_database("lab_mlflow")
    campaigns_db = postgres.create_database("lab_campaigns")
    config = ServiceConfig(
        home,
        prefect_port=0,
        mlflow_port=0,
        prefect_database_url=postgres.url("lab_prefect", driver="asyncpg"),
        mlflow_backend_uri=mlflow_db,
    )
    try:
        yield SharedLab(home, up(config), prefect_db, mlflow_db, campaigns_db, postgres.password)
    finally:
        down(home)


def rows(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as db:
        return db.execute(sql).fetchall()


def test_a_campaign_keeps_prefect_mlflow_its_log_and_leases_in_postgresql(
    shared_lab: SharedLab, tmp_path: Path
) -> None:
    design = default_campaign().model_dump(mode="json", exclude_none=True)
    design |= {"planner": "sobol", "budget": BUDGET, "batch_size": 4, "seed": 5}
    campaign_file = tmp_path / "campaign.toml"
    campaign_file.write_text(tomli_w.dumps(design), encoding="utf-8")
    bench_pc = tmp_path / "bench-pc"  # this PC's home: plots and files only
    env = os.environ | {
        "ELECTROLOOP_HOME": str(bench_pc),
        "ELECTROLOOP_DATABASE_URL": shared_lab.campaigns_db,
        "ELECTROLOOP_TRACKING_URI": shared_lab.services.mlflow.url,
        "PREFECT_API_URL": shared_lab.services.prefect.api_url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "electroloop.cli", "run", str(campaign_file), "--name", "shared"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert shared_lab.password not in done.stdout + done.stderr

    # The event log and the leases are in PostgreSQL; this PC made no SQLite store.
    assert not (bench_pc / "campaigns.sqlite").exists()
    with CampaignStore(shared_lab.campaigns_db) as store:
        (campaign_id,) = [c for c in store.campaign_ids() if c.startswith("shared")]
        state = store.state(campaign_id)
        measured = [
            e.measurement.candidate_id
            for e in store.events(campaign_id)
            if isinstance(e, MeasurementRecorded)
        ]
    assert state.finished == "budget spent" and len(state.observations) == BUDGET
    assert sorted(measured) == sorted(state.candidates)  # each once
    with LeaseBook(shared_lab.campaigns_db) as book:
        assert not [lease for lease in book.all() if lease.holder.startswith(campaign_id)]

    # Prefect's server recorded the flow run and a task run per trial in its PostgreSQL.
    (flow_state,) = rows(
        shared_lab.prefect_db,
        "SELECT state_type FROM flow_run WHERE parameters::text LIKE '%\"shared\"%'",
    )[0]
    assert flow_state == "COMPLETED"
    trials = rows(shared_lab.prefect_db, "SELECT name FROM task_run WHERE name LIKE 'trial-%'")
    assert len(trials) == BUDGET

    # MLflow's server stored the campaign run and its trials in its PostgreSQL.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(shared_lab.services.mlflow.url)
    (experiment,) = [e for e in client.search_experiments() if e.name == default_campaign().study]
    (parent,) = [
        r
        for r in client.search_runs([experiment.experiment_id])
        if r.data.tags.get("electroloop.campaign_id") == campaign_id
        and "mlflow.parentRunId" not in r.data.tags
    ]
    children = {
        r.info.run_id for r in trial_runs(client, experiment.experiment_id, parent.info.run_id)
    }
    assert len(children) == BUDGET
    stored = {run_uuid for (run_uuid,) in rows(shared_lab.mlflow_db, "SELECT run_uuid FROM runs")}
    assert children | {parent.info.run_id} <= stored
