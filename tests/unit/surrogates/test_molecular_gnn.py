"""The molecular GNN learns a real property (Crippen MolLogP) and respects graph symmetry."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import Crippen
from torch_geometric.data import Batch, Data

from electroloop.errors import ConfigError
from electroloop.surrogates.calibration import regression_report
from electroloop.surrogates.ensemble import DeepEnsemble, TrainConfig
from electroloop.surrogates.molecular_gnn import MolecularGNN
from electroloop.surrogates.molecule_graph import featurize, featurize_many

GROUPS = ("C", "CC", "CCC", "C(C)C", "CF", "CC(F)(F)F", "CC#N", "CCOC", "C=C", "C1CC1", "Cl")
TEMPLATES = ("O=C(O{})O{}", "O=C({})O{}", "O({}){}", "O=S(=O)({}){}", "N#CC({}){}")


def molecules() -> list[str]:
    """230 small electrolyte-like molecules, in a fixed shuffled order."""
    pairs = itertools.combinations_with_replacement(GROUPS, 2)
    smiles = sorted({t.format(a, b) for a, b in pairs for t in TEMPLATES})
    random.Random(0).shuffle(smiles)
    return smiles[:230]


def labelled(smiles: list[str]) -> list[Data]:
    graphs, invalid = featurize_many(smiles)
    assert not invalid
    for graph, text in zip(graphs, smiles, strict=True):
        graph.y = torch.tensor([Crippen.MolLogP(Chem.MolFromSmiles(text))])
    return graphs


@pytest.fixture(scope="module")
def trained() -> tuple[DeepEnsemble, list[Data], list[Data]]:
    torch.set_num_threads(1)
    data = labelled(molecules())
    train, held_out = data[:150], data[150:]
    config = TrainConfig(epochs=40, lr=5e-3, batch_size=32)
    ensemble = DeepEnsemble.fit(lambda: MolecularGNN(hidden=32), train, config, members=3)
    return ensemble, train, held_out


def test_training_loss_falls(trained: tuple[DeepEnsemble, list[Data], list[Data]]) -> None:
    ensemble, _, _ = trained
    for history in ensemble.history:
        assert history[-1] < history[0] - 0.5  # Gaussian NLL per molecule, standardised units


def test_held_out_error_beats_the_mean_predictor(
    trained: tuple[DeepEnsemble, list[Data], list[Data]],
) -> None:
    ensemble, train, held_out = trained
    y = np.array([float(d.y) for d in held_out])
    prediction = ensemble.predict(held_out)
    report = regression_report(y, prediction.mean, prediction.std)
    constant = np.mean(np.abs(y - np.mean([float(d.y) for d in train])))
    assert report.mae < 0.5 * constant, (report, constant)
    assert report.r2 > 0.6
    assert np.all(prediction.std > 0)


def test_renumbering_the_atoms_does_not_change_the_prediction(
    trained: tuple[DeepEnsemble, list[Data], list[Data]],
) -> None:
    ensemble, _, _ = trained
    smiles = ["O=C1OC(F)CO1", "CCOC(=O)OCC(F)(F)F", "N#CCCC(C)OC"]
    shuffled = []
    for i, text in enumerate(smiles):
        mol = Chem.MolFromSmiles(text)
        order = list(range(mol.GetNumAtoms()))
        random.Random(i).shuffle(order)
        renumbered = Chem.RenumberAtoms(mol, order)
        shuffled.append(Chem.MolToSmiles(renumbered, canonical=False))
    assert shuffled != smiles
    original = ensemble.predict([featurize(s) for s in smiles])
    permuted = ensemble.predict([featurize(s) for s in shuffled])
    np.testing.assert_allclose(permuted.mean, original.mean, atol=1e-4)
    np.testing.assert_allclose(permuted.std, original.std, atol=1e-4)


def test_shapes_of_outputs_and_embedding() -> None:
    torch.manual_seed(0)
    model = MolecularGNN(hidden=16, layers=2).eval()
    batch = Batch.from_data_list([featurize(s) for s in ("CCO", "[Li+]", "O=C1OCCO1")])
    mean, var = model(batch)
    assert mean.shape == var.shape == (3,) and torch.all(var > 0)
    assert model.embed(batch).shape == (3, 16)
    lone_mean, _ = model(featurize("O=C1OCCO1"))  # a single Data without `batch`
    torch.testing.assert_close(lone_mean, mean[2:])


@pytest.mark.parametrize("kwargs", [{"hidden": 0}, {"layers": 0}, {"hidden": 2.5}])
def test_sizes_are_checked(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="allowed: an integer >= 1"):
        MolecularGNN(**kwargs)  # type: ignore[arg-type]
