"""Pieces of the MLflow schema that need no server: the campaign file, groups and keys."""

from __future__ import annotations

import tomllib
from pathlib import Path

from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.kinds.registry import load_campaign
from electroloop.workflows.tracking import campaign_toml, mlflow_key, spec_group

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "campaigns"


def test_the_logged_campaign_file_runs_the_same_campaign_again(tmp_path: Path) -> None:
    for spec in (default_campaign(), load_campaign(EXAMPLES / "conductivity_cost.toml")):
        path = tmp_path / "campaign.toml"
        path.write_text(campaign_toml(spec), encoding="utf-8")
        assert load_campaign(path) == spec  # written to TOML and read back: copies
        assert tomllib.loads(path.read_text(encoding="utf-8"))["name"] == spec.name


def test_repeats_share_a_group_and_other_designs_do_not() -> None:
    spec = default_campaign()
    repeat = spec.model_copy(update={"seed": 99, "name": "again", "description": "rerun"})
    assert spec_group(repeat) == spec_group(spec)
    assert spec_group(spec.model_copy(update={"planner": "sobol"})) != spec_group(spec)
    assert spec_group(spec.model_copy(update={"budget": 10})) != spec_group(spec)


def test_keys_mlflow_refuses_are_made_safe() -> None:
    assert mlflow_key("pump-LiPF6+EC") == "pump-LiPF6_EC"
    assert mlflow_key("transcript.balance.sha256") == "transcript.balance.sha256"


def test_a_trial_run_a_crash_left_running_is_replaced_not_counted(tmp_path: Path) -> None:
    """A process killed between creating a trial's run and ending it leaves a RUNNING run with
    the candidate's tag and nothing else; resume must record that trial again, once."""
    from mlflow.tracking import MlflowClient

    from electroloop.workflows.tracking import MlflowTracker, trial_runs

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = MlflowTracker(uri, tmp_path / "artifacts", default_campaign(), "c1")
    client = MlflowClient(uri)
    for candidate, ended in (("t0000", True), ("t0001", False)):
        tags = {"mlflow.parentRunId": tracker.run_id, "electroloop.candidate_id": candidate}
        run = client.create_run(tracker.experiment_id, run_name=candidate, tags=tags)
        if ended:
            client.set_terminated(run.info.run_id, "FINISHED")
    assert tracker.recorded_candidates() == {"t0000"}
    assert tracker.discard_unfinished_trials() == ["t0001"]
    left = trial_runs(client, tracker.experiment_id, tracker.run_id)
    assert [r.data.tags["electroloop.candidate_id"] for r in left] == ["t0000"]
    assert tracker.discard_unfinished_trials() == []


def test_two_campaigns_started_at_once_on_a_fresh_home_share_one_new_database(
    tmp_path: Path,
) -> None:
    """Both processes find the database missing; without a lock both run MLflow's migrations
    and the second dies in them."""
    import subprocess
    import sys
    import time

    uri = f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"
    go = tmp_path / "go"
    code = (
        "import sys, time, pathlib\n"
        "from electroloop.workflows.tracking import experiment_id, open_client\n"
        f"while not pathlib.Path({str(go)!r}).exists(): time.sleep(0.01)\n"
        f"client = open_client({uri!r})\n"
        f"print(experiment_id(client, 'screen', {uri!r}, pathlib.Path({str(tmp_path)!r})))\n"
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    time.sleep(3.0)  # both have imported MLflow and wait at the line
    go.touch()
    results = [worker.communicate(timeout=120) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], [err[-2000:] for _, err in results]
    ids = {out.strip() for out, _ in results}
    assert len(ids) == 1  # one experiment, created once
