"""Screening a SMILES file: every line accounted for, ranked by the confidence bound, the same
answer whatever the number of worker processes."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import Crippen

from electroloop.errors import ConfigError
from electroloop.surrogates.ensemble import DeepEnsemble, TrainConfig
from electroloop.surrogates.molecular_gnn import MolecularGNN
from electroloop.surrogates.molecule_graph import featurize, featurize_many
from electroloop.surrogates.screening import read_smi, screen, write_csv
from tests.floats import SAME_COMPUTATION, assert_close

LIBRARY = """\
# a small electrolyte library: SMILES, then an optional name
O=C1OCCO1 EC
CC1COC(=O)O1\tPC

COC(=O)OC DMC
   # an indented comment
CCOC(=O)OCC
C1CC( broken ring
N#CCC#N succinonitrile
O=C1OCC(F)O1 FEC
CS(C)(=O)=O dimethyl sulfone
COCCOC DME
C(C)(C)(C)(C)C five-valent carbon
CC#N acetonitrile
"""
VALID_LINES = [2, 3, 5, 7, 9, 10, 11, 12, 14]


@pytest.fixture(scope="module")
def ensemble() -> DeepEnsemble:
    torch.set_num_threads(1)
    smiles = ["CCO", "CCCO", "COC", "CCOC(=O)OC", "O=C1OCCO1", "CC#N", "CCCC#N", "FCCOC"]
    graphs, _ = featurize_many(smiles)
    for graph, text in zip(graphs, smiles, strict=True):
        graph.y = torch.tensor([Crippen.MolLogP(Chem.MolFromSmiles(text))])
    return DeepEnsemble.fit(MolecularGNN, graphs, TrainConfig(epochs=5), members=3)


@pytest.fixture
def library(tmp_path: Path) -> Path:
    path = tmp_path / "library.smi"
    path.write_text(LIBRARY, encoding="utf-8")
    return path


def test_every_line_is_screened_or_reported(ensemble: DeepEnsemble, library: Path) -> None:
    result = screen(library, ensemble, workers=1)
    assert (result.n_read, result.n_valid, result.n_invalid) == (11, 9, 2)
    assert result.lines.tolist() == VALID_LINES
    rows = result.rows()
    assert [r.name for r in rows[:4]] == ["EC", "PC", "DMC", ""]
    assert rows[0].smiles == "O=C1OCCO1" and rows[-1].name == "acetonitrile"
    assert rows[6].name == "dimethyl sulfone"  # names may contain spaces
    assert [(bad.line, bad.smiles) for bad in result.invalid] == [
        (8, "C1CC("),
        (13, "C(C)(C)(C)(C)C"),
    ]
    assert "unparsable" in result.invalid[0].reason
    assert "valence" in result.invalid[1].reason.lower()

    # The packed fast path predicts exactly what the ensemble predicts from Data objects.
    expected = ensemble.predict([featurize(r.smiles) for r in rows])
    np.testing.assert_allclose(result.mean, expected.mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.std, expected.std, rtol=1e-5, atol=1e-6)
    assert np.all(result.std > 0)


def test_scores_are_confidence_bounds_and_top_ranks_by_them(
    ensemble: DeepEnsemble, library: Path
) -> None:
    high = screen(library, ensemble, kappa=2.0, workers=1)
    # the confidence bound's closed form, evaluated again: rounding only
    np.testing.assert_allclose(high.score, high.mean + 2.0 * high.std, rtol=1e-12)
    best = high.top(3)
    # the ranking picks scores from the array: copies, compared exactly
    assert [r.score for r in best] == sorted(high.score, reverse=True)[:3]
    assert best[0].score == max(r.score for r in high.rows())

    low = screen(library, ensemble, objective="minimize", kappa=2.0, workers=1)
    np.testing.assert_allclose(low.score, low.mean - 2.0 * low.std, rtol=1e-12)
    assert [r.score for r in low.top(9)] == sorted(low.score)
    assert len(low.top(50)) == 9 and low.top(0) == []


def test_the_csv_lists_the_ranking(ensemble: DeepEnsemble, library: Path, tmp_path: Path) -> None:
    result = screen(library, ensemble, workers=1)
    written = write_csv(result, tmp_path / "ranked.csv", "logp v3 (molecule deep ensemble)")
    with open(written, newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    columns = ["rank", "line", "name", "smiles", "mean", "std", "score", "scored_by"]
    assert list(table[0]) == columns
    assert {row["scored_by"] for row in table} == {"logp v3 (molecule deep ensemble)"}
    assert [int(row["rank"]) for row in table] == list(range(1, 10))
    assert [row["smiles"] for row in table] == [r.smiles for r in result.top(9)]
    # written to the CSV and parsed back: a copy, exactly equal
    assert [float(row["score"]) for row in table] == [r.score for r in result.top(9)]


def test_two_workers_give_the_same_answer_as_one(ensemble: DeepEnsemble, library: Path) -> None:
    calls: list[tuple[int, int]] = []
    threads = torch.get_num_threads()
    serial = screen(library, ensemble, chunk_size=3, workers=1)
    pooled = screen(
        library, ensemble, chunk_size=3, workers=2, progress=lambda d, t: calls.append((d, t))
    )
    assert pooled.smiles == serial.smiles and pooled.names == serial.names
    assert np.array_equal(pooled.lines, serial.lines)
    assert_close(pooled.mean, serial.mean, **SAME_COMPUTATION)
    assert_close(pooled.std, serial.std, **SAME_COMPUTATION)
    assert pooled.invalid == serial.invalid
    assert calls == [(3, 11), (6, 11), (9, 11), (11, 11)]
    assert torch.get_num_threads() == threads  # restored after the pool ran


def test_read_smi_keeps_triple_bonds_and_skips_comments(library: Path) -> None:
    entries = list(read_smi(library))
    assert entries[0] == (2, "O=C1OCCO1", "EC")
    assert (9, "N#CCC#N", "succinonitrile") in entries  # '#' inside a SMILES is a bond
    assert len(entries) == 11


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"workers": 0}, "workers is 0; allowed: an integer >= 1"),
        ({"chunk_size": 0}, "chunk_size is 0; allowed: an integer >= 1"),
        ({"kappa": -1.0}, "kappa is -1.0; allowed: a finite number >= 0"),
        ({"objective": "max"}, "objective is 'max'; allowed: 'maximize' or 'minimize'"),
    ],
)
def test_options_are_checked(
    ensemble: DeepEnsemble, library: Path, option: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        screen(library, ensemble, **option)  # type: ignore[arg-type]


def test_a_missing_library_is_named(ensemble: DeepEnsemble, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nowhere.smi"):
        screen(tmp_path / "nowhere.smi", ensemble)
