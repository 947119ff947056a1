"""A trained surrogate as one object: which network, what it predicts, how well, and its weights.

Saved as a folder of two files: `card.json` (kind, target, unit, network arguments, metrics,
what it was trained on) and `ensemble.pt` (the members' weights and target scaling, loaded with
`weights_only=True`, so opening a surrogate never runs pickled code). The MLflow registry
(`workflows/surrogate_registry.py`) stores these folders under a name and version.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from importlib import import_module
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torch_geometric.data import Data

from electroloop.errors import ConfigError
from electroloop.surrogates.ensemble import DeepEnsemble, Prediction, log_normal_summary

Kind = Literal["molecule", "mixture", "crystal"]

NETWORKS: dict[str, str] = {
    "molecule": "electroloop.surrogates.molecular_gnn:MolecularGNN",
    "mixture": "electroloop.surrogates.mixture:MixtureModel",
    "crystal": "electroloop.surrogates.cgcnn:CrystalGNN",
}
"""Kind -> the network class its members are (imported only when a surrogate is built)."""


def network_factory(kind: str, arguments: dict[str, Any]) -> Callable[[], nn.Module]:
    """A zero-argument constructor of the kind's network with these arguments."""
    if kind not in NETWORKS:
        raise ConfigError(f"kind is {kind!r}; allowed: {sorted(NETWORKS)}")
    module, name = NETWORKS[kind].split(":")
    return partial(getattr(import_module(module), name), **arguments)


@dataclass
class Surrogate:
    """A deep ensemble with what a scientist needs to trust it."""

    kind: Kind
    target: str  # e.g. "conductivity"
    unit: str  # e.g. "mS/cm"
    arguments: dict[str, Any]  # the network's constructor arguments
    ensemble: DeepEnsemble
    metrics: dict[str, float] = field(default_factory=dict)
    trained_on: str = ""  # dataset and split, in words
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. a featurizer's fitted scaling
    log_target: bool = False  # the ensemble predicts ln(target): report its log-normal
    name: str = ""  # set by the registry
    version: str = ""

    @property
    def label(self) -> str:
        """What a screened candidate records as `scored_by`."""
        return f"{self.name or self.kind} v{self.version or '0'} ({self.kind} deep ensemble)"

    def predict(self, graphs: Sequence[Data]) -> Prediction:
        """Mean and std in the target's unit (for a log target: median and the std with the
        width of the log-normal 90 % interval)."""
        raw = self.ensemble.predict(graphs)
        return log_normal_summary(raw.mean, raw.std) if self.log_target else raw

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        card = {
            "kind": self.kind,
            "target": self.target,
            "unit": self.unit,
            "arguments": self.arguments,
            "metrics": self.metrics,
            "trained_on": self.trained_on,
            "extra": self.extra,
            "log_target": self.log_target,
            "members": len(self.ensemble.members),
        }
        (folder / "card.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
        torch.save(self.ensemble.state(), folder / "ensemble.pt")
        return folder

    @classmethod
    def load(cls, folder: Path, name: str = "", version: str = "") -> Surrogate:
        card_file = folder / "card.json"
        if not card_file.is_file():
            raise ConfigError(f"{folder} holds no card.json; allowed: a folder Surrogate.save made")
        card = json.loads(card_file.read_text(encoding="utf-8"))
        state = torch.load(folder / "ensemble.pt", weights_only=True)
        factory = network_factory(card["kind"], card["arguments"])
        return cls(
            kind=card["kind"],
            target=card["target"],
            unit=card["unit"],
            arguments=card["arguments"],
            ensemble=DeepEnsemble.from_state(factory, state),
            metrics=card.get("metrics", {}),
            trained_on=card.get("trained_on", ""),
            extra=card.get("extra", {}),
            log_target=bool(card.get("log_target", False)),
            name=name,
            version=version,
        )
