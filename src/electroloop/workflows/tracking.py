"""MLflow recording: one run per campaign, one nested run per trial, as docs/mlflow.md specifies.

Uses `MlflowClient` with explicit run ids rather than the fluent API's global active-run stack,
so a campaign never logs into somebody else's run. Logging happens after the event store has the
fact, so a tracking outage can lose a chart, never a measurement.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import tomli_w
from mlflow.entities import Metric, Param, Run, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from electroloop import __version__
from electroloop.errors import TrackingError
from electroloop.kinds.electrode.campaign import ElectrodeCampaign
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign
from electroloop.models import Design, DesignPoint, Formulation, Transcript
from electroloop.orchestrator.campaign import CampaignSpec
from electroloop.orchestrator.closed_loop import TrialRecord
from electroloop.orchestrator.database import private_file
from electroloop.orchestrator.safety import Hazard, SafetyOverride

_NOT_IN_GROUP = ("name", "seed", "description")
"""Campaign fields repeats may differ in and still be repeats of one design."""


def mlflow_key(text: str) -> str:
    """`text` with characters MLflow refuses in keys (e.g. '+') replaced by '_'."""
    return re.sub(r"[^\w./ -]", "_", text)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def spec_group(spec: CampaignSpec) -> str:
    """Hash of the campaign design without name, seed and description: equal for repeats."""
    design = spec.model_dump(mode="json", exclude=set(_NOT_IN_GROUP))
    return sha256(json.dumps(design, sort_keys=True))[:12]


def campaign_toml(spec: CampaignSpec) -> str:
    """The validated campaign as a TOML file that `electroloop run` accepts again."""
    return tomli_w.dumps(spec.model_dump(mode="json", exclude_none=True))


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
    params |= {f"{prefix}.{name}": str(value) for name, value in formulation.extras.items()}
    return params


def _design_params(prefix: str, design: Design) -> dict[str, str]:
    if isinstance(design, DesignPoint):
        return {f"{prefix}.{name}": f"{value:.6g}" for name, value in design.values.items()}
    assert isinstance(design, Formulation)
    return _formulation_params(prefix, design)


def _spec_params(spec: CampaignSpec) -> dict[str, str]:
    params: dict[str, Any] = {
        "budget": spec.budget,
        "batch_size": spec.batch_size,
        "seed": spec.seed,
        "planner": spec.planner,
        "lab": spec.lab,
        "pipeline": spec.pipeline,
        "objectives": ", ".join(f"{o.direction} {o.name}" for o in spec.objectives),
        "outcome_constraints": ", ".join(str(c) for c in spec.outcome_constraints) or "none",
        "warm_start": ", ".join(spec.warm_start) or "none",
    }
    for objective in spec.objectives:
        if objective.threshold is not None:
            params[f"objective.{objective.name}.threshold"] = objective.threshold
    if isinstance(spec, ElectrolyteCampaign):
        params |= _mixture_params(spec)
    elif isinstance(spec, ElectrodeCampaign):
        params |= _electrode_params(spec)
    return {mlflow_key(k): str(v) for k, v in params.items()}


def _electrode_params(spec: ElectrodeCampaign) -> dict[str, Any]:
    params: dict[str, Any] = {
        f"design.{name}": "..".join(f"{v:g}" for v in value)
        if isinstance(value, tuple | list)
        else value
        for name, value in spec.design.model_dump().items()
    }
    params |= {f"microstructure.{k}": v for k, v in spec.microstructure.model_dump().items()}
    params["discharge"] = spec.discharge.label
    return params


def _mixture_params(spec: ElectrolyteCampaign) -> dict[str, Any]:
    params: dict[str, Any] = {
        "temperature": spec.temperature,
        "linear_constraints": ", ".join(str(c) for c in spec.linear_constraints) or "none",
        "max_components": spec.max_components or "none",
        "salt": spec.salt.name,
        "salt.molality_range": f"{spec.salt.min_molality}..{spec.salt.max_molality}",
    }
    for solvent in spec.solvents:
        params[f"solvent.{solvent.name}"] = f"{solvent.min_fraction}..{solvent.max_fraction}"
    for p in spec.parameters:
        described = (
            f"{p.low}..{p.high} {p.unit}".strip()
            if p.kind == "range"
            else " | ".join(str(c) for c in p.choices)
        )
        params[f"parameter.{p.name}"] = described
    return params


def _is_remote(tracking_uri: str) -> bool:
    return urlparse(tracking_uri).scheme in {"http", "https"}


def experiment_id(client: MlflowClient, name: str, tracking_uri: str, artifact_root: Path) -> str:
    """The experiment `name`, created on first use.

    A tracking server stores artifacts where it is configured to (its proxy); a local
    database keeps them in the project-local artifact folder.
    """
    with _first_use_lock(tracking_uri):
        experiment = client.get_experiment_by_name(name)  # a new database is created here
        if experiment is not None:
            return str(experiment.experiment_id)
        try:
            if _is_remote(tracking_uri):
                return client.create_experiment(name)
            location = (artifact_root / name).resolve()
            location.mkdir(parents=True, exist_ok=True)
            return client.create_experiment(name, artifact_location=location.as_uri())
        except MlflowException as error:  # another campaign on the server made it just now
            created = client.get_experiment_by_name(name)
            if error.error_code != "RESOURCE_ALREADY_EXISTS" or created is None:
                raise
            return str(created.experiment_id)


def open_client(tracking_uri: str) -> MlflowClient:
    """An MLflow client whose database exists: a new local one is created and migrated here,
    under `_first_use_lock`, not by whichever of two processes uses it first."""
    with _first_use_lock(tracking_uri):
        if tracking_uri.startswith("sqlite:///"):
            private_file(Path(tracking_uri.removeprefix("sqlite:///")))
        client = MlflowClient(tracking_uri=tracking_uri)
        client.search_experiments(max_results=1)
    return client


@contextmanager
def _first_use_lock(tracking_uri: str) -> Iterator[None]:
    """Hold an exclusive lock beside a local SQLite tracking database while it may be created
    and migrated, and its experiment created: two campaigns started at once on a fresh home
    would otherwise both run MLflow's migrations (the second fails). A server needs none (two
    campaigns creating one experiment there at once: `experiment_id` takes the winner's)."""
    if not tracking_uri.startswith("sqlite:///"):
        yield
        return
    database = Path(tracking_uri.removeprefix("sqlite:///"))  # absolute with four slashes
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{database}.lock", "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class MlflowTracker:
    """Records a campaign and its trials into the MLflow experiment named after its study."""

    def __init__(
        self,
        tracking_uri: str,
        artifact_root: Path,
        spec: CampaignSpec,
        campaign_id: str,
        oracle_model: str | None = None,
        *,
        resume: bool = False,
    ) -> None:
        """Open the campaign's run: a new one, or (`resume`) the run it had before its
        process died, so a resumed campaign stays one run in MLflow."""
        self.client = open_client(tracking_uri)
        self.spec = spec
        self.campaign_id = campaign_id
        self.oracle_model = oracle_model
        self.started = time.time()
        self.failure: str | None = None
        self.experiment_id = experiment_id(self.client, spec.study, tracking_uri, artifact_root)
        primary = spec.goal.primary
        tags = {
            "electroloop.kind": "campaign",
            "electroloop.campaign_id": campaign_id,
            "electroloop.campaign_name": spec.name,
            "electroloop.study": spec.study,
            "electroloop.planner": spec.planner,
            "electroloop.lab": spec.lab,
            "electroloop.version": __version__,
            "electroloop.git_commit": _git_commit(),
            "electroloop.group": spec_group(spec),
            "electroloop.primary_metric": primary.name,
            "electroloop.primary_direction": primary.direction,
            "electroloop.primary_unit": self.spec.unit(primary.name),
        }
        if oracle_model:
            tags["electroloop.oracle"] = oracle_model
        if spec.description:
            tags["mlflow.note.content"] = spec.description
        earlier = self._campaign_run() if resume else None
        self.finished_before = False
        """The run had been closed as FINISHED before this (resumed) process opened it."""
        if earlier is not None:
            self.run_id = earlier
            self.finished_before = self.client.get_run(earlier).info.status == "FINISHED"
            self.client.update_run(self.run_id, status="RUNNING")
            return
        run = self.client.create_run(self.experiment_id, run_name=campaign_id, tags=tags)
        self.run_id = run.info.run_id
        self.client.log_batch(
            self.run_id, params=[Param(k, v) for k, v in _spec_params(spec).items()]
        )
        self.client.log_text(self.run_id, campaign_toml(spec), "campaign.toml")
        self.client.log_text(
            self.run_id, json.dumps(spec.model_dump(mode="json"), indent=2), "campaign.json"
        )

    def tag_versions(self, versions: Mapping[str, str]) -> None:
        """The campaign's provenance (`CampaignStarted.versions`) as tags of its run,
        ``electroloop.versions.<what>``, searchable beside its results."""
        tags = [RunTag(f"electroloop.versions.{mlflow_key(k)}", v) for k, v in versions.items()]
        self.client.log_batch(self.run_id, tags=tags)

    def tag_safety(self, hazards: Sequence[Hazard], overrides: Sequence[SafetyOverride]) -> None:
        """What the safety rules found (`SafetyChecked`) as tags of the campaign's run:
        ``electroloop.safety.override.<rule>`` (who, and why) and
        ``electroloop.safety.caution.<rule>`` (what to mind)."""
        tags: dict[str, str] = {}
        for override in overrides:
            tags[f"electroloop.safety.override.{override.rule}"] = (
                f"{override.by}: {override.reason}"[:5000]
            )
        for hazard in hazards:
            if not hazard.refuse:
                key = f"electroloop.safety.caution.{hazard.rule}"
                tags[key] = "; ".join(filter(None, (tags.get(key), hazard.message)))[:5000]
        if tags:
            self.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def _campaign_run(self) -> str | None:
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=(
                f"tags.`electroloop.campaign_id` = '{self.campaign_id}' "
                "and tags.`electroloop.kind` = 'campaign'"
            ),
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def recorded_candidates(self) -> set[str]:
        """Candidate ids whose trial run under this campaign's run was completed (a run still
        RUNNING was cut off while being written; see `discard_unfinished_trials`)."""
        runs = trial_runs(self.client, self.experiment_id, self.run_id)
        return {
            r.data.tags.get("electroloop.candidate_id", "")
            for r in runs
            if r.info.status != "RUNNING"
        }

    def discard_unfinished_trials(self) -> list[str]:
        """Delete the trial runs a dead process left RUNNING, half-written (created, killed
        before its metrics or its end): their trials are then recorded again in full. Only for
        a resumed campaign, whose lease keeps every other writer away. Their candidate ids."""
        discarded = []
        for run in trial_runs(self.client, self.experiment_id, self.run_id):
            if run.info.status == "RUNNING":
                self.client.delete_run(run.info.run_id)
                discarded.append(run.data.tags.get("electroloop.candidate_id", ""))
        return discarded

    def __call__(self, trial: TrialRecord) -> None:
        """Log one trial as a nested run, and the campaign's progress at its index.

        After the first failure (the server is down, say) the tracker stops trying, so each
        later trial does not wait out MLflow's HTTP retries; the event log keeps every trial.
        """
        if self.failure is not None:
            raise TrackingError(f"MLflow recording stopped after an earlier error: {self.failure}")
        try:
            self._log_trial(trial)
        except Exception as exc:
            self.failure = f"{type(exc).__name__}: {exc}"
            raise

    def _log_trial(self, trial: TrialRecord) -> None:
        now = int(time.time() * 1000)
        candidate = trial.candidate
        tags = {
            "mlflow.parentRunId": self.run_id,
            "electroloop.kind": "trial",
            "electroloop.campaign_id": self.campaign_id,
            "electroloop.candidate_id": candidate.id,
            "electroloop.trial_index": str(trial.index),
            "electroloop.planner": candidate.planner,
            "electroloop.status": "failed" if trial.failure else "observed",
        }
        if trial.failure:
            tags["electroloop.failure"] = trial.failure[:5000]
        if candidate.scored_by:
            tags["electroloop.scored_by"] = candidate.scored_by
        if self.oracle_model:
            tags["electroloop.oracle"] = self.oracle_model
        run_id = self.client.create_run(
            self.experiment_id, run_name=candidate.id, tags=tags
        ).info.run_id
        params = _design_params("requested", candidate.design)
        metrics: dict[str, float] = {}
        transcripts: list[Transcript] = []
        if candidate.predicted is not None:
            primary = self.spec.goal.primary.name
            metrics[f"predicted_{primary}"] = candidate.predicted.mean
            metrics[f"predicted_{primary}_std"] = candidate.predicted.std
        if trial.dosing is not None:
            params |= _formulation_params("as_dosed", trial.dosing.as_dosed)
            params |= {
                f"target_mass.{k}": f"{v:.6f}" for k, v in trial.dosing.target_masses.items()
            }
            metrics |= {f"dosed_mass.{k}": v for k, v in trial.dosing.dosed_masses.items()}
            metrics |= {f"bottle_left.{k}": v for k, v in trial.dosing.remaining.items()}
            params |= {f"lot.{k}": v for k, v in trial.dosing.lots.items()}
            transcripts += list(trial.dosing.transcripts)
        run_tags: dict[str, str] = {}
        if trial.dosing is not None and trial.dosing.vial is not None:
            run_tags["electroloop.vial"] = trial.dosing.vial
        if trial.measurement is not None:
            m = trial.measurement
            metrics[m.quantity] = m.value
            if m.temperature is not None:
                metrics["sample_temperature"] = m.temperature
            transcripts.append(m.transcript)
            run_tags |= {
                "measurement.parser": m.parser,
                "measurement.parser_version": m.parser_version,
            }
        if trial.observation is not None:
            metrics |= trial.observation.values  # measured and derived (e.g. cost)
            metrics |= {f"{k}_se": v for k, v in trial.observation.errors.items()}
        for t in transcripts:
            key = mlflow_key(t.instrument)
            run_tags[f"transcript.{key}.sha256"] = t.sha256
            run_tags[f"transcript.{key}.artifact"] = f"transcripts/{key}.txt"
            self.client.log_text(run_id, t.text, f"transcripts/{key}.txt")
        data = _trial_json(trial)
        run_tags["data.trial.sha256"] = sha256(data)
        self.client.log_text(run_id, data, "trial.json")
        self.client.log_batch(
            run_id,
            metrics=[Metric(mlflow_key(k), v, now, trial.index) for k, v in metrics.items()],
            params=[Param(mlflow_key(k), v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in run_tags.items()],
        )
        self._log_cell(run_id, trial, now)
        self.client.set_terminated(run_id, "FAILED" if trial.failure else "FINISHED")
        self.client.log_batch(
            self.run_id,
            metrics=[Metric(k, v, now, trial.index) for k, v in trial.progress.items()],
        )

    def _log_cell(self, run_id: str, trial: TrialRecord, now: int) -> None:
        """A cell's per-cycle metrics (step = its cycle number, so MLflow draws fade curves)
        and its files (V-Q and fade plots, cellpy-style exports) on the trial's run."""
        points = [
            Metric(mlflow_key(name), value, now, step)
            for name, values in trial.series.items()
            for step, value in values
        ]
        for start in range(0, len(points), 1000):  # MLflow's log_batch takes 1000 metrics
            self.client.log_batch(run_id, metrics=points[start : start + 1000])
        folder = "twin" if isinstance(self.spec, ElectrodeCampaign) else "cell"
        for path in trial.artifacts:
            self.client.log_artifact(run_id, str(path), folder)

    def log_cell_files(self, files: Mapping[str, Sequence[Path]]) -> None:
        """Attach files written after a trial was recorded (a cell's lineage document, made
        when the campaign ends) to the candidate's trial run, in its "cell" folder beside the
        cell's exports; candidates without a trial run are skipped."""
        runs = {
            run.data.tags.get("electroloop.candidate_id"): run.info.run_id
            for run in trial_runs(self.client, self.experiment_id, self.run_id)
        }
        for candidate_id, paths in files.items():
            run_id = runs.get(candidate_id)
            if run_id is None:
                continue
            for path in paths:
                self.client.log_artifact(run_id, str(path), "cell")

    def finish(
        self,
        *,
        status: str,
        trials: int,
        failures: int,
        true_optimum: float | None,
        planner_state: dict[str, Any] | None,
        events: Sequence[dict[str, Any]],
        plots: Sequence[Path],
        summary: dict[str, Any],
    ) -> None:
        """Attach the final metrics and artifacts and close the campaign run."""
        now = int(time.time() * 1000)
        final = {"trials": trials, "failures": failures, "wall_time_s": time.time() - self.started}
        if true_optimum is not None:
            final["true_optimum"] = true_optimum
        self.client.log_batch(
            self.run_id, metrics=[Metric(k, float(v), now, 0) for k, v in final.items()]
        )
        if planner_state is not None:
            self.client.log_text(self.run_id, json.dumps(planner_state), "planner_state.json")
        if events:
            lines = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events)
            self.client.log_text(self.run_id, lines, "events.jsonl")
        for plot in plots:
            self.client.log_artifact(self.run_id, str(plot), "plots")
        self.client.log_text(self.run_id, json.dumps(summary, indent=2), "summary.json")
        self.client.set_terminated(self.run_id, status)


def trial_runs(client: MlflowClient, experiment_id: str, campaign_run_id: str) -> list[Run]:
    """The trial runs nested under a campaign's run (one per candidate that reached an end)."""
    return list(
        client.search_runs(
            [experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{campaign_run_id}'",
            max_results=10_000,
        )
    )


def _trial_json(trial: TrialRecord) -> str:
    """The trial's records as JSON, each transcript replaced by its instrument and SHA-256."""

    def without_text(t: Transcript) -> dict[str, str]:
        return {"instrument": t.instrument, "sha256": t.sha256}

    record: dict[str, Any] = {
        "index": trial.index,
        "candidate": trial.candidate.model_dump(mode="json"),
        "failure": trial.failure,
        "dosing": None,
        "measurement": None,
        "observation": None,
    }
    if trial.dosing is not None:
        record["dosing"] = trial.dosing.model_dump(mode="json", exclude={"transcripts"}) | {
            "transcripts": [without_text(t) for t in trial.dosing.transcripts]
        }
    if trial.measurement is not None:
        record["measurement"] = trial.measurement.model_dump(
            mode="json", exclude={"transcript"}
        ) | {"transcript": without_text(trial.measurement.transcript)}
    if trial.observation is not None:
        record["observation"] = trial.observation.model_dump(mode="json")
    return json.dumps(record, indent=2)
