"""SMILES → molecular graph: the input every molecular surrogate sees.

One node per heavy atom (hydrogens are a node feature, as RDKit's default `RemoveHs` leaves
them), one pair of directed edges per bond. Features are float32 one-hots, so a model needs no
embedding tables (`torch_geometric.utils.from_smiles` gives int64 categories instead).

Node features `x` (`ATOM_FEATURES` = 46 columns, in this order):

| columns | feature | values |
|---|---|---|
| 0–19 | element | `ELEMENTS` (H Li B C N O F Na Mg Al Si P S Cl K Ca Zn Br I), then "other" |
| 20–26 | degree (heavy-atom neighbours) | 0, 1, 2, 3, 4, 5, ≥ 6 |
| 27–31 | formal charge | ≤ −2, −1, 0, +1, ≥ +2 |
| 32–36 | hydrogens on the atom (`GetTotalNumHs`) | 0, 1, 2, 3, ≥ 4 |
| 37–43 | hybridisation | S, SP, SP2, SP3, SP3D, SP3D2, other/unspecified |
| 44 | aromatic | 0/1 |
| 45 | in a ring | 0/1 |

Edge features `edge_attr` (`BOND_FEATURES` = 7 columns), the same for both directions of a bond:

| columns | feature | values |
|---|---|---|
| 0–4 | bond type | single, double, triple, aromatic, other (dative, ionic, …) |
| 5 | conjugated | 0/1 |
| 6 | in a ring | 0/1 |

Not encoded: stereochemistry, isotopes, radicals. A SMILES may hold several fragments (a salt
such as `[Li+].F[P-](F)(F)(F)(F)F`); they become one graph with several components.

The encoding step (`encode_many`) needs only RDKit and numpy, so screening workers start without
importing torch-geometric (3–4 s); `featurize`, `featurize_many`, `to_data_list` and `to_batch`
import it when first called.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdchem
from rdkit.rdBase import DisableLog

from electroloop.errors import ConfigError

if TYPE_CHECKING:
    from torch_geometric.data import Batch, Data

ELEMENTS: tuple[str, ...] = (
    "H", "Li", "B", "C", "N", "O", "F", "Na", "Mg", "Al",
    "Si", "P", "S", "Cl", "K", "Ca", "Zn", "Br", "I",
)  # fmt: skip
"""Elements with their own one-hot column; any other element sets the "other" column."""

MAX_ATOMS = 200
"""Most graph nodes accepted (heavy atoms, plus any hydrogens written as atoms): bigger inputs
are polymers or typos, not electrolyte components."""

_OTHER_ELEMENT = len(ELEMENTS)
_DEGREE = _OTHER_ELEMENT + 1  # first column of each block
_CHARGE = _DEGREE + 7
_HYDROGENS = _CHARGE + 5
_HYBRID = _HYDROGENS + 5
_AROMATIC = _HYBRID + 7
_ATOM_RING = _AROMATIC + 1

ATOM_FEATURES = _ATOM_RING + 1
"""Width of `Data.x` (46)."""

_BOND_OTHER = 4
_CONJUGATED = 5
_BOND_RING = 6

BOND_FEATURES = _BOND_RING + 1
"""Width of `Data.edge_attr` (7)."""

# Hot-column indices equal to the width mean "bit not set"; that spare column is dropped.
_ATOM_OFF = ATOM_FEATURES
_BOND_OFF = BOND_FEATURES


def _table(size: int, default: int, hot: dict[int, int]) -> np.ndarray:
    """Lookup table from RDKit's integer codes (atomic number, enum value) to hot columns, so
    the per-atom Python loop only reads values and numpy maps a whole chunk at once."""
    table = np.full(size, default, dtype=np.int16)
    for code, column in hot.items():
        table[code] = column
    return table


_ELEMENT_TABLE = _table(
    128,
    _OTHER_ELEMENT,
    {Chem.GetPeriodicTable().GetAtomicNumber(e): i for i, e in enumerate(ELEMENTS)},
)
_HYBRID_TABLE = _table(
    max(rdchem.HybridizationType.values) + 1,
    _HYBRID + 6,
    {
        int(getattr(rdchem.HybridizationType, kind)): _HYBRID + i
        for i, kind in enumerate(("S", "SP", "SP2", "SP3", "SP3D", "SP3D2"))
    },
)
_BOND_TABLE = _table(
    max(rdchem.BondType.values) + 1,
    _BOND_OTHER,
    {
        int(getattr(rdchem.BondType, kind)): i
        for i, kind in enumerate(("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"))
    },
)


class InvalidMolecule(ConfigError):
    """A SMILES string that cannot become a graph; names the input and the reason."""

    def __init__(self, smiles: str, reason: str) -> None:
        super().__init__(f"SMILES {smiles!r} is invalid: {reason}")
        self.smiles = smiles
        self.reason = reason


@dataclass(frozen=True, eq=False)  # arrays inside: compare fields explicitly
class EncodedGraphs:
    """Many molecules packed as small integer arrays: cheap to pickle between processes.

    `atom_columns` is `n_atoms x 7` (the hot column of each atom feature block), `bonds` is
    `n_bonds x 5` (begin atom, end atom — numbered within their molecule — and the hot columns of
    the three bond feature blocks). `atoms`/`bonds_per_graph` give each molecule's share, and
    `invalid` holds (position in the input, reason) of the SMILES that were skipped.
    """

    atom_columns: np.ndarray
    bonds: np.ndarray
    atoms_per_graph: np.ndarray
    bonds_per_graph: np.ndarray
    invalid: tuple[tuple[int, str], ...]

    @property
    def num_graphs(self) -> int:
        return len(self.atoms_per_graph)

    def slice(self, start: int, stop: int) -> EncodedGraphs:
        """Molecules `start` to `stop` (positions among the valid ones), without `invalid`."""
        start, stop = max(0, min(start, self.num_graphs)), max(0, min(stop, self.num_graphs))
        atom_ends = np.cumsum(self.atoms_per_graph)
        bond_ends = np.cumsum(self.bonds_per_graph)
        a0, a1 = (int(atom_ends[i - 1]) if i > 0 else 0 for i in (start, stop))
        b0, b1 = (int(bond_ends[i - 1]) if i > 0 else 0 for i in (start, stop))
        return EncodedGraphs(
            atom_columns=self.atom_columns[a0:a1],
            bonds=self.bonds[b0:b1],
            atoms_per_graph=self.atoms_per_graph[start:stop],
            bonds_per_graph=self.bonds_per_graph[start:stop],
            invalid=(),
        )

    def node_features(self) -> np.ndarray:
        """`x` of all molecules stacked: float32, `n_atoms x ATOM_FEATURES`."""
        n = len(self.atom_columns)
        x = np.zeros((n, ATOM_FEATURES + 1), dtype=np.float32)
        x[np.arange(n)[:, None], self.atom_columns] = 1.0
        return np.ascontiguousarray(x[:, :ATOM_FEATURES])

    def edge_features(self) -> np.ndarray:
        """`edge_attr` of all molecules stacked: float32, `2 n_bonds x BOND_FEATURES`."""
        n = len(self.bonds)
        attr = np.zeros((n, BOND_FEATURES + 1), dtype=np.float32)
        attr[np.arange(n)[:, None], self.bonds[:, 2:]] = 1.0
        return np.repeat(attr[:, :BOND_FEATURES], 2, axis=0)  # bond k -> edges 2k, 2k+1

    def edge_index(self) -> np.ndarray:
        """`2 x 2 n_bonds` int64, atoms numbered across the whole pack (batch numbering)."""
        offsets = np.concatenate([[0], np.cumsum(self.atoms_per_graph)[:-1]]).astype(np.int64)
        shift = np.repeat(offsets, self.bonds_per_graph)
        begin = self.bonds[:, 0].astype(np.int64) + shift
        end = self.bonds[:, 1].astype(np.int64) + shift
        return np.stack([np.stack([begin, end], 1).ravel(), np.stack([end, begin], 1).ravel()])


def _molecule(smiles: str) -> Chem.Mol:
    """Parse and sanitise, or raise `InvalidMolecule` with RDKit's reason."""
    if not isinstance(smiles, str):
        raise InvalidMolecule(str(smiles), f"expected a str, got {type(smiles).__name__}")
    text = smiles.strip()
    if not text:
        raise InvalidMolecule(
            smiles, f"empty string; allowed: a SMILES with 1 to {MAX_ATOMS} atoms"
        )
    if any(c.isspace() for c in text):
        raise InvalidMolecule(smiles, "contains whitespace; pass the SMILES without a name")
    mol = Chem.MolFromSmiles(text)
    if mol is None:
        raise InvalidMolecule(smiles, _why_unparsable(text))
    n = mol.GetNumAtoms()
    if n == 0:
        raise InvalidMolecule(smiles, f"no atoms; allowed: a SMILES with 1 to {MAX_ATOMS} atoms")
    if n > MAX_ATOMS:
        raise InvalidMolecule(smiles, f"{n} atoms; allowed: 1 to {MAX_ATOMS}")
    return mol


def _why_unparsable(text: str) -> str:
    """RDKit's reason, found by re-parsing in two steps (only for the rare failures)."""
    raw = Chem.MolFromSmiles(text, sanitize=False)
    if raw is None:
        return "unparsable SMILES syntax"
    try:
        Chem.SanitizeMol(raw)
    except Exception as error:  # RDKit raises several unrelated classes (valence, kekulize, …)
        return f"chemistry rejected by RDKit: {error}"
    return "unparsable SMILES"


def encode_many(smiles: Sequence[str]) -> EncodedGraphs:
    """Encode every valid SMILES; the invalid ones are listed with their reason, not raised.

    Needs only RDKit and numpy: this is the function screening workers run. The per-atom and
    per-bond Python calls into RDKit cost more than the parse itself, so the loop reads as few
    values as it can; degree and ring membership come from the bond list and the ring info.
    """
    DisableLog("rdApp.*")  # reasons go into `invalid`, not to stderr
    atoms: list[int] = []  # atomic number, charge, hydrogens, hybridisation, aromatic
    bonds: list[int] = []  # begin, end, type, conjugated
    ring_atoms: list[int] = []  # numbered across the chunk
    ring_bonds: list[int] = []
    atom_counts: list[int] = []
    bond_counts: list[int] = []
    invalid: list[tuple[int, str]] = []
    n_atoms = n_bonds = 0
    for i, text in enumerate(smiles):
        try:
            mol = _molecule(text)
        except InvalidMolecule as error:
            invalid.append((i, error.reason))
            continue
        for atom in mol.GetAtoms():
            atoms += (
                atom.GetAtomicNum(),
                atom.GetFormalCharge(),
                atom.GetTotalNumHs(),
                atom.GetHybridization(),
                atom.GetIsAromatic(),
            )
        for bond in mol.GetBonds():
            bonds += (
                bond.GetBeginAtomIdx(),
                bond.GetEndAtomIdx(),
                bond.GetBondType(),
                bond.GetIsConjugated(),
            )
        rings = mol.GetRingInfo()
        if rings.NumRings():
            ring_atoms.extend({n_atoms + a for ring in rings.AtomRings() for a in ring})
            ring_bonds.extend({n_bonds + b for ring in rings.BondRings() for b in ring})
        atom_counts.append(mol.GetNumAtoms())
        bond_counts.append(mol.GetNumBonds())
        n_atoms += atom_counts[-1]
        n_bonds += bond_counts[-1]
    return _pack(atoms, bonds, ring_atoms, ring_bonds, atom_counts, bond_counts, invalid)


def _pack(
    atoms: list[int],
    bonds: list[int],
    ring_atoms: list[int],
    ring_bonds: list[int],
    atom_counts: list[int],
    bond_counts: list[int],
    invalid: list[tuple[int, str]],
) -> EncodedGraphs:
    """Map the raw RDKit values of a chunk to hot columns, vectorised."""
    raw_atoms = np.array(atoms, dtype=np.int64).reshape(-1, 5)
    raw_bonds = np.array(bonds, dtype=np.int64).reshape(-1, 4)
    atoms_per_graph = np.array(atom_counts, dtype=np.int64)
    bonds_per_graph = np.array(bond_counts, dtype=np.int64)
    n = len(raw_atoms)
    offsets = np.repeat(np.cumsum(atoms_per_graph) - atoms_per_graph, bonds_per_graph)
    degree = np.bincount(
        np.concatenate([raw_bonds[:, 0] + offsets, raw_bonds[:, 1] + offsets]), minlength=n
    )
    columns = np.empty((n, 7), dtype=np.int16)
    columns[:, 0] = _ELEMENT_TABLE[np.clip(raw_atoms[:, 0], 0, len(_ELEMENT_TABLE) - 1)]
    columns[:, 1] = _DEGREE + np.minimum(degree, 6)
    columns[:, 2] = _CHARGE + 2 + np.clip(raw_atoms[:, 1], -2, 2)
    columns[:, 3] = _HYDROGENS + np.minimum(raw_atoms[:, 2], 4)
    columns[:, 4] = _HYBRID_TABLE[raw_atoms[:, 3]]
    columns[:, 5] = np.where(raw_atoms[:, 4] != 0, _AROMATIC, _ATOM_OFF)
    columns[:, 6] = _ATOM_OFF
    columns[np.array(ring_atoms, dtype=np.int64), 6] = _ATOM_RING
    packed_bonds = np.empty((len(raw_bonds), 5), dtype=np.int32)
    packed_bonds[:, :2] = raw_bonds[:, :2]
    packed_bonds[:, 2] = _BOND_TABLE[raw_bonds[:, 2]]
    packed_bonds[:, 3] = np.where(raw_bonds[:, 3] != 0, _CONJUGATED, _BOND_OFF)
    packed_bonds[:, 4] = _BOND_OFF
    packed_bonds[np.array(ring_bonds, dtype=np.int64), 4] = _BOND_RING
    return EncodedGraphs(
        atom_columns=columns,
        bonds=packed_bonds,
        atoms_per_graph=atoms_per_graph,
        bonds_per_graph=bonds_per_graph,
        invalid=tuple(invalid),
    )


def to_batch(encoded: EncodedGraphs) -> Batch:
    """One PyG `Batch` of all encoded molecules, built without per-molecule `Data` objects."""
    import torch
    from torch_geometric.data import Batch

    counts = torch.from_numpy(encoded.atoms_per_graph)
    ptr = torch.zeros(encoded.num_graphs + 1, dtype=torch.long)
    ptr[1:] = torch.cumsum(counts, 0)
    return Batch(
        x=torch.from_numpy(encoded.node_features()),
        edge_index=torch.from_numpy(encoded.edge_index()),
        edge_attr=torch.from_numpy(encoded.edge_features()),
        batch=torch.repeat_interleave(torch.arange(encoded.num_graphs), counts),
        ptr=ptr,
    )


def to_data_list(encoded: EncodedGraphs) -> list[Data]:
    """One `Data` per encoded molecule (edge indices numbered within each molecule)."""
    import torch
    from torch_geometric.data import Data

    x = torch.from_numpy(encoded.node_features())
    attr = torch.from_numpy(encoded.edge_features())
    local = encoded.bonds[:, :2].astype(np.int64)
    edges = torch.from_numpy(
        np.stack([local.ravel(), local[:, ::-1].ravel()]) if len(local) else np.zeros((2, 0))
    ).long()
    out = []
    atom_start = bond_start = 0
    for n_atoms, n_bonds in zip(encoded.atoms_per_graph, encoded.bonds_per_graph, strict=True):
        e0, e1 = 2 * bond_start, 2 * (bond_start + n_bonds)
        out.append(
            Data(
                x=x[atom_start : atom_start + n_atoms].clone(),
                edge_index=edges[:, e0:e1].clone(),
                edge_attr=attr[e0:e1].clone(),
            )
        )
        atom_start += int(n_atoms)
        bond_start += int(n_bonds)
    return out


def featurize(smiles: str) -> Data:
    """The graph of one molecule; raises `InvalidMolecule` naming the SMILES and the reason."""
    encoded = encode_many([smiles])
    if encoded.invalid:
        raise InvalidMolecule(smiles, encoded.invalid[0][1])
    return to_data_list(encoded)[0]


def featurize_many(smiles: Sequence[str]) -> tuple[list[Data], list[tuple[int, str]]]:
    """Graphs of the valid SMILES, and (index, reason) of the invalid ones: one bad entry in a
    library must not stop the rest."""
    encoded = encode_many(smiles)
    return to_data_list(encoded), list(encoded.invalid)
