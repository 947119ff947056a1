"""A cycling campaign on the simulated 8-channel cycler, its orchestrator killed mid-cycling and
resumed: the cycler kept running, no record is lost or stored twice, no cell is set up twice,
the planner heard interim results before any cell finished, and MLflow has every cell's curves.
"""

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

from electroloop.instruments.cycler import MultichannelCycler
from electroloop.instruments.transport import open_resource
from electroloop.kinds.cycling.records import CellRecordStore
from electroloop.kinds.registry import load_campaign
from electroloop.orchestrator.events import (
    CampaignResumed,
    CandidatesProposed,
    CellAssembled,
    CellFinished,
    DosingRecorded,
    InterimObservation,
    PhaseStarted,
)
from electroloop.orchestrator.leases import LeaseBook
from electroloop.orchestrator.store import CampaignStore
from electroloop.settings import Settings, default_lab_text
from electroloop.workflows.cycler_service import cycler_process, stop_cycler
from electroloop.workflows.tracking import trial_runs

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "campaigns" / "cycling.toml"
BUDGET = 4
CYCLES = 12


def write_campaign(folder: Path) -> Path:
    """The example, shrunk: 4 cells in batches of 2, 12 cycles, a faster simulated cycler."""
    design = load_campaign(EXAMPLE).model_dump(mode="json", exclude_none=True)
    design |= {"name": "killed", "budget": BUDGET, "batch_size": 2, "lab": "lab.toml"}
    design["cycling"] |= {
        "formation_cycles": 1,
        "formation_c_rate": 0.5,
        "rate_c_rates": [0.5, 2.0],
        "cycles": CYCLES,
        "checkpoints": [4, 8],
        "record_interval": 300.0,
    }
    lab = default_lab_text().replace("cycler_speedup = 10000.0", "cycler_speedup = 20000.0")
    assert "cycler_speedup = 20000.0" in lab
    (folder / "lab.toml").write_text(lab, encoding="utf-8")
    path = folder / "cycling.toml"
    path.write_text(tomli_w.dumps(design), encoding="utf-8")
    return path


def events_of(store: Path, campaign_id: str) -> list[Any]:
    with CampaignStore(store) as log:
        return log.events(campaign_id)


def wait_for_interim(store: Path, worker: Any) -> str:
    """The campaign's id once a cell has told the planner something (cells are cycling)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert worker.poll() is None, "the worker ended before it could be killed"
        if store.exists():
            with CampaignStore(store) as log:
                ids = [c for c in log.campaign_ids() if c.startswith("killed")]
            if ids and any(isinstance(e, InterimObservation) for e in events_of(store, ids[0])):
                return ids[0]
        time.sleep(0.2)
    raise AssertionError("no cell reached its first checkpoint")


def test_killed_during_cycling_resumes_with_no_record_lost_and_no_cell_rerun(
    prefect_server: str, electroloop_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    from electroloop.workflows.flows import resume_campaign

    monkeypatch.setenv("ELECTROLOOP_LEASE_TTL", "3")
    settings = Settings()
    env = os.environ | {
        "ELECTROLOOP_HOME": str(electroloop_home),
        "PREFECT_API_URL": prefect_server,
        "ELECTROLOOP_LEASE_TTL": "3",
    }
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "electroloop.cli", "run", str(write_campaign(tmp_path))],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        try:
            campaign_id = wait_for_interim(settings.store_path, worker)
            os.killpg(worker.pid, signal.SIGKILL)  # the orchestrator dies; the cycler does not
            worker.wait(timeout=30)
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
            log.close()
        cycler = cycler_process(electroloop_home)
        assert cycler is not None, "the simulated cycler died with the orchestrator"
        before = events_of(settings.store_path, campaign_id)
        assert not any(isinstance(e, CellFinished) for e in before), "killed too late"

        summary = resume_campaign(campaign_id)

        assert summary.finished == "budget spent" and summary.trials == BUDGET
        events = events_of(settings.store_path, campaign_id)
        with CampaignStore(settings.store_path) as store:
            state = store.state(campaign_id)
        assert sum(isinstance(e, CampaignResumed) for e in events) == 1
        assert len(state.observations) == BUDGET and not state.failures
        # No cell set up twice: one dosing, one cell, each phase started once, per candidate.
        for kind in (DosingRecorded, CellAssembled):
            counts = Counter(_candidate(e) for e in events if isinstance(e, kind))
            assert sorted(counts) == sorted(state.candidates) and set(counts.values()) == {1}
        phases = Counter((e.candidate_id, e.phase) for e in events if isinstance(e, PhaseStarted))
        assert set(phases.values()) == {1} and len(phases) == BUDGET * 4
        # The planner heard early cycles before any cell finished (all before the kill), and
        # the second batch was proposed only after each cell of the first had told it something.
        assert any(isinstance(e, InterimObservation) for e in before)
        seq = {id(e): i for i, e in enumerate(events)}
        interim = [e for e in events if isinstance(e, InterimObservation)]
        second = next(e for e in events if isinstance(e, CandidatesProposed) and e.iteration == 1)
        told = {e.candidate_id for e in interim if seq[id(e)] < seq[id(second)]}
        assert told == {"t0000", "t0001"}
        # Every record the cycler took for each cell is stored once: the same as asking the
        # cycler now for everything since the cell's first record.
        with (
            CellRecordStore(settings.store_path) as records,
            open_resource(cycler.resource, timeout=5.0, **MultichannelCycler.TERMINATIONS) as io,
        ):
            driver = MultichannelCycler(io)
            for candidate_id, cell in state.cells.items():
                stored = [r for _, r in records.records(campaign_id, cell.assembled.cell_id)]
                channel, first = cell.assembled.channel, cell.phases[0].first_index
                on_cycler, end = driver.fetch_all(channel, first)
                later = [  # a later cell on the same channel numbers on from this one
                    other.phases[0].first_index
                    for other in state.cells.values()
                    if other.assembled.channel == channel and other.phases[0].first_index > first
                ]
                mine = on_cycler[: min(later, default=end) - first]
                # Records parsed from the cycler's replies, stored and read back: copies.
                assert stored == mine, f"{candidate_id}: records lost or stored twice"
        with LeaseBook(settings.store_path) as book:
            assert not [lease for lease in book.all() if lease.holder.startswith(campaign_id)]
        # MLflow: each cell's trial run has its V-Q and fade plots and a per-cycle history.
        mlflow = MlflowClient(settings.resolved_tracking_uri)
        trials = trial_runs(mlflow, summary.mlflow_experiment_id, summary.mlflow_run_id)
        assert sorted(r.data.tags["electroloop.candidate_id"] for r in trials) == sorted(
            state.candidates
        )
        for run in trials:
            cell_id = state.cells[run.data.tags["electroloop.candidate_id"]].assembled.cell_id
            files = {a.path for a in mlflow.list_artifacts(run.info.run_id, "cell")}
            assert {f"cell/{cell_id}_vq.png", f"cell/{cell_id}_fade.png"} <= files
            assert f"cell/{cell_id}_raw.parquet" in files
            history = mlflow.get_metric_history(run.info.run_id, "cycle_discharge_capacity")
            assert len(history) >= CYCLES and 0.9 * 5.0 < history[-1].value < 5.2
            assert 0.9 < run.data.metrics["retention"] <= 1.0
    finally:
        stop_cycler(electroloop_home)


def _candidate(event: Any) -> str:
    return event.record.candidate_id if isinstance(event, DosingRecorded) else event.candidate_id
