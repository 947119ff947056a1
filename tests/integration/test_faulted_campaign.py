"""A dry run with faults in every instrument: faulted trials fail with their reason, the
campaign completes, and no measurement is lost."""

from __future__ import annotations

from pathlib import Path

from mlflow.tracking import MlflowClient

from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.orchestrator.events import MeasurementRecorded
from electroloop.orchestrator.store import CampaignStore

LAB = Path(__file__).resolve().parents[2] / "examples" / "labs" / "lab.sim.toml"

FAULTS = """
[[balance.faults]]
fault = "silent"          # the balance stops answering once: a timeout
after = 60

[[pumps.faults]]
fault = "error"           # each pump refuses one move with a plunger overload
after = 40

[[meter.faults]]
fault = "garbage"         # the meter answers one reading with garbage
after = 5

[[meter.faults]]
fault = "disconnect"      # and drops its connection once: the driver reconnects
after = 30
"""


def test_a_campaign_with_faults_in_every_instrument_completes_and_loses_nothing(
    prefect_server: str, electroloop_home: Path, tmp_path: Path
) -> None:
    from electroloop.workflows.flows import conductivity_campaign

    lab = tmp_path / "lab.faults.toml"
    lab.write_text(LAB.read_text().replace("timeout = 5.0", "timeout = 1.0") + FAULTS)
    spec = default_campaign().model_copy(
        update={"planner": "sobol", "budget": 12, "batch_size": 4, "lab": str(lab)}
    )
    state = conductivity_campaign(spec, return_state=True)
    assert state.is_completed()
    summary = state.result()
    assert summary.trials == 12 and summary.failures >= 3

    with CampaignStore(electroloop_home / "campaigns.sqlite") as store:
        log = store.state(summary.campaign_id)
        events = store.events(summary.campaign_id)
    assert len(log.observations) + len(log.failures) == 12
    reasons = " | ".join(log.failures.values())
    for instrument in ("syringe pump", "balance", "conductivity meter"):
        assert instrument in reasons, reasons
    assert all(
        r.startswith(("dosing failed:", "measurement failed:")) for r in log.failures.values()
    )

    # Every measurement that reached the event log reached the planner as an observation.
    measured = [e.measurement for e in events if isinstance(e, MeasurementRecorded)]
    assert measured and len(measured) == len(log.observations)
    for measurement in measured:
        observation = log.observations[measurement.candidate_id]
        assert observation.values["conductivity"] == measurement.value  # copied, not computed
    # A trial whose meter failed keeps the dosing record of what was made.
    for candidate_id, reason in log.failures.items():
        if reason.startswith("measurement failed"):
            assert candidate_id in log.dosings

    # MLflow marks the same trials failed, with the same reason.
    client = MlflowClient(f"sqlite:///{electroloop_home / 'mlflow.db'}")
    trials = client.search_runs(
        [summary.mlflow_experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{summary.mlflow_run_id}'",
    )
    failed = {
        t.data.tags["electroloop.candidate_id"]: t.data.tags["electroloop.failure"]
        for t in trials
        if t.info.status == "FAILED"
    }
    assert failed == log.failures
