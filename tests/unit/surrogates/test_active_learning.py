"""Active learning through the shared ask/tell loop, on a property RDKit computes exactly
(heavy-atom count), with a tiny ensemble so it runs in seconds."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from electroloop.errors import ConfigError
from electroloop.surrogates.active_learning import active_learning
from electroloop.surrogates.ensemble import TrainConfig

POOL = [
    "C", "CC", "CCC", "CCCC", "CCO", "CCCO", "COC", "CCOC", "C1CCCCC1", "c1ccccc1",
    "CC(=O)O", "COC(=O)OC", "C1COC(=O)O1", "CC#N", "CCN", "OCCO",
]  # fmt: skip
TINY = TrainConfig(epochs=3, batch_size=8, patience=3)


def heavy_atoms(smiles: list[str]) -> list[float]:
    calls.append(list(smiles))
    return [float(Chem.MolFromSmiles(s).GetNumHeavyAtoms()) for s in smiles]


calls: list[list[str]] = []


def test_random_acquisition_labels_the_shuffled_pool_in_batches_and_scores_each_round() -> None:
    calls.clear()
    test = [(s, heavy_atoms([s])[0]) for s in ("CCCCC", "CCOCC")]
    calls.clear()
    result = active_learning(
        POOL, heavy_atoms, test, initial=4, batch=3, rounds=2, strategy="random",
        config=TINY, members=2, seed=5,
    )  # fmt: skip
    shuffled = list(POOL)
    np.random.default_rng(5).shuffle(shuffled)
    assert result.labelled == shuffled[:10]
    assert [len(batch) for batch in calls] == [4, 3, 3]  # the oracle saw each batch once
    assert [r.labelled for r in result.rounds] == [4, 7, 10]  # retrained after every batch
    assert result.ensemble is not None


def test_uncertainty_acquisition_never_labels_a_molecule_twice() -> None:
    calls.clear()
    result = active_learning(
        POOL, heavy_atoms, [("CCCCC", 5.0)], initial=4, batch=4, rounds=3,
        config=TINY, members=2,
    )  # fmt: skip
    assert len(result.labelled) == len(set(result.labelled)) == 16
    assert sorted(result.labelled) == sorted(POOL)


def test_more_labels_than_the_pool_holds_is_refused_before_any_label() -> None:
    calls.clear()
    with pytest.raises(ConfigError, match="allowed: up to the pool size 16"):
        active_learning(POOL, heavy_atoms, [("C", 1.0)], initial=10, batch=4, rounds=2)
    assert calls == []
