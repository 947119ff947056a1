"""What `electroloop surrogate train|evaluate|predict` and `electroloop screen` do.

Training registers the surrogate in MLflow under a name (a new version each time) with its
held-out metrics; everything else loads it back by name and version.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path

from electroloop.errors import ConfigError
from electroloop.settings import Settings
from electroloop.surrogates.calibration import Report, regression_report
from electroloop.surrogates.ensemble import TrainConfig
from electroloop.surrogates.mixture import MixtureRecord
from electroloop.surrogates.molecule_graph import featurize
from electroloop.surrogates.screening import screen, write_csv
from electroloop.surrogates.surrogate import Surrogate
from electroloop.workflows.compute import cluster
from electroloop.workflows.surrogate_registry import load, register
from electroloop.workflows.surrogate_training import (
    Trained,
    calisol_records,
    mixture_predictor,
    train_crystal,
    train_mixture,
    train_molecule,
)


def describe(report: Report) -> str:
    return (
        f"MAE {report.mae:.3f}, RMSE {report.rmse:.3f}, R² {report.r2:.3f}, "
        f"{100 * report.coverage90:.0f} % inside the 90 % interval, NLL {report.nll:.2f} "
        f"(n = {report.n})"
    )


def train(
    kind: str,
    name: str,
    settings: Settings,
    *,
    data: Path | None = None,
    salts: Sequence[str] | None = ("LiPF6",),
    members: int = 5,
    epochs: int | None = None,
    molecules: Path | None = None,
    prop: str = "ip",
) -> Surrogate:
    """Train a surrogate of `kind`, register it as the next version of `name`."""
    if members < 1:
        raise ConfigError(f"--members {members}; allowed: >= 1 (5 or more for uncertainty)")
    if kind not in ("mixture", "molecule", "crystal"):
        raise ConfigError(f"kind {kind!r}; allowed: mixture, molecule, crystal")
    started = time.perf_counter()
    with cluster(settings) as executor:  # ensemble members fan out to the lab's Dask cluster
        trained = _train(kind, settings, data, salts, members, epochs, molecules, prop, executor)
    return _register(trained, name, settings, started)


def _train(
    kind: str,
    settings: Settings,
    data: Path | None,
    salts: Sequence[str] | None,
    members: int,
    epochs: int | None,
    molecules: Path | None,
    prop: str,
    executor: Executor | None,
) -> Trained:
    if kind == "mixture":
        if data is None:
            raise ConfigError("--data: the CALiSol-23 calisol23.csv is needed for a mixture model")
        config = TrainConfig(epochs=epochs or 60, lr=3e-3, batch_size=128)
        trained = train_mixture(data, salts, members=members, config=config, executor=executor)
    elif kind == "crystal":
        config = TrainConfig(epochs=epochs or 150, lr=3e-3, batch_size=32)
        cache = settings.resolved_home / "oracle-cache.sqlite"
        trained = train_crystal(members=members, config=config, cache=cache, executor=executor)
    elif kind == "molecule":
        if prop not in ("ip", "ea"):
            raise ConfigError(f"--property {prop!r}; allowed: 'ip', 'ea'")
        pool, test = _molecule_sets(molecules)
        config = TrainConfig(epochs=epochs or 80, lr=3e-3, batch_size=32)
        cache = settings.resolved_home / "oracle-cache.sqlite"
        trained, result = train_molecule(
            pool,
            test,
            prop,
            cache,
            members=members,
            config=config,  # type: ignore[arg-type]
            executor=executor,
        )
        for step in result.rounds:
            print(f"  {step.labelled:>4} labelled: {describe(step.report)}")
    else:
        raise ConfigError(f"kind {kind!r}; allowed: mixture, molecule, crystal")
    return trained


def _register(trained: Trained, name: str, settings: Settings, started: float) -> Surrogate:
    surrogate = register(
        trained.surrogate, name, settings.resolved_tracking_uri, settings.artifact_root
    )
    print(f"{surrogate.label}: {surrogate.trained_on}")
    print(f"held out: {describe(trained.held_out)}")
    print(f"registered in {settings.resolved_tracking_uri} ({time.perf_counter() - started:.0f} s)")
    return surrogate


def _molecule_sets(path: Path | None) -> tuple[list[str], list[str]]:
    """Pool and test SMILES: from a .smi file (last fifth = test), or the built-in library."""
    if path is None:
        from electroloop.workflows.molecule_library import solvent_like_library

        smiles = solvent_like_library(300)
    else:
        if not path.is_file():
            raise ConfigError(f"--molecules {path}: no such file")
        lines = path.read_text(encoding="utf-8").splitlines()
        smiles = [ln.split()[0] for ln in lines if ln.strip() and not ln.startswith("#")]
    if len(smiles) < 150:
        raise ConfigError(f"--molecules has {len(smiles)} SMILES; allowed: at least 150")
    cut = len(smiles) * 4 // 5
    return smiles[:cut], smiles[cut:]


def evaluate(
    name: str, version: str, settings: Settings, data: Path | None, salts: Sequence[str] | None
) -> Report | None:
    """Print the card; for a mixture model with `data`, score it on those CALiSol records."""
    surrogate = load(name, version, settings.resolved_tracking_uri)
    print(f"{surrogate.label}: {surrogate.target} ({surrogate.unit})")
    print(f"trained on: {surrogate.trained_on}")
    for key, value in sorted(surrogate.metrics.items()):
        print(f"  {key}: {value:.4g}")
    if data is None:
        return None
    if surrogate.kind != "mixture":
        raise ConfigError(f"--data scores mixture models; {name} is a {surrogate.kind} model")
    records = calisol_records(data, salts)
    prediction = mixture_predictor(surrogate).predict(records)
    report = regression_report([r.target for r in records], prediction.mean, prediction.std)
    print(f"on {data.name} ({', '.join(salts or ['all salts'])}): {describe(report)}")
    return report


def parse_mixture(
    text: str, salt_smiles: str, molality: float, temperature: float
) -> MixtureRecord:
    """'C1COC(=O)O1=0.3,COC(=O)OC=0.7' (SMILES=mass fraction, any order) as a record."""
    parts = []
    for item in text.split(","):
        smiles, _, fraction = item.rpartition("=")
        try:
            parts.append((smiles.strip(), float(fraction)))
        except ValueError:
            raise ConfigError(
                f"mixture {text!r}; allowed: SMILES=fraction,SMILES=fraction"
            ) from None
    return MixtureRecord(tuple(parts), salt_smiles, molality, temperature)


def predict(
    name: str,
    version: str,
    inputs: Sequence[str],
    settings: Settings,
    *,
    salt: str = "[Li+].F[P-](F)(F)(F)(F)F",
    molality: float = 1.0,
    temperature: float = 25.0,
) -> list[tuple[str, float, float]]:
    """Predict each input: SMILES (molecule), SMILES=w,... (mixture) or a CIF file (crystal)."""
    surrogate = load(name, version, settings.resolved_tracking_uri)
    if surrogate.kind == "molecule":
        prediction = surrogate.predict([featurize(s) for s in inputs])
    elif surrogate.kind == "mixture":
        records = [parse_mixture(i, salt, molality, temperature) for i in inputs]
        prediction = mixture_predictor(surrogate).predict(records)
    else:
        from pymatgen.core import Structure

        from electroloop.surrogates.crystal_graph import crystal_graph

        prediction = surrogate.predict([crystal_graph(Structure.from_file(i)) for i in inputs])
    rows = list(zip(inputs, prediction.mean.tolist(), prediction.std.tolist(), strict=True))
    for text, mean, std in rows:
        print(f"{text}\t{mean:.4g} ± {std:.2g} {surrogate.unit}")
    print(f"scored by {surrogate.label}")
    return rows


def screen_library(
    library: Path,
    name: str,
    version: str,
    settings: Settings,
    *,
    out: Path | None,
    top: int,
    minimize: bool,
    kappa: float,
    workers: int,
) -> Path:
    """Rank a .smi library with a molecule surrogate; progress on stderr, top rows printed,
    every row written to a CSV."""
    surrogate = load(name, version, settings.resolved_tracking_uri)
    if surrogate.kind != "molecule":
        raise ConfigError(f"screen needs a molecule surrogate; {name} is a {surrogate.kind} model")

    def progress(done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        sys.stderr.flush()

    result = screen(
        library,
        surrogate.ensemble,
        objective="minimize" if minimize else "maximize",
        kappa=kappa,
        workers=workers,
        progress=progress,
    )
    sys.stderr.write("\n")
    print(
        f"{result.n_valid} molecules scored, {result.n_invalid} invalid, {result.seconds:.1f} s "
        f"({result.n_read / max(result.seconds, 1e-9):.0f} molecules/s), by {surrogate.label}"
    )
    for row in result.top(top):
        print(f"  {row.score:8.3f}  {row.mean:8.3f} ± {row.std:.3f}  {row.smiles}  {row.name}")
    default = f"{library.stem}-{name}-v{surrogate.version}.csv"
    target = out or settings.resolved_home / "screens" / default
    target.parent.mkdir(parents=True, exist_ok=True)
    write_csv(result, target, surrogate.label)
    print(f"all rows: {target}")
    return target
