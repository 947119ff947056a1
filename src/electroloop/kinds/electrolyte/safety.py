"""Chemical-safety rules for campaigns that dose formulations (electrolyte and cycling kinds).

Each rule looks at what the search space allows, not at one design: anything the space allows
the planner may propose, so a space is refused as a whole, before anything is dispatched. The
rules, their sources and how to override one are listed in docs/safety.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rdkit import Chem

from electroloop.models import SearchSpace, Solvent
from electroloop.orchestrator.safety import Hazard

__all__ = ["RULES", "SOLVENT_SAFETY", "SolventSafety", "formulation_hazards", "voltage_hazards"]

RULES: dict[str, str] = {
    "hf-hazard": "a fluorinated salt that hydrolyses (P-F, B-F, As-F bonds: LiPF6, LiBF4, "
    "LiAsF6) with water or a protic solvent releases HF (refuses)",
    "near-boiling": "a temperature within 20 °C of a solvent's boiling point pressurises "
    "sealed vials and cells (refuses)",
    "above-flash-point": "a temperature at or above a solvent's flash point: flammable vapour "
    "over the sample (caution)",
    "no-safety-data": "a solvent with no boiling or flash point on record here (caution)",
    "voltage-window": "a cell charged above the anodic stability limit of a solvent oxidises it "
    "(gas, heat; refuses)",
}
"""Rule id -> what it guards against (and whether it refuses or cautions)."""

BOILING_MARGIN = 20.0
"""°C kept below each solvent's boiling point: vapour pressure rises steeply towards it (an
assumption of this project, in the spirit of the 'well below the boiling point' advice of
solvent safety data sheets), and vials and coin cells are sealed."""


@dataclass(frozen=True)
class SolventSafety:
    """A solvent's data the rules use, with where they come from."""

    name: str
    boiling_point: float
    """°C at 1 atm."""
    flash_point: float
    """°C, closed cup."""
    anodic_limit: float
    """V vs Li/Li+: above this the solvent oxidises on a charged cathode."""
    source: str


_CARBONATE_LIMIT = 4.5
"""V vs Li/Li+: carbonate electrolytes' oxidation onset on cathode materials, about 4.5 V (K. Xu,
Chem. Rev. 104 (2004) 4303, §6; J. B. Goodenough & Y. Kim, Chem. Mater. 22 (2010) 587, Fig. 2)."""
_XU_TABLE_1 = "K. Xu, Chem. Rev. 104 (2004) 4303, Table 1 (Tb, Tf)"

SOLVENT_SAFETY: dict[str, SolventSafety] = {
    Chem.CanonSmiles(smiles): data
    for smiles, data in (
        ("C1COC(=O)O1", SolventSafety("EC", 248.0, 160.0, _CARBONATE_LIMIT, _XU_TABLE_1)),
        ("CC1COC(=O)O1", SolventSafety("PC", 242.0, 132.0, _CARBONATE_LIMIT, _XU_TABLE_1)),
        ("COC(=O)OC", SolventSafety("DMC", 91.0, 18.0, _CARBONATE_LIMIT, _XU_TABLE_1)),
        ("CCOC(=O)OCC", SolventSafety("DEC", 126.0, 31.0, _CARBONATE_LIMIT, _XU_TABLE_1)),
        (
            "CCOC(=O)OC",
            SolventSafety(
                "EMC",
                110.0,
                23.0,
                _CARBONATE_LIMIT,
                "Tb: K. Xu, Chem. Rev. 104 (2004) 4303, Table 1; Tf: supplier safety data "
                "sheets for CAS 623-53-0 (23 °C, closed cup)",
            ),
        ),
        (
            "O=C1OCC(F)O1",
            SolventSafety(
                "FEC",
                212.0,
                120.0,
                _CARBONATE_LIMIT,
                "supplier safety data sheets for CAS 114435-02-8 (Tb about 212 °C, Tf about "
                "120 °C); the carbonate oxidation limit, conservatively",
            ),
        ),
        (
            "COCCOC",
            SolventSafety(
                "DME",
                84.0,
                0.0,
                4.0,
                "K. Xu, Chem. Rev. 104 (2004) 4303, Table 2 (Tb, Tf) and §2.2 (ethers oxidise "
                "below about 4 V vs Li/Li+)",
            ),
        ),
    )
}
"""Canonical SMILES -> safety data, for every solvent the simulated lab can make stocks of."""

_HYDROLYSABLE_FLUORIDE = Chem.MolFromSmarts("F[P,B,As]")
_PROTIC_HYDROGEN = Chem.MolFromSmarts("[O,N,S;!H0]")


def formulation_hazards(space: SearchSpace, temperature: float) -> list[Hazard]:
    """The hazards of dosing anything `space` allows, at `temperature` °C."""
    solvents = _possible(space.solvents)
    hazards: list[Hazard] = []
    salt = Chem.MolFromSmiles(space.salt.smiles)
    protic = [s.name for s in solvents if _is_protic(s.smiles)]
    if salt is not None and salt.HasSubstructMatch(_HYDROLYSABLE_FLUORIDE) and protic:
        hazards.append(
            Hazard(
                "hf-hazard",
                f"salt {space.salt.name} hydrolyses to HF with the protic solvents {protic} "
                "(water, alcohols, amines); use an aprotic solvent or a salt without P-F/B-F "
                "bonds (e.g. LiTFSI)",
            )
        )
    for solvent in solvents:
        data = SOLVENT_SAFETY.get(Chem.CanonSmiles(solvent.smiles))
        if data is None:
            hazards.append(
                Hazard(
                    "no-safety-data",
                    f"solvent {solvent.name}: no boiling or flash point on record; check its "
                    "safety data sheet before dosing it",
                    refuse=False,
                )
            )
            continue
        if temperature > data.boiling_point - BOILING_MARGIN:
            hazards.append(
                Hazard(
                    "near-boiling",
                    f"temperature {temperature:g} °C is within {BOILING_MARGIN:g} °C of "
                    f"{solvent.name}'s boiling point {data.boiling_point:g} °C; allowed: <= "
                    f"{data.boiling_point - BOILING_MARGIN:g} °C with {solvent.name}",
                )
            )
        if temperature >= data.flash_point:
            hazards.append(
                Hazard(
                    "above-flash-point",
                    f"temperature {temperature:g} °C is at or above {solvent.name}'s flash point "
                    f"{data.flash_point:g} °C: dose under inert gas, away from ignition sources",
                    refuse=False,
                )
            )
    return hazards


def voltage_hazards(space: SearchSpace, max_voltage: float, chemistry: str) -> list[Hazard]:
    """The hazards of charging cells filled with what `space` allows to `max_voltage` V."""
    hazards = []
    for solvent in _possible(space.solvents):
        data = SOLVENT_SAFETY.get(Chem.CanonSmiles(solvent.smiles))
        if data is not None and max_voltage > data.anodic_limit:
            hazards.append(
                Hazard(
                    "voltage-window",
                    f"{chemistry} cells charge to {max_voltage:g} V, above {solvent.name}'s "
                    f"anodic stability limit {data.anodic_limit:g} V vs Li/Li+; allowed: "
                    f"max_fraction = 0 for {solvent.name}, or a chemistry charged to <= "
                    f"{data.anodic_limit:g} V",
                )
            )
    return hazards


def _possible(solvents: Iterable[Solvent]) -> list[Solvent]:
    """The solvents a design may contain (a max_fraction of 0 rules one out)."""
    return [s for s in solvents if s.max_fraction > 0.0]


def _is_protic(smiles: str) -> bool:
    molecule = Chem.MolFromSmiles(smiles)
    return molecule is not None and molecule.HasSubstructMatch(_PROTIC_HYDROGEN)
