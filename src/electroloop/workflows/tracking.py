"""MLflow recording: one run per campaign, one nested run per trial.

Uses `MlflowClient` with explicit run ids rather than the fluent API's global active-run stack,
so a campaign never logs into somebody else's run. Logging happens after the event store has the
fact, so a tracking outage can lose a chart, never a measurement.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from electroloop import __version__
from electroloop.models import Formulation
from electroloop.orchestrator.campaign import CampaignSpec
from electroloop.orchestrator.closed_loop import TrialRecord


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
            check=False,
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def _formulation_params(prefix: str, formulation: Formulation) -> dict[str, str]:
    params = {f"{prefix}.{name}": f"{value:.6f}" for name, value in formulation.fractions.items()}
    params[f"{prefix}.molality"] = f"{formulation.molality:.6f}"
    return params


def _spec_params(spec: CampaignSpec) -> dict[str, str]:
    params: dict[str, Any] = {
        "budget": spec.budget,
        "batch_size": spec.batch_size,
        "seed": spec.seed,
        "planner": spec.planner,
        "lab": spec.lab,
        "temperature": spec.temperature,
        "objectives": ", ".join(f"{o.direction} {o.name}" for o in spec.objectives),
        "outcome_constraints": ", ".join(str(c) for c in spec.outcome_constraints) or "none",
        "salt": spec.salt.name,
        "salt.molality_range": f"{spec.salt.min_molality}..{spec.salt.max_molality}",
    }
    for solvent in spec.solvents:
        params[f"solvent.{solvent.name}"] = f"{solvent.min_fraction}..{solvent.max_fraction}"
    return {k: str(v) for k, v in params.items()}


class MlflowTracker:
    """Records a campaign and its trials into an MLflow experiment named after the study."""

    def __init__(
        self,
        tracking_uri: str,
        artifact_root: Path,
        spec: CampaignSpec,
        campaign_id: str,
        planner: str,
    ) -> None:
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.spec = spec
        experiment = self.client.get_experiment_by_name(spec.study)
        if experiment is None:
            location = (artifact_root / spec.study).resolve()
            location.mkdir(parents=True, exist_ok=True)
            self.experiment_id = self.client.create_experiment(
                spec.study, artifact_location=location.as_uri()
            )
        else:
            self.experiment_id = experiment.experiment_id
        run = self.client.create_run(
            self.experiment_id,
            run_name=campaign_id,
            tags={
                "electroloop.campaign_id": campaign_id,
                "electroloop.planner": planner,
                "electroloop.lab": spec.lab,
                "electroloop.version": __version__,
                "electroloop.git_commit": _git_commit(),
                "electroloop.kind": "campaign",
            },
        )
        self.run_id = run.info.run_id
        self.client.log_batch(
            self.run_id, params=[Param(k, v) for k, v in _spec_params(spec).items()]
        )
        self.client.log_text(
            self.run_id, json.dumps(spec.model_dump(mode="json"), indent=2), "campaign.json"
        )

    def __call__(self, trial: TrialRecord) -> None:
        """Log one trial as a nested run, and the campaign's best-so-far at its index."""
        now = int(time.time() * 1000)
        candidate = trial.candidate
        run = self.client.create_run(
            self.experiment_id,
            run_name=candidate.id,
            tags={
                "mlflow.parentRunId": self.run_id,
                "electroloop.kind": "trial",
                "electroloop.candidate_id": candidate.id,
                "electroloop.planner": candidate.planner,
                "electroloop.trial_index": str(trial.index),
                **({"electroloop.failure": trial.failure[:5000]} if trial.failure else {}),
            },
        )
        params = _formulation_params("requested", candidate.formulation)
        metrics: dict[str, float] = {}
        transcripts = []
        if trial.dosing is not None:
            params |= _formulation_params("as_dosed", trial.dosing.as_dosed)
            metrics |= {f"dosed_mass.{k}": v for k, v in trial.dosing.dosed_masses.items()}
            transcripts += list(trial.dosing.transcripts)
        if trial.measurement is not None:
            m = trial.measurement
            metrics[m.quantity] = m.value
            if m.temperature is not None:
                metrics["sample_temperature"] = m.temperature
            transcripts.append(m.transcript)
        if trial.observation is not None:
            metrics |= trial.observation.values  # measured and derived (e.g. cost)
        tags = [RunTag(f"transcript.{t.instrument}.sha256", t.sha256) for t in transcripts]
        if trial.measurement is not None:
            tags += [
                RunTag("parser", trial.measurement.parser),
                RunTag("parser_version", trial.measurement.parser_version),
            ]
        self.client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, v, now, trial.index) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=tags,
        )
        for transcript in transcripts:
            self.client.log_text(
                run.info.run_id, transcript.text, f"transcripts/{transcript.instrument}.txt"
            )
        self.client.set_terminated(run.info.run_id, "FAILED" if trial.failure else "FINISHED")
        if trial.best is not None:
            self.client.log_metric(
                self.run_id,
                f"best_{self.spec.goal.primary.name}",
                trial.best,
                timestamp=now,
                step=trial.index,
            )

    def finish(
        self,
        *,
        status: str,
        planner_state: dict[str, Any] | None,
        plot: Path | None,
        summary: dict[str, Any],
    ) -> None:
        """Attach the final artifacts and close the campaign run."""
        if planner_state is not None:
            self.client.log_text(self.run_id, json.dumps(planner_state), "planner_state.json")
        if plot is not None:
            self.client.log_artifact(self.run_id, str(plot), "plots")
        self.client.log_text(self.run_id, json.dumps(summary, indent=2), "summary.json")
        self.client.set_terminated(self.run_id, status)
