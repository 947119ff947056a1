"""Deep ensembles: several networks, each predicting a Gaussian, that together know what they
don't know.

Each member ends in a `GaussianHead` (mean and variance) and is trained on the Gaussian negative
log-likelihood from its own random initialisation and data order; the ensemble's prediction is
the mixture of the members' Gaussians: mean of the means, variance = mean of the variances plus
the variance of the means (Lakshminarayanan, Pritzel & Blundell, "Simple and scalable predictive
uncertainty estimation using deep ensembles", NeurIPS 2017). Targets are standardised inside
`DeepEnsemble.fit`, so every model trains on unit-scale numbers whatever the property.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from electroloop.errors import ConfigError
from electroloop.surrogates.calibration import Z90


class GaussianHead(nn.Module):
    """The last layer of every surrogate: a mean and a (positive) variance per graph."""

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, 2)

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        raw = self.linear(features)
        return raw[:, 0], nn.functional.softplus(raw[:, 1]) + 1e-6


@dataclass(frozen=True)
class TrainConfig:
    """How one member is trained: Adam, mini-batches, early stopping on validation NLL."""

    epochs: int = 200
    lr: float = 1e-3
    weight_decay: float = 1e-5
    batch_size: int = 32
    patience: int = 30
    seed: int = 0

    def __post_init__(self) -> None:
        for name, low in (("epochs", 1), ("batch_size", 1), ("patience", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} is {value!r}; allowed: an integer >= {low}")
        for name in ("lr", "weight_decay"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0.0 or (name == "lr" and value == 0.0):
                raise ConfigError(f"{name} is {value!r}; allowed: a finite number > 0")


@dataclass(frozen=True)
class Prediction:
    """Ensemble prediction in the target's own units."""

    mean: np.ndarray
    std: np.ndarray


def log_normal_summary(mu: np.ndarray, sd: np.ndarray) -> Prediction:
    """Median exp(μ) and the Gaussian std with the width of the log-normal 90 % interval."""
    low, high = np.exp(mu - Z90 * sd), np.exp(mu + Z90 * sd)
    return Prediction(mean=np.exp(mu), std=(high - low) / (2.0 * Z90))


def _nll(mean: Tensor, var: Tensor, y: Tensor) -> Tensor:
    return nn.functional.gaussian_nll_loss(mean, y, var, full=True)


def _targets(batch: Any) -> Tensor:
    return batch.y.view(-1).to(torch.float32)


@torch.no_grad()
def _mean_nll(model: nn.Module, data: Sequence[Data], batch_size: int) -> float:
    model.eval()
    total, count = 0.0, 0
    for batch in DataLoader(list(data), batch_size=batch_size):
        mean, var = model(batch)
        y = _targets(batch)
        total += float(_nll(mean, var, y)) * len(y)
        count += len(y)
    return total / max(count, 1)


def train_model(
    model: nn.Module,
    train: Sequence[Data],
    config: TrainConfig,
    val: Sequence[Data] | None = None,
) -> list[float]:
    """Train `model` in place on `data.y`; returns the mean training NLL of each epoch.

    With `val`, the weights of the best validation epoch are kept and training stops after
    `patience` epochs without improvement; without it, all epochs run.
    """
    if not train:
        raise ConfigError("train is empty; allowed: at least one example")
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    loader = DataLoader(
        list(train), batch_size=config.batch_size, shuffle=True, generator=generator
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    history: list[float] = []
    best, best_state, waited = math.inf, None, 0
    for _ in range(config.epochs):
        model.train()
        total, count = 0.0, 0
        for batch in loader:
            optimiser.zero_grad()
            mean, var = model(batch)
            y = _targets(batch)
            loss = _nll(mean, var, y)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(y)
            count += len(y)
        history.append(total / count)
        if val:
            score = _mean_nll(model, val, config.batch_size)
            if score < best - 1e-6:
                best, best_state, waited = score, copy.deepcopy(model.state_dict()), 0
            else:
                waited += 1
                if waited >= config.patience:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


def _train_member(
    factory: Callable[[], nn.Module],
    train: Sequence[Data],
    config: TrainConfig,
    val: Sequence[Data] | None,
) -> tuple[nn.Module, list[float]]:
    """One ensemble member from its seed (`config.seed`): the network and its loss history."""
    torch.manual_seed(config.seed)
    model = factory()
    return model, train_model(model, train, config, val)


def _standardised(data: Sequence[Data], center: float, scale: float) -> list[Data]:
    out = []
    for item in data:
        copy_ = item.clone()
        copy_.y = (item.y.to(torch.float32) - center) / scale
        out.append(copy_)
    return out


class DeepEnsemble:
    """`members` networks from one factory, each trained from its own seed; predicts the mixture."""

    def __init__(self, members: list[nn.Module], y_mean: float, y_std: float) -> None:
        if not members:
            raise ConfigError("members is empty; allowed: at least one trained network")
        self.members = members
        self.y_mean = float(y_mean)
        self.y_std = float(y_std)
        self.history: list[list[float]] = []

    @classmethod
    def fit(
        cls,
        factory: Callable[[], nn.Module],
        train: Sequence[Data],
        config: TrainConfig,
        members: int = 5,
        val: Sequence[Data] | None = None,
        executor: Executor | None = None,
    ) -> DeepEnsemble:
        """Standardise the targets, then train member i with seed `config.seed + i`: here, or
        one member per task on `executor` (a Dask cluster, `workflows.compute`), with the
        same result since each member depends only on its seed and the data."""
        if members < 1:
            raise ConfigError(f"members is {members}; allowed: >= 1 (5 or more for uncertainty)")
        if not train:
            raise ConfigError("train is empty; allowed: at least one example")
        y = np.array([float(item.y.view(-1)[0]) for item in train])
        if not np.all(np.isfinite(y)):
            raise ConfigError("train has non-finite targets; allowed: finite numbers")
        center, scale = float(y.mean()), float(y.std()) or 1.0
        scaled = _standardised(train, center, scale)
        scaled_val = _standardised(val, center, scale) if val else None
        configs = [
            TrainConfig(**{**config.__dict__, "seed": config.seed + i}) for i in range(members)
        ]
        work = [(factory, scaled, c, scaled_val) for c in configs]
        if executor is None:
            results = [_train_member(*member) for member in work]
        else:
            results = list(executor.map(_train_member, *zip(*work, strict=True)))
        trained, history = zip(*results, strict=True)
        ensemble = cls(list(trained), center, scale)
        ensemble.history = list(history)
        return ensemble

    def predict(self, data: Sequence[Data], batch_size: int = 256) -> Prediction:
        """Mean and standard deviation of the members' Gaussian mixture, in target units."""
        return self.predict_batches(DataLoader(list(data), batch_size=batch_size))

    @torch.no_grad()
    def predict_batches(self, batches: Iterable[Any]) -> Prediction:
        """`predict` over ready-made batches, each collated once for every member."""
        for model in self.members:
            model.eval()
        means, variances = [], []
        for batch in batches:
            outputs = [model(batch) for model in self.members]
            means.append(torch.stack([mean for mean, _ in outputs]))  # members x n
            variances.append(torch.stack([var for _, var in outputs]))
        if not means:
            return Prediction(mean=np.zeros(0), std=np.zeros(0))
        mu, var = torch.cat(means, dim=1), torch.cat(variances, dim=1)
        mixture_var = var.mean(0) + mu.var(0, unbiased=False)
        mean = mu.mean(0) * self.y_std + self.y_mean
        std = mixture_var.sqrt() * self.y_std
        return Prediction(mean=mean.numpy().astype(float), std=std.numpy().astype(float))

    def state(self) -> dict[str, Any]:
        """Weights and target scaling, for `from_state` with the same factory."""
        return {
            "y_mean": self.y_mean,
            "y_std": self.y_std,
            "members": [model.state_dict() for model in self.members],
        }

    @classmethod
    def from_state(cls, factory: Callable[[], nn.Module], state: dict[str, Any]) -> DeepEnsemble:
        members = []
        for weights in state["members"]:
            model = factory()
            model.load_state_dict(weights)
            model.eval()
            members.append(model)
        return cls(members, state["y_mean"], state["y_std"])
