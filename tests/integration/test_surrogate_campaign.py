"""A campaign that uses a surrogate, end to end: train a (small) CALiSol mixture ensemble for
real, register it in MLflow, load it back by name, let it choose the solvents and make the first
proposals, and find its name and version on every candidate it scored."""

from __future__ import annotations

from pathlib import Path

from mlflow.tracking import MlflowClient

from electroloop.kinds.registry import load_campaign
from electroloop.orchestrator.events import LibraryScreened
from electroloop.orchestrator.store import CampaignStore
from electroloop.settings import Settings
from electroloop.surrogates.ensemble import TrainConfig
from electroloop.workflows.surrogate_registry import register
from electroloop.workflows.surrogate_training import train_mixture
from electroloop.workflows.tracking import trial_runs

ROOT = Path(__file__).resolve().parents[2]


def test_a_registered_surrogate_chooses_solvents_and_makes_the_first_proposals(
    prefect_server: str, electroloop_home: Path, shared_data: Path
) -> None:
    from electroloop.workflows.flows import conductivity_campaign

    settings = Settings()
    trained = train_mixture(
        shared_data / "calisol23" / "calisol23.csv",
        members=2,
        config=TrainConfig(epochs=8, lr=3e-3, batch_size=256),
    )
    assert trained.held_out.r2 > 0.5  # even 8 epochs learn the held-out sources' trends
    surrogate = register(
        trained.surrogate, "conductivity", settings.resolved_tracking_uri, settings.artifact_root
    )
    assert surrogate.version == "1"

    spec = load_campaign(ROOT / "examples" / "campaigns" / "conductivity_surrogate.toml")
    spec = spec.model_copy(update={"budget": 8, "planner": "sobol"})
    summary = conductivity_campaign(spec)

    with CampaignStore(settings.store_path) as store:
        state = store.state(summary.campaign_id)
        events = store.events(summary.campaign_id)
    screened = [e for e in events if isinstance(e, LibraryScreened)]
    assert len(screened) == 1 and screened[0].scored_by == surrogate.label
    assert len(screened[0].options) == 10  # every 3 of 5 solvents
    chosen = screened[0].chosen
    assert [s["name"] for s in state.spec["solvents"]] == [
        s for s in ("EC", "PC", "DMC", "EMC", "DEC") if s in chosen
    ]
    candidates = list(state.candidates.values())
    assert [c.id for c in candidates[:4]] == ["s0000", "s0001", "s0002", "s0003"]
    assert all(c.scored_by == "conductivity v1 (mixture deep ensemble)" for c in candidates[:4])
    assert all(c.predicted is not None and c.predicted.std > 0 for c in candidates[:4])
    assert len(state.observations) == 8

    client = MlflowClient(settings.resolved_tracking_uri)
    trials = trial_runs(client, summary.mlflow_experiment_id, summary.mlflow_run_id)
    scored = {
        r.data.tags["electroloop.candidate_id"]: r.data.tags.get("electroloop.scored_by")
        for r in trials
    }
    assert {scored[c.id] for c in candidates[:4]} == {surrogate.label}
