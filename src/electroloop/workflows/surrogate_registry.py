"""Surrogates in MLflow: each training is a run (parameters, metrics, the saved folder), each
registered under a name with increasing versions, and loadable back by name and version.

Registered versions point at the run's `surrogate/` artifact folder (MLflow's model registry
accepts any artifact source), so no MLflow model flavour or environment capture is involved:
a version is exactly the folder `Surrogate.save` wrote.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException

from electroloop.errors import ConfigError
from electroloop.surrogates.surrogate import Surrogate
from electroloop.workflows.tracking import experiment_id, open_client

EXPERIMENT = "surrogates"


def register(
    surrogate: Surrogate,
    name: str,
    tracking_uri: str,
    artifact_root: Path,
    params: dict[str, str] | None = None,
) -> Surrogate:
    """Log the surrogate as a run and register it as the next version of `name`."""
    client = open_client(tracking_uri)
    run = client.create_run(
        experiment_id(client, EXPERIMENT, tracking_uri, artifact_root),
        run_name=name,
        tags={"electroloop.kind": "surrogate", "electroloop.surrogate": name},
    )
    run_id = run.info.run_id
    values = {"kind": surrogate.kind, "target": surrogate.target, "unit": surrogate.unit}
    values |= {"trained_on": surrogate.trained_on[:500], **(params or {})}
    values |= {f"network.{k}": str(v) for k, v in surrogate.arguments.items()}
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), 0, 0) for k, v in surrogate.metrics.items()],
        params=[Param(k, str(v)) for k, v in values.items()],
    )
    with tempfile.TemporaryDirectory() as folder:
        client.log_artifacts(run_id, str(surrogate.save(Path(folder))), "surrogate")
    client.set_terminated(run_id, "FINISHED")
    try:
        client.create_registered_model(name)
    except MlflowException:
        pass  # already registered: this becomes its next version
    source = f"{client.get_run(run_id).info.artifact_uri}/surrogate"
    version = client.create_model_version(name, source, run_id=run_id)
    surrogate.name, surrogate.version = name, str(version.version)
    return surrogate


def load(name: str, version: str, tracking_uri: str) -> Surrogate:
    """The registered surrogate `name` at `version` ("latest": the newest)."""
    client = open_client(tracking_uri)
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException as exc:
        raise ConfigError(f"surrogate {name!r}: {exc}") from None
    if not versions:
        known = sorted(m.name for m in client.search_registered_models())
        raise ConfigError(f"surrogate {name!r} is not registered; known: {known or 'none'}")
    numbers = sorted(int(v.version) for v in versions)
    chosen = str(numbers[-1]) if version == "latest" else version
    if not chosen.isdigit() or int(chosen) not in numbers:
        raise ConfigError(f"surrogate {name!r} version {version!r}; allowed: latest or {numbers}")
    source = client.get_model_version(name, chosen).source
    folder = mlflow.artifacts.download_artifacts(artifact_uri=source, tracking_uri=tracking_uri)
    return Surrogate.load(Path(folder), name=name, version=chosen)
