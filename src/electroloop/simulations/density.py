"""Density of LiPF6 / carbonate electrolytes, and molality <-> molarity conversion.

Why: conductivity correlations are published against molarity (mol/L) while electroloop doses by
mass (molality), so every conductivity call crosses this bridge.

Model (all at atmospheric pressure):

- pure solvents: density at 25 °C from K. Xu, "Nonaqueous Liquid Electrolytes for Lithium-Based
  Rechargeable Batteries", Chem. Rev. 104 (2004) 4303, doi:10.1021/cr030203g, Table 1
  (EC is the sub-cooled liquid value listed there), linear in temperature with an isobaric
  expansivity typical of these carbonates (see `SOLVENT_EXPANSIVITY`);
- solvent blend: ideal volume mixing of the mass fractions (excess volumes of carbonate
  blends are a few tenths of a percent and are neglected);
- salt: a constant apparent molar volume, calibrated so that 1 mol/L LiPF6 in EC:EMC 3:7 (w/w)
  has 1.20 g/mL at 25 °C, the value used by L. S. Kremer et al., Batteries & Supercaps 3 (2020)
  1172, doi:10.1002/batt.202000098 (with Landesfeind & Gasteiger 2019, doi:10.1149/2.0571912jes).

Beyond LiPF6 in EC/EMC/DMC (`SOLVENTS`, `SALTS`: the domain of `conductivity`), the tables also
hold the solvents and salts of the CALiSol-fitted model (`SOLVENT_SMILES`, `SALT_SMILES`), so that
the simulated lab can make stocks of them; see those tables for sources and assumptions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from electroloop.errors import SimulationError

SOLVENTS: dict[str, str] = {
    "EC": "O=C1OCCO1",
    "EMC": "CCOC(=O)OC",
    "DMC": "COC(=O)OC",
}
"""Supported solvent names -> RDKit canonical SMILES (`Chem.CanonSmiles`)."""

SALTS: dict[str, str] = {"LiPF6": "F[P-](F)(F)(F)(F)F.[Li+]"}
"""Supported salt names -> RDKit canonical SMILES."""

SOLVENT_SMILES: dict[str, str] = {
    **SOLVENTS,
    "PC": "CC1COC(=O)O1",
    "DEC": "CCOC(=O)OCC",
    "FEC": "O=C1OCC(F)O1",
    "DME": "COCCOC",
}
"""Every solvent with a density here, CALiSol column name -> RDKit canonical SMILES (`SOLVENTS`
plus propylene, diethyl and fluoroethylene carbonate and 1,2-dimethoxyethane)."""

SALT_SMILES: dict[str, str] = {
    **SALTS,
    "LiBF4": "F[B-](F)(F)F.[Li+]",
    "LiBOB": "O=C1O[B-]2(OC1=O)OC(=O)C(=O)O2.[Li+]",
}
"""Every salt with a density model here, CALiSol name -> RDKit canonical SMILES."""

SOLVENT_DENSITY_25C: dict[str, float] = {
    "O=C1OCCO1": 1.321,
    "CCOC(=O)OC": 1.006,
    "COC(=O)OC": 1.063,
    "CC1COC(=O)O1": 1.200,
    "CCOC(=O)OCC": 0.969,
    "COCCOC": 0.86,
    "O=C1OCC(F)O1": 1.454,
}
"""g/mL at 25 °C; EC, EMC, DMC, PC, DEC, DME: Xu, Chem. Rev. 104 (2004) 4303, Table 1; FEC:
supplier data sheets (1.45–1.46 g/mL). The same values as `calisol.SOLVENT_DENSITY`, with which
CALiSol's volume fractions were converted for the fit of `electrolyte`."""

SOLVENT_EXPANSIVITY: dict[str, float] = {
    "O=C1OCCO1": 0.9e-3,
    "CCOC(=O)OC": 1.2e-3,
    "COC(=O)OC": 1.2e-3,
    "CC1COC(=O)O1": 0.9e-3,
    "O=C1OCC(F)O1": 0.9e-3,
    "CCOC(=O)OCC": 1.2e-3,
    "COCCOC": 1.2e-3,
}
"""Isobaric volume expansivity, 1/K: ρ(T) = ρ25 / (1 + α (T − 25)).

Rounded values typical of liquid carbonates (DMC: about 1.2e-3 1/K near 25 °C from the reference
equation of state of Zhou, Wu & Lemmon, J. Phys. Chem. Ref. Data 40 (2011) 043106,
doi:10.1063/1.3664084; EMC assumed alike; EC is stiffer). They change density by < 2 % over
0–40 °C and do not enter the conductivity model, which uses 25 °C molarities. PC, FEC (cyclic)
are assumed like EC, DEC and DME (acyclic) like DMC: unsourced, and harmless for the same reason
(stocks are made at 25 °C; the CALiSol-fitted model takes molality).
"""

SALT_MOLAR_MASS: dict[str, float] = {
    "F[P-](F)(F)(F)(F)F.[Li+]": 151.903,
    "F[B-](F)(F)F.[Li+]": 93.745,
    "O=C1O[B-]2(OC1=O)OC(=O)C(=O)O2.[Li+]": 193.789,
}
"""g/mol, RDKit `Descriptors.MolWt` of the canonical SMILES."""

SALT_APPARENT_MOLAR_VOLUME: dict[str, float] = {
    "F[P-](F)(F)(F)(F)F.[Li+]": 32.68,
    "F[B-](F)(F)F.[Li+]": 20.17,
    "O=C1O[B-]2(OC1=O)OC(=O)C(=O)O2.[Li+]": 41.69,
}
"""mL/mol. LiPF6: solves ρ = 1.20 g/mL for 1 mol/L LiPF6 in EC:EMC 3:7 (w/w) at 25 °C (Kremer
2020). LiBF4, LiBOB: no measured value is tabulated here, so φ = M · 32.68/151.903 (the LiPF6
mass per volume applied to each salt), the assumption `calisol` makes when it converts CALiSol's
molarities for the fit; it moves a molarity by < 3 % at 1 mol/L."""

TEMPERATURE_RANGE = (-20.0, 60.0)
"""°C over which the linear expansivities are used."""

MAX_MOLALITY = 5.0
"""mol/kg; the apparent-molar-volume model is not meant for solvates beyond this."""

FRACTION_TOLERANCE = 1e-6
"""How far the solvent mass fractions may sum away from 1."""


def _known_salt(salt: str) -> str:
    if salt not in SALT_MOLAR_MASS:
        raise SimulationError(
            f"salt SMILES {salt!r} is not supported; allowed: {sorted(SALT_MOLAR_MASS)}"
        )
    return salt


def _check_temperature(temperature: float) -> None:
    low, high = TEMPERATURE_RANGE
    if not (math.isfinite(temperature) and low <= temperature <= high):
        raise SimulationError(f"temperature is {temperature!r} °C; allowed: {low}..{high} °C")


def solvent_density(smiles: str, temperature: float) -> float:
    """Density of one pure solvent, g/mL, at `temperature` °C."""
    if smiles not in SOLVENT_DENSITY_25C:
        raise SimulationError(
            f"solvent SMILES {smiles!r} is not supported; allowed: {sorted(SOLVENT_DENSITY_25C)}"
        )
    _check_temperature(temperature)
    return SOLVENT_DENSITY_25C[smiles] / (1.0 + SOLVENT_EXPANSIVITY[smiles] * (temperature - 25.0))


def solvent_blend_density(fractions: Mapping[str, float], temperature: float) -> float:
    """Density of the salt-free blend, g/mL, from mass fractions by ideal volume mixing."""
    total = math.fsum(fractions.values())
    if not math.isfinite(total) or abs(total - 1.0) > FRACTION_TOLERANCE:
        raise SimulationError(f"solvent fractions sum to {total:.9g}; allowed: 1 within 1e-6")
    specific_volume = 0.0
    for smiles, fraction in fractions.items():
        if not (math.isfinite(fraction) and 0.0 <= fraction <= 1.0 + FRACTION_TOLERANCE):
            raise SimulationError(f"fraction of {smiles!r} is {fraction!r}; allowed: 0..1")
        specific_volume += fraction / solvent_density(smiles, temperature)
    return 1.0 / specific_volume


def _check_molality(molality: float) -> None:
    if not (math.isfinite(molality) and 0.0 <= molality <= MAX_MOLALITY):
        raise SimulationError(f"molality is {molality!r} mol/kg; allowed: 0..{MAX_MOLALITY} mol/kg")


def _volume_per_kg_solvent(
    fractions: Mapping[str, float], salt: str, molality: float, temperature: float
) -> float:
    """mL of solution holding 1 kg of solvent blend."""
    blend = solvent_blend_density(fractions, temperature)
    return 1000.0 / blend + molality * SALT_APPARENT_MOLAR_VOLUME[salt]


def density(
    fractions: Mapping[str, float], salt: str, molality: float, temperature: float
) -> float:
    """Solution density, g/mL, for solvent mass fractions and salt molality (mol/kg)."""
    salt = _known_salt(salt)
    _check_molality(molality)
    volume = _volume_per_kg_solvent(fractions, salt, molality, temperature)
    return (1000.0 + molality * SALT_MOLAR_MASS[salt]) / volume


def molarity(
    fractions: Mapping[str, float], salt: str, molality: float, temperature: float
) -> float:
    """Salt concentration in mol/L of solution at `temperature` °C."""
    salt = _known_salt(salt)
    _check_molality(molality)
    return 1000.0 * molality / _volume_per_kg_solvent(fractions, salt, molality, temperature)


def molality_from_molarity(
    fractions: Mapping[str, float], salt: str, molarity: float, temperature: float
) -> float:
    """Inverse of `molarity`: mol/kg of solvent for a concentration in mol/L at `temperature`.

    From c = 1000 m / (1000/ρ_blend + m φ_V): m = c (1000/ρ_blend) / (1000 − c φ_V).
    """
    salt = _known_salt(salt)
    phi = SALT_APPARENT_MOLAR_VOLUME[salt]
    if not (math.isfinite(molarity) and 0.0 <= molarity < 1000.0 / phi):
        raise SimulationError(
            f"molarity is {molarity!r} mol/L; allowed: 0..{1000.0 / phi:.1f} mol/L"
        )
    blend = solvent_blend_density(fractions, temperature)
    molality = molarity * (1000.0 / blend) / (1000.0 - molarity * phi)
    _check_molality(molality)
    return molality
