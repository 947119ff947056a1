"""A deterministic library of small solvent-like molecules, enumerated rather than downloaded.

Carbonates, esters, ethers, sulfones, nitriles and sulfites built from small (partly
fluorinated) side groups: the chemical families of liquid-electrolyte solvents (K. Xu, Chem. Rev.
104 (2004) 4303). Used as the pool of the molecular surrogate's active learning, where every
member must be a neutral closed-shell molecule small enough for a quick GFN2-xTB calculation.
"""

from __future__ import annotations

import itertools
import random

from rdkit import Chem, RDLogger

SIDE_GROUPS = (
    "C", "CC", "CCC", "C(C)C", "CCCC", "CC(C)C", "C1CC1", "CCF", "CC(F)F", "CC(F)(F)F",
    "C(F)(F)F", "CC(F)(F)C(F)(F)F", "CCOC", "CCC#N", "COC", "C=C", "CC=C", "CCCl",
)  # fmt: skip
"""R groups (written as the atoms after the attachment point)."""

FAMILIES = (
    "{a}OC(=O)O{b}",  # linear carbonates
    "{a}C(=O)O{b}",  # esters
    "{a}O{b}",  # ethers
    "{a}S(=O)(=O){b}",  # sulfones
    "{a}OS(=O)O{b}",  # sulfites
    "N#C{a}",  # nitriles (one side group)
)


def solvent_like_library(n: int | None = None, seed: int = 0) -> list[str]:
    """Canonical SMILES, unique, in a fixed shuffled order; the first `n` (all if None)."""
    RDLogger.DisableLog("rdApp.*")
    found: dict[str, None] = {}
    for family in FAMILIES:
        pairs = (
            itertools.combinations_with_replacement(SIDE_GROUPS, 2)
            if "{b}" in family
            else ((group, "") for group in SIDE_GROUPS)
        )
        for a, b in pairs:
            mol = Chem.MolFromSmiles(family.format(a=a, b=b))
            if mol is not None:
                found[Chem.MolToSmiles(mol)] = None
    smiles = sorted(found)
    random.Random(seed).shuffle(smiles)
    return smiles if n is None else smiles[:n]
