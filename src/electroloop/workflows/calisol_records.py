"""Cleaned CALiSol-23 points as `MixtureRecord`s: CALiSol names become SMILES.

This is composition, not science: `electroloop.simulations.calisol` cleans the data and
`electroloop.surrogates.mixture` knows nothing about CALiSol, so the name → SMILES tables that
join them live here.

SMILES are PubChem's (https://pubchem.ncbi.nlm.nih.gov, compound pages by the IUPAC name given
beside each entry), written as RDKit reads them. Each one's molar mass agrees with
`calisol.SOLVENT_MOLAR_MASS` / `SALT_MOLAR_MASS` within 0.05 g/mol
(tests/unit/workflows/test_calisol_records.py). TFP is tris(2,2,2-trifluoroethyl) phosphate, the
flame retardant of its only source (Xu et al., doi:10.1149/1.1513556).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from electroloop.simulations.calisol import CalisolPoint
from electroloop.surrogates.mixture import MixtureRecord

SOLVENT_SMILES: dict[str, str] = {
    "EC": "O=C1OCCO1",  # 1,3-dioxolan-2-one
    "PC": "CC1COC(=O)O1",  # 4-methyl-1,3-dioxolan-2-one
    "DMC": "COC(=O)OC",  # dimethyl carbonate
    "EMC": "CCOC(=O)OC",  # ethyl methyl carbonate
    "DEC": "CCOC(=O)OCC",  # diethyl carbonate
    "FEC": "O=C1OCC(F)O1",  # 4-fluoro-1,3-dioxolan-2-one
    "DME": "COCCOC",  # 1,2-dimethoxyethane
    "2-Glyme": "COCCOCCOC",  # 1-methoxy-2-(2-methoxyethoxy)ethane (diglyme)
    "3-Glyme": "COCCOCCOCCOC",  # triethylene glycol dimethyl ether (triglyme)
    "4-Glyme": "COCCOCCOCCOCCOC",  # tetraethylene glycol dimethyl ether (tetraglyme)
    "Ethylmonoglyme": "CCOCCOCC",  # 1,2-diethoxyethane
    "THF": "C1CCOC1",  # oxolane
    "2-MeTHF": "CC1CCCO1",  # 2-methyloxolane
    "DOL": "C1COCO1",  # 1,3-dioxolane
    "g-Butyrolactone": "O=C1CCCO1",  # oxolan-2-one
    "EA": "CCOC(C)=O",  # ethyl acetate
    "MA": "COC(C)=O",  # methyl acetate
    "AN": "CC#N",  # acetonitrile
    "DMSO": "CS(C)=O",  # methylsulfinylmethane
    "Sulfolane": "O=S1(=O)CCCC1",  # thiolane 1,1-dioxide
    "TFP": "O=P(OCC(F)(F)F)(OCC(F)(F)F)OCC(F)(F)F",  # tris(2,2,2-trifluoroethyl) phosphate
}
"""CALiSol solvent column → SMILES, for every solvent that survives `load_calisol`."""

SALT_SMILES: dict[str, str] = {
    "LiPF6": "F[P-](F)(F)(F)(F)F.[Li+]",  # lithium hexafluorophosphate
    "LiBF4": "F[B-](F)(F)F.[Li+]",  # lithium tetrafluoroborate
    "LiAsF6": "F[As-](F)(F)(F)(F)F.[Li+]",  # lithium hexafluoroarsenate
    "LiClO4": "[O-]Cl(=O)(=O)=O.[Li+]",  # lithium perchlorate
    "LiBOB": "O=C1O[B-]2(OC1=O)OC(=O)C(=O)O2.[Li+]",  # lithium bis(oxalato)borate
    "LiTFSI": "O=S(=O)([N-]S(=O)(=O)C(F)(F)F)C(F)(F)F.[Li+]",  # Li triflimide
    "LiFSI": "O=S(=O)(F)[N-]S(=O)(=O)F.[Li+]",  # lithium bis(fluorosulfonyl)imide
    "LiCF3SO3": "O=S(=O)([O-])C(F)(F)F.[Li+]",  # lithium trifluoromethanesulfonate
}
"""CALiSol salt name (after `calisol` merges aliases) → SMILES, for every salt it keeps."""


@dataclass(frozen=True)
class Conversion:
    """Records made, and the points skipped per unknown solvent or salt name."""

    records: tuple[MixtureRecord, ...]
    skipped: Mapping[str, int]


def to_record(point: CalisolPoint) -> MixtureRecord:
    """One point as a record (group = DOI); raises `KeyError` naming an unknown solvent/salt."""
    return MixtureRecord(
        components=tuple((SOLVENT_SMILES[name], w) for name, w in point.fractions),
        salt_smiles=SALT_SMILES[point.salt],
        molality=point.molality,
        temperature=point.temperature,
        target=point.conductivity,
        group=point.doi,
    )


def to_records(points: Iterable[CalisolPoint]) -> Conversion:
    """Every point with known names as a record; the rest counted by the missing name."""
    records: list[MixtureRecord] = []
    skipped: Counter[str] = Counter()
    for point in points:
        try:
            records.append(to_record(point))
        except KeyError as exc:
            skipped[str(exc.args[0])] += 1
    return Conversion(records=tuple(records), skipped=dict(skipped))
