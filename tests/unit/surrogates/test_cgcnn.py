"""CrystalGNN in a real deep ensemble, trained on CHGNet energies of rock-salt substitutions:
the loss falls, held-out compositions beat the constant predictor, and a prediction does not
depend on site order or on the choice of supercell."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from electroloop.errors import ConfigError
from electroloop.surrogates.calibration import regression_report
from electroloop.surrogates.cgcnn import CrystalGNN
from electroloop.surrogates.crystal_graph import crystal_graph
from electroloop.surrogates.ensemble import DeepEnsemble, TrainConfig
from electroloop.workflows.crystal_dataset import (
    CrystalRecord,
    generate,
    label,
    split_by_group,
    to_graphs,
)


def small_model() -> CrystalGNN:
    return CrystalGNN(hidden=32, layers=2)


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list[CrystalRecord]:
    """45 rock-salt structures (15 compositions x 3 strains, 8 sites each), CHGNet-labelled."""
    candidates = generate(["rocksalt"], strains=("none", "compress2", "expand2"))
    assert len(candidates) == 45
    return label(candidates, cache_path=tmp_path_factory.mktemp("oracle") / "cache.sqlite")


@pytest.fixture(scope="module")
def trained(records: list[CrystalRecord]) -> tuple[DeepEnsemble, list[CrystalRecord]]:
    train, test = split_by_group(records, 0.2, seed=0)
    config = TrainConfig(epochs=40, lr=3e-3, batch_size=8, seed=0)
    return DeepEnsemble.fit(small_model, to_graphs(train), config, members=5), test


def test_loss_falls_for_every_member(trained: tuple[DeepEnsemble, list[CrystalRecord]]) -> None:
    ensemble, _ = trained
    assert len(ensemble.history) == 5
    for history in ensemble.history:
        assert np.mean(history[-5:]) < np.mean(history[:5]) - 1.0


def test_held_out_compositions_beat_the_constant_predictor(
    records: list[CrystalRecord], trained: tuple[DeepEnsemble, list[CrystalRecord]]
) -> None:
    ensemble, test = trained
    train_groups = {r.candidate.group for r in records} - {r.candidate.group for r in test}
    assert not train_groups & {r.candidate.group for r in test}
    y = np.array([r.energy_per_atom for r in test])
    constant = np.mean([r.energy_per_atom for r in records if r.candidate.group in train_groups])
    prediction = ensemble.predict(to_graphs(test))
    report = regression_report(y, prediction.mean, prediction.std)
    assert report.mae < 0.5 * np.mean(np.abs(y - constant))
    assert np.all(prediction.std > 0)


def test_prediction_ignores_site_order_and_supercell(
    records: list[CrystalRecord], trained: tuple[DeepEnsemble, list[CrystalRecord]]
) -> None:
    ensemble, _ = trained
    structure = records[7].structure  # a mixed Li/Na fluoride-chloride
    permuted = structure.copy()
    permuted.sort(key=lambda site: -site.specie.Z)
    variants = [structure, permuted, structure * (2, 1, 1), permuted * (1, 1, 2)]
    prediction = ensemble.predict([crystal_graph(s) for s in variants])
    assert prediction.mean == pytest.approx(prediction.mean[0], abs=1e-5)
    assert prediction.std == pytest.approx(prediction.std[0], abs=1e-5)


def test_forward_shapes_and_edge_feature_mismatch(records: list[CrystalRecord]) -> None:
    graphs = [crystal_graph(r.structure) for r in records[:3]]
    mean, var = small_model()(Batch.from_data_list(graphs))
    assert mean.shape == var.shape == torch.Size([3])
    assert torch.all(var > 0)
    with pytest.raises(ConfigError, match="edge features"):
        small_model()(Batch.from_data_list([crystal_graph(records[0].structure, gaussians=20)]))
