"""Active learning: label the molecules the ensemble is least sure about first.

Each round trains a deep ensemble on what is labelled, predicts the unlabelled pool and sends
the `batch` molecules with the largest predicted std to the oracle (maximum-variance
acquisition; Settles, "Active learning literature survey", 2009, §3.1). The same loop with
`strategy="random"` is the control: an acquisition that does not beat it is not worth running.
The oracle is a callback, so this module stays free of any chemistry code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch_geometric.data import Data

from electroloop.ask_tell import AskTell, run_ask_tell
from electroloop.errors import ConfigError
from electroloop.surrogates.calibration import Report, regression_report
from electroloop.surrogates.ensemble import DeepEnsemble, TrainConfig
from electroloop.surrogates.molecular_gnn import MolecularGNN
from electroloop.surrogates.molecule_graph import featurize

Label = Callable[[list[str]], list[float]]
"""SMILES -> property values (e.g. xTB ionisation potentials, eV), one per molecule."""


@dataclass
class Round:
    """One round: how many were labelled, and how the ensemble then did on the test set."""

    labelled: int
    report: Report


@dataclass
class ActiveLearningResult:
    strategy: str
    rounds: list[Round] = field(default_factory=list)
    labelled: list[str] = field(default_factory=list)
    ensemble: DeepEnsemble | None = None


def _graphs(smiles: Sequence[str], values: Sequence[float]) -> list[Data]:
    graphs = []
    for s, v in zip(smiles, values, strict=True):
        graph = featurize(s)
        graph.y = torch.tensor([float(v)], dtype=torch.float32)
        graphs.append(graph)
    return graphs


def active_learning(
    pool: Sequence[str],
    label: Label,
    test: Sequence[tuple[str, float]],
    *,
    initial: int = 20,
    batch: int = 20,
    rounds: int = 4,
    strategy: Literal["uncertainty", "random"] = "uncertainty",
    config: TrainConfig = TrainConfig(epochs=60, batch_size=32),  # noqa: B008  frozen
    members: int = 5,
    seed: int = 0,
    executor: Executor | None = None,
) -> ActiveLearningResult:
    """Label `initial` random molecules, then `rounds` batches chosen by `strategy`; after
    each training (its members on `executor` if given), score the ensemble on `test` (SMILES,
    true value) pairs."""
    if strategy not in ("uncertainty", "random"):
        raise ConfigError(f"strategy is {strategy!r}; allowed: 'uncertainty', 'random'")
    for name, value in (("initial", initial), ("batch", batch), ("rounds", rounds)):
        if value < 1:
            raise ConfigError(f"{name} is {value}; allowed: >= 1")
    if initial + batch * rounds > len(pool):
        raise ConfigError(
            f"initial + batch × rounds = {initial + batch * rounds}; allowed: up to the pool "
            f"size {len(pool)}"
        )
    rng = np.random.default_rng(seed)
    unlabelled = list(dict.fromkeys(pool))
    rng.shuffle(unlabelled)
    first, unlabelled = unlabelled[:initial], unlabelled[initial:]
    test_graphs = _graphs([s for s, _ in test], [v for _, v in test])
    truth = np.array([v for _, v in test])
    result = ActiveLearningResult(strategy=strategy)
    chosen: list[str] = []
    values: list[float] = []

    def ask() -> list[str]:
        """Retrain on everything labelled, score it on the test set, then pick the next batch
        (none once `rounds` batches were picked)."""
        nonlocal unlabelled
        ensemble = DeepEnsemble.fit(
            MolecularGNN, _graphs(chosen, values), config, members, executor=executor
        )
        on_test = ensemble.predict(test_graphs)
        result.rounds.append(
            Round(len(chosen), regression_report(truth, on_test.mean, on_test.std))
        )
        result.ensemble = ensemble
        if len(result.rounds) > rounds:
            return []
        if strategy == "uncertainty":
            spread = ensemble.predict([featurize(s) for s in unlabelled]).std
            picks = [int(i) for i in np.argsort(-spread)[:batch]]
        else:
            picks = list(range(batch))
        new = [unlabelled[i] for i in picks]  # most uncertain first
        taken = set(picks)
        unlabelled = [s for i, s in enumerate(unlabelled) if i not in taken]
        return new

    def tell(batch: list[str], labels: list[float]) -> None:
        chosen.extend(batch)
        values.extend(labels)

    run_ask_tell(AskTell(ask=ask, evaluate=label, tell=tell), [first])
    result.labelled = chosen
    return result
