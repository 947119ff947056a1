"""Deep ensembles and the calibration report, on a problem whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import global_mean_pool

from electroloop.errors import ConfigError
from electroloop.surrogates.calibration import regression_report
from electroloop.surrogates.ensemble import DeepEnsemble, GaussianHead, TrainConfig
from tests.floats import SAME_COMPUTATION, assert_close


class PooledMLP(nn.Module):
    """Mean of the node features, then an MLP: the smallest model with the surrogates' shape."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh())
        self.head = GaussianHead(32)

    def forward(self, batch: object) -> tuple[Tensor, Tensor]:
        pooled = global_mean_pool(batch.x, batch.batch)  # type: ignore[attr-defined]
        return self.head(self.body(pooled))


def samples(x: np.ndarray, rng: np.random.Generator) -> list[Data]:
    y = np.sin(2 * x) + rng.normal(0.0, 0.1, len(x))
    return [
        Data(x=torch.tensor([[v], [v]], dtype=torch.float32), y=torch.tensor([t]))
        for v, t in zip(x, y, strict=True)
    ]


def test_an_ensemble_learns_and_is_less_sure_away_from_its_data() -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    train = samples(rng.uniform(-1.5, 1.5, 160), rng)
    held_out = samples(rng.uniform(-1.5, 1.5, 80), rng)
    far = samples(np.linspace(4.0, 5.0, 20), rng)
    config = TrainConfig(epochs=120, lr=5e-3, batch_size=32)
    ensemble = DeepEnsemble.fit(PooledMLP, train, config, members=5)
    assert all(h[-1] < h[0] for h in ensemble.history)  # every member's loss fell
    y = np.array([float(d.y) for d in held_out])
    near = ensemble.predict(held_out)
    report = regression_report(y, near.mean, near.std)
    constant = np.mean(np.abs(y - np.mean([float(d.y) for d in train])))
    assert report.mae < 0.3 * constant
    assert 0.7 <= report.coverage90 <= 1.0
    assert np.median(ensemble.predict(far).std) > 2 * np.median(near.std)


def test_an_ensemble_round_trips_through_its_state() -> None:
    rng = np.random.default_rng(1)
    data = samples(rng.uniform(-1, 1, 40), rng)
    ensemble = DeepEnsemble.fit(PooledMLP, data, TrainConfig(epochs=5), members=2)
    again = DeepEnsemble.from_state(PooledMLP, ensemble.state())
    assert_close(again.predict(data).mean, ensemble.predict(data).mean, **SAME_COMPUTATION)


def test_the_report_matches_its_definitions() -> None:
    y = np.array([0.0, 1.0, 2.0, 3.0])
    mean = np.array([0.5, 1.0, 2.0, 5.0])
    std = np.array([1.0, 0.5, 0.5, 1.0])
    report = regression_report(y, mean, std)
    # each metric is its closed form on four points: rounding only (rel=1e-12)
    assert report.mae == pytest.approx(0.625, rel=1e-12)
    assert report.coverage90 == pytest.approx(0.75, rel=1e-12)  # |5 - 3| = 2 > 1.645
    assert report.nll == pytest.approx(-np.mean(stats.norm.logpdf(y, mean, std)), rel=1e-12)
    assert report.r2 == pytest.approx(1 - (0.25 + 4.0) / 5.0, rel=1e-12)
    with pytest.raises(ConfigError, match="std > 0"):
        regression_report(y, mean, np.zeros(4))
    with pytest.raises(ConfigError, match="epochs is 0; allowed: an integer >= 1"):
        TrainConfig(epochs=0)
