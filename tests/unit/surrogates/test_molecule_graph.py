"""SMILES → graph: feature layout, known molecules, and errors that name the bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from rdkit import Chem
from torch_geometric.data import Batch

from electroloop.errors import ConfigError
from electroloop.surrogates.molecule_graph import (
    ATOM_FEATURES,
    BOND_FEATURES,
    ELEMENTS,
    InvalidMolecule,
    encode_many,
    featurize,
    featurize_many,
    to_batch,
    to_data_list,
)

# Column blocks as documented in the module docstring.
ELEMENT, DEGREE, CHARGE, HYDROGENS, HYBRID = (
    slice(0, 20),
    slice(20, 27),
    slice(27, 32),
    slice(32, 37),
    slice(37, 44),
)
AROMATIC, ATOM_RING = 44, 45
BOND_TYPE, CONJUGATED, BOND_RING = slice(0, 5), 5, 6

VARIED = [
    "O=C1OCCO1",  # ethylene carbonate
    "CC1COC(=O)O1",
    "COC(=O)OC",
    "O=C1OCC(F)O1",
    "N#CCC#N",
    "CS(C)(=O)=O",
    "c1ccncc1",
    "c1ccoc1",
    "[Li+].F[P-](F)(F)(F)(F)F",
    "[Li+].[B-](F)(F)(F)F",
    "[Li+].FC(F)(F)S(=O)(=O)[N-]S(=O)(=O)C(F)(F)F",
    "C[Si](C)(C)OC",
    "[Se]=C=O",  # selenium: the "other" element
    "[NH4+].[O-]C(=O)C",
    "C=CC#N",
    "[O-2].[Mg+2]",
]


def reference_row(atom: Chem.Atom) -> np.ndarray:
    """The documented features, read from RDKit one atom at a time."""
    row = np.zeros(ATOM_FEATURES, dtype=np.float32)
    symbol = atom.GetSymbol()
    row[ELEMENTS.index(symbol) if symbol in ELEMENTS else len(ELEMENTS)] = 1
    row[DEGREE.start + min(atom.GetDegree(), 6)] = 1
    row[CHARGE.start + 2 + min(max(atom.GetFormalCharge(), -2), 2)] = 1
    row[HYDROGENS.start + min(atom.GetTotalNumHs(), 4)] = 1
    kinds = ["S", "SP", "SP2", "SP3", "SP3D", "SP3D2"]
    name = str(atom.GetHybridization())
    row[HYBRID.start + (kinds.index(name) if name in kinds else 6)] = 1
    row[AROMATIC] = atom.GetIsAromatic()
    row[ATOM_RING] = atom.IsInRing()
    return row


def one_hot(block: torch.Tensor) -> bool:
    """Every row holds exactly one nonzero entry, and it is the flag value 1 (a copied value)."""
    return bool(torch.all((block != 0).sum(1) == 1) and torch.all(block.max(1).values == 1))


def test_feature_widths_are_documented_and_float32() -> None:
    assert (ATOM_FEATURES, BOND_FEATURES) == (46, 7)
    data = featurize("CCO")
    assert data.x.dtype == torch.float32 and data.x.shape == (3, ATOM_FEATURES)
    assert data.edge_attr.dtype == torch.float32 and data.edge_attr.shape == (4, BOND_FEATURES)
    assert data.edge_index.dtype == torch.long


@pytest.mark.parametrize("smiles", VARIED)
def test_features_match_a_direct_reading_of_rdkit(smiles: str) -> None:
    mol = Chem.MolFromSmiles(smiles)
    data = featurize(smiles)
    expected = np.stack([reference_row(atom) for atom in mol.GetAtoms()])
    # every feature is a 0/1 flag set from RDKit, not computed: compared exactly
    np.testing.assert_array_equal(data.x.numpy(), expected)
    for block in (ELEMENT, DEGREE, CHARGE, HYDROGENS, HYBRID):
        assert one_hot(data.x[:, block])  # exactly one hot per block
    assert one_hot(data.edge_attr[:, BOND_TYPE])


def test_ethylene_carbonate_has_six_heavy_atoms_and_twelve_directed_edges() -> None:
    data = featurize("O=C1OCCO1")  # C3H4O3: 3 C + 3 O, a five-membered ring plus C=O
    assert data.num_nodes == 6
    assert data.edge_index.shape == (2, 12)
    assert int((data.edge_attr[:, BOND_RING] == 1).sum()) == 10  # 5 ring bonds, both directions
    assert int((data.edge_attr[:, 1] == 1).sum()) == 2  # one C=O, both directions
    assert data.x[:, HYDROGENS].argmax(1).tolist() == [0, 0, 0, 2, 2, 0]


def test_edges_come_in_both_directions_with_the_same_features() -> None:
    data = featurize("O=C1OCC(F)O1")
    pairs = {
        (int(i), int(j)): tuple(a.tolist())
        for (i, j), a in zip(data.edge_index.t(), data.edge_attr, strict=True)
    }
    assert all(pairs[(j, i)] == attr for (i, j), attr in pairs.items())


def test_benzene_is_aromatic_everywhere() -> None:
    data = featurize("c1ccccc1")
    assert torch.all(data.x[:, AROMATIC] == 1) and torch.all(data.x[:, ATOM_RING] == 1)
    assert torch.all(data.x[:, HYBRID].argmax(1) == 2)  # SP2
    assert torch.all(data.x[:, HYDROGENS].argmax(1) == 1)
    assert torch.all(data.edge_attr[:, 3] == 1)  # aromatic bond type
    assert torch.all(data.edge_attr[:, CONJUGATED] == 1)
    assert torch.all(featurize("C1CCCCC1").x[:, AROMATIC] == 0)


def test_lithium_hexafluorophosphate_keeps_its_charges() -> None:
    data = featurize("[Li+].F[P-](F)(F)(F)(F)F")
    charge = data.x[:, CHARGE].argmax(1) - 2
    assert charge.tolist() == [1, 0, -1, 0, 0, 0, 0, 0]
    assert data.x[2, DEGREE].argmax() == 6  # P has six F neighbours
    assert data.x[2, HYBRID].argmax() == 5  # SP3D2
    assert data.x[0, DEGREE].argmax() == 0  # Li+ is an isolated node
    assert data.edge_index.shape == (2, 12)
    assert featurize("[Li+]").edge_index.shape == (2, 0)


@pytest.mark.parametrize(
    ("smiles", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("C1CC(", "unparsable"),
        ("C(C)(C)(C)(C)C", "valence"),
        ("c1cccc1", "kekulize"),
        ("C" * 201, "201 atoms; allowed: 1 to 200"),
        ("CCO ethanol", "whitespace"),
    ],
)
def test_invalid_smiles_name_the_input_and_the_reason(smiles: str, reason: str) -> None:
    with pytest.raises(InvalidMolecule) as caught:
        featurize(smiles)
    assert isinstance(caught.value, ConfigError)
    assert repr(smiles) in str(caught.value)
    assert reason.lower() in str(caught.value).lower()
    assert caught.value.smiles == smiles


def test_a_molecule_of_exactly_200_atoms_is_accepted() -> None:
    assert featurize("C" * 200).num_nodes == 200


def test_featurize_many_keeps_going_past_bad_entries() -> None:
    graphs, invalid = featurize_many(["CCO", "C1CC(", "", "c1ccccc1", "F[Si](F)(F)(F)(F)F"])
    assert [g.num_nodes for g in graphs] == [3, 6]
    assert [index for index, _ in invalid] == [1, 2, 4]
    assert "unparsable" in invalid[0][1] and "empty" in invalid[1][1]
    assert featurize_many(["C1CC(", ""])[0] == []
    assert featurize_many([]) == ([], [])


def test_a_packed_batch_equals_collated_graphs() -> None:
    encoded = encode_many(VARIED)
    direct = to_batch(encoded)
    collated = Batch.from_data_list(to_data_list(encoded))
    for key in ("x", "edge_index", "edge_attr", "batch", "ptr"):  # 0/1 flags and indices, copied
        assert torch.equal(direct[key], collated[key]), key
    middle = encoded.slice(3, 7)
    assert torch.equal(to_batch(middle).x, Batch.from_data_list(to_data_list(encoded)[3:7]).x)


def test_encoding_does_not_import_torch_geometric() -> None:
    """Screening workers import this module; torch-geometric would add seconds to their start."""
    code = (
        "import sys; import electroloop.surrogates.molecule_graph as m; "
        "m.encode_many(['CCO']); assert 'torch_geometric' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
