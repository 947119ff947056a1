"""Training the three surrogates on their data, each measured on data it never saw.

- **mixture**: conductivity on CALiSol-23 (`simulations.calisol`), scored on held-out *sources*
  (papers), since a new lab's data is what the model will meet next;
- **molecule**: xTB ionisation potential or electron affinity (`simulations.oracle`), learned
  by active learning (`surrogates.active_learning`), scored on a fixed test set;
- **crystal**: oracle energy per atom of generated substitution structures
  (`workflows.crystal_dataset`), scored on held-out compositions.

This module composes data (simulations) with models (surrogates); the models know nothing of
where their data came from beyond the `trained_on` sentence and metrics on their card.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from electroloop.errors import ConfigError
from electroloop.models import Formulation, SearchSpace
from electroloop.settings import CalculatorConfig
from electroloop.simulations.calisol import load_calisol
from electroloop.simulations.oracle.cache import ResultCache, molecule
from electroloop.simulations.oracle.molecules import XtbParameters
from electroloop.surrogates.active_learning import ActiveLearningResult, active_learning
from electroloop.surrogates.calibration import Report, regression_report
from electroloop.surrogates.cgcnn import CrystalGNN
from electroloop.surrogates.ensemble import DeepEnsemble, Prediction, TrainConfig
from electroloop.surrogates.mixture import (
    DEFAULT_TRAINING,
    MixtureEnsemble,
    MixtureFeaturizer,
    MixtureRecord,
)
from electroloop.surrogates.surrogate import Surrogate
from electroloop.workflows import crystal_dataset
from electroloop.workflows.calisol_records import to_records

Property = Literal["ip", "ea"]


@dataclass(frozen=True)
class Trained:
    """A surrogate and how it did on data it never saw."""

    surrogate: Surrogate
    held_out: Report


def _metrics(report: Report) -> dict[str, float]:
    return {f"held_out_{k}": float(v) for k, v in asdict(report).items()}


# -- mixture ----------------------------------------------------------------------------------


def calisol_records(path: Path, salts: Sequence[str] | None) -> list[MixtureRecord]:
    """CALiSol-23 points as mixture records, for the given salts (None: all)."""
    if not path.is_file():
        raise ConfigError(f"data {path}: no such file; allowed: the CALiSol-23 calisol23.csv")
    points = load_calisol(path).points
    records = to_records(p for p in points if not salts or p.salt in salts).records
    if not records:
        known = sorted({p.salt for p in points})
        raise ConfigError(f"no CALiSol records for salts {list(salts or [])}; allowed: {known}")
    return list(records)


def split_sources(
    records: Sequence[MixtureRecord], fraction: float, seed: int
) -> tuple[list[MixtureRecord], list[MixtureRecord]]:
    """Hold out whole sources (papers): `fraction` of them, chosen by `seed`."""
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"holdout is {fraction}; allowed: 0 < holdout < 1")
    sources = sorted({r.group for r in records})
    random.Random(seed).shuffle(sources)
    held = set(sources[: max(1, round(fraction * len(sources)))])
    return [r for r in records if r.group not in held], [r for r in records if r.group in held]


def mixture_surrogate(fitted: MixtureEnsemble, trained_on: str, report: Report) -> Surrogate:
    """The fitted ensemble with its featurizer's scaling, as a saveable `Surrogate`."""
    featurizer = fitted.featurizer
    model = fitted.ensemble.members[0]
    return Surrogate(
        kind="mixture",
        target="conductivity",
        unit="mS/cm",
        arguments={
            "component_dim": featurizer.component_dim,
            "salt_dim": featurizer.salt_dim,
            "hidden": int(model.component[0].out_features),
            "head": model.head_kind,
        },
        ensemble=fitted.ensemble,
        metrics=_metrics(report),
        trained_on=trained_on,
        extra={
            "component": [a.tolist() for a in featurizer.component],
            "salt": [a.tolist() for a in featurizer.salt],
        },
        log_target=True,
    )


def mixture_predictor(surrogate: Surrogate) -> MixtureEnsemble:
    """A loaded mixture surrogate as the predictor of records (conductivity in mS/cm)."""
    if surrogate.kind != "mixture":
        raise ConfigError(f"surrogate {surrogate.label} is a {surrogate.kind} model; need mixture")
    component, salt = (
        (np.array(surrogate.extra[k][0]), np.array(surrogate.extra[k][1]))
        for k in ("component", "salt")
    )
    return MixtureEnsemble(MixtureFeaturizer(component, salt), surrogate.ensemble)


def train_mixture(
    path: Path,
    salts: Sequence[str] | None = ("LiPF6",),
    *,
    members: int = 5,
    config: TrainConfig = DEFAULT_TRAINING,
    holdout: float = 0.2,
    seed: int = 0,
    executor: Executor | None = None,
) -> Trained:
    """Score a model trained without `holdout` of the sources, then train on all of them
    (members on `executor`, the lab's Dask cluster, if given)."""
    records = calisol_records(path, salts)
    train, test = split_sources(records, holdout, seed)
    scored = MixtureEnsemble.fit(train, config, members, executor=executor)
    prediction = scored.predict(test)
    report = regression_report([r.target for r in test], prediction.mean, prediction.std)
    final = MixtureEnsemble.fit(records, config, members, executor=executor)
    sources = len({r.group for r in records})
    trained_on = (
        f"CALiSol-23 ({', '.join(salts) if salts else 'all salts'}): {len(records)} points from "
        f"{sources} sources; held-out metrics from a model trained without "
        f"{len({r.group for r in test})} sources ({len(test)} points)"
    )
    return Trained(mixture_surrogate(final, trained_on, report), report)


def formulation_record(space: SearchSpace, formulation: Formulation) -> MixtureRecord:
    """A campaign formulation as the mixture model's input (components with a fraction > 0)."""
    smiles = {s.name: s.smiles for s in space.solvents}
    components = tuple((smiles[name], w) for name, w in formulation.fractions.items() if w > 1e-9)
    total = sum(w for _, w in components)
    return MixtureRecord(
        components=tuple((s, w / total) for s, w in components),
        salt_smiles=space.salt.smiles,
        molality=formulation.molality,
        temperature=formulation.temperature,
    )


def mixture_scorer(surrogate: Surrogate, space: SearchSpace):  # noqa: ANN201  a Score
    """Formulations of `space` -> predicted conductivity (mean, std), for planners."""
    predictor = mixture_predictor(surrogate)

    def score(formulations: list[Formulation]) -> tuple[np.ndarray, np.ndarray]:
        prediction: Prediction = predictor.predict(
            [formulation_record(space, f) for f in formulations]
        )
        return prediction.mean, prediction.std

    return score


# -- crystal ----------------------------------------------------------------------------------


def train_crystal(
    *,
    per_prototype: int | None = 8,
    members: int = 5,
    config: TrainConfig = TrainConfig(epochs=150, lr=3e-3, batch_size=32, patience=30),  # noqa: B008
    calculator: CalculatorConfig | None = None,
    cache: Path | None = None,
    seed: int = 0,
    executor: Executor | None = None,
) -> Trained:
    """Label generated substitution structures with the crystal oracle, score on held-out
    compositions, then train on all of them (members on `executor` if given)."""
    records = crystal_dataset.label(
        crystal_dataset.generate(max_per_prototype=per_prototype), calculator, cache
    )
    train, test = crystal_dataset.split_by_group(records, 0.2, seed)
    scored = DeepEnsemble.fit(
        CrystalGNN, crystal_dataset.to_graphs(train), config, members, executor=executor
    )
    prediction = scored.predict(crystal_dataset.to_graphs(test))
    report = regression_report([r.energy_per_atom for r in test], prediction.mean, prediction.std)
    final = DeepEnsemble.fit(
        CrystalGNN, crystal_dataset.to_graphs(records), config, members, executor=executor
    )
    provenance = records[0].provenance
    trained_on = (
        f"{len(records)} generated substitution structures labelled by {provenance.calculator} "
        f"(energy per atom); held-out metrics on {len(test)} structures of unseen compositions"
    )
    surrogate = Surrogate(
        kind="crystal",
        target="energy_per_atom",
        unit="eV/atom",
        arguments={},
        ensemble=final,
        metrics=_metrics(report),
        trained_on=trained_on,
    )
    return Trained(surrogate, report)


# -- molecule ---------------------------------------------------------------------------------


def xtb_labeller(prop: Property, cache: Path, params: XtbParameters | None = None):  # noqa: ANN201
    """SMILES -> GFN2-xTB IP or EA (eV) through the oracle's cache."""
    store = ResultCache(cache)

    def label(smiles: list[str]) -> list[float]:
        return [float(getattr(molecule(store, s, params), prop)) for s in smiles]

    return label


def train_molecule(
    pool: Sequence[str],
    test: Sequence[str],
    prop: Property,
    cache: Path,
    *,
    initial: int = 24,
    batch: int = 24,
    rounds: int = 4,
    members: int = 5,
    config: TrainConfig = TrainConfig(epochs=80, lr=3e-3, batch_size=32),  # noqa: B008
    seed: int = 0,
    strategy: Literal["uncertainty", "random"] = "uncertainty",
    executor: Executor | None = None,
) -> tuple[Trained, ActiveLearningResult]:
    """Active learning on xTB labels: the molecules the ensemble is least sure of are labelled
    first; scored after every round on the `test` molecules (labelled by the same oracle)."""
    label = xtb_labeller(prop, cache)
    truth = list(zip(test, label(list(test)), strict=True))
    result = active_learning(
        pool,
        label,
        truth,
        initial=initial,
        batch=batch,
        rounds=rounds,
        strategy=strategy,
        config=config,
        members=members,
        seed=seed,
        executor=executor,
    )
    assert result.ensemble is not None
    report = result.rounds[-1].report
    surrogate = Surrogate(
        kind="molecule",
        target=f"xtb_{prop}",
        unit="eV",
        arguments={},
        ensemble=result.ensemble,
        metrics=_metrics(report),
        trained_on=(
            f"GFN2-xTB {prop.upper()} of {len(result.labelled)} molecules chosen by "
            f"{strategy} from a pool of {len(pool)}; held-out metrics on {len(test)} others"
        ),
    )
    return Trained(surrogate, report), result
