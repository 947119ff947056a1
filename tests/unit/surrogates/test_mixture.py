"""The mixture surrogate: order invariance, batching, and learning on real CALiSol-23 LiPF6 data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from electroloop.errors import ConfigError
from electroloop.simulations.calisol import load_calisol
from electroloop.surrogates.calibration import regression_report
from electroloop.surrogates.ensemble import TrainConfig
from electroloop.surrogates.mixture import (
    DESCRIPTORS,
    MixtureEnsemble,
    MixtureFeaturizer,
    MixtureModel,
    MixtureRecord,
    descriptors,
    log_normal_summary,
)
from electroloop.workflows.calisol_records import SALT_SMILES, to_records

EC, EMC, DMC, PC = "O=C1OCCO1", "CCOC(=O)OC", "COC(=O)OC", "CC1COC(=O)O1"
LIPF6 = SALT_SMILES["LiPF6"]
HELD_OUT = "10.1021/JE020219O"
"""A large LiPF6 source (PC/DEC sweeps), held out in the learning test."""


def record(
    components: tuple[tuple[str, float], ...], m: float = 1.0, t: float = 25.0
) -> MixtureRecord:
    return MixtureRecord(components, LIPF6, m, t, target=10.0, group="a")


@pytest.fixture(scope="module")
def lipf6(shared_data: Path) -> list[MixtureRecord]:
    points = load_calisol(shared_data / "calisol23").points
    return [r for r in to_records(points).records if r.salt_smiles == LIPF6]


def test_descriptors_have_their_names() -> None:
    assert len(descriptors(EC)) == len(DESCRIPTORS)
    with pytest.raises(ConfigError, match="does not parse"):
        descriptors("C1CC")


def test_records_refuse_fractions_that_do_not_sum_to_one() -> None:
    with pytest.raises(ConfigError, match="sum"):
        record(((EC, 0.5), (EMC, 0.4)))
    with pytest.raises(ConfigError, match="molality"):
        record(((EC, 1.0),), m=0.0)


@pytest.mark.parametrize("head", ["mlp", "physics"])
def test_permuting_components_does_not_change_the_prediction(head: str) -> None:
    torch.manual_seed(0)
    parts = ((EC, 0.3), (EMC, 0.5), (DMC, 0.2))
    records = [record(parts), record(parts[::-1]), record((parts[1], parts[2], parts[0]))]
    featurizer = MixtureFeaturizer.fit([*records, record(((PC, 1.0),))])
    model = MixtureModel(featurizer.component_dim, featurizer.salt_dim, head=head).eval()  # type: ignore[arg-type]
    with torch.no_grad():
        out = [model(featurizer.to_data(r)) for r in records]
    for mean, var in out[1:]:
        assert torch.allclose(mean, out[0][0], atol=1e-6)
        assert torch.allclose(var, out[0][1], atol=1e-6)


def test_a_batch_of_two_and_four_component_blends_matches_one_at_a_time() -> None:
    torch.manual_seed(1)
    two = record(((EC, 0.3), (EMC, 0.7)), m=0.8, t=10.0)
    four = record(((EC, 0.25), (EMC, 0.25), (DMC, 0.25), (PC, 0.25)), m=1.4, t=40.0)
    one = record(((PC, 1.0),), m=0.5, t=-20.0)
    featurizer = MixtureFeaturizer.fit([two, four, one])
    model = MixtureModel(featurizer.component_dim, featurizer.salt_dim).eval()
    data = [featurizer.to_data(r) for r in (two, four, one)]
    batch = Batch.from_data_list(data)
    assert batch.x.shape[0] == 7 and batch.cond.shape == (3, 2)  # nodes are components
    assert batch.batch.tolist() == [0, 0, 1, 1, 1, 1, 2]
    with torch.no_grad():
        mean, var = model(batch)
        single = [model(d) for d in data]
    assert mean.shape == var.shape == (3,)
    assert torch.allclose(mean, torch.cat([m for m, _ in single]), atol=1e-6)
    assert torch.allclose(var, torch.cat([v for _, v in single]), atol=1e-6)


def test_log_normal_summary_has_the_width_of_the_log_normal_interval() -> None:
    out = log_normal_summary(np.array([np.log(10.0)]), np.array([0.1]))
    assert out.mean[0] == pytest.approx(10.0, rel=1e-12)  # exp(log 10): rounding only
    width = 10.0 * (np.exp(0.1645) - np.exp(-0.1645))
    assert out.std[0] == pytest.approx(width / 2 / 1.6449, rel=1e-3)


def test_a_small_ensemble_learns_lipf6_and_beats_the_mean_on_an_unseen_source(
    lipf6: list[MixtureRecord],
) -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    train = [r for r in lipf6 if r.group != HELD_OUT]
    test = [r for r in lipf6 if r.group == HELD_OUT]
    test = [test[i] for i in rng.choice(len(test), 300, replace=False)]
    config = TrainConfig(epochs=25, lr=3e-3, batch_size=64)
    model = MixtureEnsemble.fit(train, config, members=2, max_records=600)
    assert all(h[-1] < h[0] for h in model.ensemble.history)  # each member's loss fell
    y = np.array([r.target for r in test], dtype=float)
    prediction = model.predict(test)
    report = regression_report(y, prediction.mean, prediction.std)
    constant = np.mean(np.abs(y - np.mean([r.target for r in train])))
    assert report.mae < 0.25 * constant  # measured: about 0.06 × constant
    assert np.all(prediction.std > 0.0)
