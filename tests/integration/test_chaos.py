"""The short chaos runs of `make test` (`make chaos` runs the long one): campaigns whose
orchestrator, or a server they use, is killed with SIGKILL at random moments, restarted and
resumed, audited afterwards (`tests.chaos`)."""

from __future__ import annotations

import random
from pathlib import Path

from tests.chaos import report, run_with_kills


def test_a_campaign_killed_again_and_again_loses_and_repeats_nothing(tmp_path: Path) -> None:
    audit = run_with_kills(tmp_path / "home", budget=8, kills=3, rng=random.Random(7))
    table = report([audit])
    assert audit.clean, table
    assert table.endswith("3 kills, 0 lost, 0 duplicated")
    assert audit.finished == "budget spent"


def test_a_cycling_campaign_killed_mid_cycling_loses_no_record_and_reruns_no_cell(
    tmp_path: Path,
) -> None:
    """Two cells on the simulated cycler, which keeps cycling while the orchestrator is dead:
    every record stored once with no gap, no cell set up or phase started twice."""
    audit = run_with_kills(
        tmp_path / "home", budget=2, kills=2, rng=random.Random(3), kind="cycling"
    )
    table = report([audit])
    assert audit.clean, table
    assert table.endswith("2 kills, 0 lost, 0 duplicated")
    assert audit.finished == "budget spent" and "failed" not in table


def test_a_campaign_whose_mlflow_server_is_killed_loses_nothing(tmp_path: Path) -> None:
    """The MLflow server of `electroloop up` dies mid-campaign and `up` brings both servers
    back on their ports: every trial has its one MLflow run, the campaign run is FINISHED."""
    audit = run_with_kills(
        tmp_path / "home", budget=8, kills=1, rng=random.Random(5), target="mlflow"
    )
    table = report([audit])
    assert audit.clean, table
    assert table.endswith("1 kills, 0 lost, 0 duplicated")
