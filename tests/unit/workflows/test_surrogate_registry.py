"""Surrogates saved, registered in MLflow (a real SQLite tracking store) and loaded back by
name and version, predicting exactly what they predicted before."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from rdkit.Chem import Crippen, MolFromSmiles

from electroloop.errors import ConfigError
from electroloop.surrogates.ensemble import DeepEnsemble, TrainConfig
from electroloop.surrogates.molecular_gnn import MolecularGNN
from electroloop.surrogates.molecule_graph import featurize
from electroloop.surrogates.surrogate import Surrogate
from electroloop.workflows.molecule_library import solvent_like_library
from electroloop.workflows.surrogate_registry import load, register
from tests.floats import SAME_COMPUTATION, assert_close


def tiny_surrogate() -> tuple[Surrogate, list]:
    smiles = solvent_like_library(40)
    graphs = []
    for s in smiles:
        graph = featurize(s)
        graph.y = torch.tensor([Crippen.MolLogP(MolFromSmiles(s))], dtype=torch.float32)
        graphs.append(graph)
    ensemble = DeepEnsemble.fit(MolecularGNN, graphs, TrainConfig(epochs=3), members=2)
    surrogate = Surrogate(
        kind="molecule",
        target="logp",
        unit="",
        arguments={},
        ensemble=ensemble,
        metrics={"held_out_mae": 0.5},
        trained_on="40 molecules, Crippen logP",
    )
    return surrogate, graphs


def test_versions_register_and_load_back_predicting_the_same(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    surrogate, graphs = tiny_surrogate()
    first = register(surrogate, "logp", uri, tmp_path / "artifacts")
    assert first.version == "1" and first.label == "logp v1 (molecule deep ensemble)"
    second = register(surrogate, "logp", uri, tmp_path / "artifacts")
    assert second.version == "2"
    latest = load("logp", "latest", uri)
    assert latest.version == "2"
    assert latest.metrics == {"held_out_mae": 0.5}  # stored in the registry and read back
    # the same weights, loaded back: the same computation
    assert_close(latest.predict(graphs).mean, surrogate.predict(graphs).mean, **SAME_COMPUTATION)
    assert load("logp", "1", uri).trained_on == "40 molecules, Crippen logP"
    with pytest.raises(ConfigError, match=r"version '7'; allowed: latest or \[1, 2\]"):
        load("logp", "7", uri)
    with pytest.raises(ConfigError, match=r"'nope' is not registered; known: \['logp'\]"):
        load("nope", "latest", uri)


def test_a_saved_folder_is_refused_without_its_card(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="holds no card.json"):
        Surrogate.load(tmp_path)


def test_the_molecule_library_is_deterministic_unique_and_valid() -> None:
    library = solvent_like_library()
    assert library == solvent_like_library() and len(set(library)) == len(library) > 400
    assert all(MolFromSmiles(s) is not None for s in library)
    assert solvent_like_library(10) == library[:10]
