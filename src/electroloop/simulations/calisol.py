"""CALiSol-23 loaded and cleaned into plain frozen records (molality, mass fractions, °C).

Dataset: P. de Blasio et al., "CALiSol-23: Experimental electrolyte conductivity data for various
Li-salts and solvent combinations", Sci. Data (2024), doi:10.1038/s41597-024-03575-8 (CC BY 4.0).
The caller passes the path of `calisol23.csv`; nothing is downloaded.

Cleaning, as the dataset's SOURCE.md asks:

- salt names are stripped and merged: ``" LiBPFPB"`` → ``LiBPFPB``, ``LiN(CF3SO2)2`` → ``LiTFSI``;
- rows without a conductivity, with a negative conductivity (digitisation artefacts down to
  −0.17 mS/cm) or a non-positive concentration are dropped;
- source `MIS_SCALED_SOURCE` (k ≈ 100× too low) is dropped;
- volume fractions become mass fractions with the pure-solvent densities of `SOLVENT_DENSITY`,
  mole fractions with the molar masses of `SOLVENT_MOLAR_MASS`;
- molarities (mol/L) become molalities (mol/kg of solvent): 1 L of solution holds c mol of salt
  occupying c·φ mL and (1000 − c·φ)·ρ_blend g of solvent, so m = 1000 c / ((1000 − c φ) ρ_blend),
  with ρ_blend from ideal volume mixing at 25 °C (solutions are labelled as prepared) and the
  apparent molar volume φ = M_salt / `SALT_MASS_PER_VOLUME` (the LiPF6 calibration of
  `electroloop.simulations.density`, 151.9 g/mol / 32.68 mL/mol, applied to every salt: an
  approximation that moves m by < 3 % at 1 mol/L for salts from LiBF4 to LiTFSI).

Rows needing a property not tabulated here are dropped and counted in `CalisolData.dropped`.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

MIS_SCALED_SOURCE = "10.1007/s10008-002-0300-9"
"""Reports k ≤ 0.16 mS/cm at 1 mol/kg for LiPF6 in EC/DMC/DEC, ~100× too low (SOURCE.md)."""

SALT_ALIASES: dict[str, str] = {"LiN(CF3SO2)2": "LiTFSI"}
"""Spellings merged into one salt name (after stripping whitespace)."""

SOLVENT_DENSITY: dict[str, float] = {
    "EC": 1.321,
    "PC": 1.200,
    "DMC": 1.063,
    "EMC": 1.006,
    "DEC": 0.969,
    "DME": 0.86,
    "THF": 0.88,
    "2-MeTHF": 0.85,
    "DOL": 1.06,
    "g-Butyrolactone": 1.129,
    "FEC": 1.454,
    "DMSO": 1.095,
    "AN": 0.777,
    "Sulfolane": 1.261,
    "2-Glyme": 0.937,
    "3-Glyme": 0.986,
    "4-Glyme": 1.009,
    "Ethylmonoglyme": 0.842,
    "EA": 0.894,
    "MA": 0.928,
}
"""Pure-solvent density, g/mL near 25 °C. EC…DOL: K. Xu, Chem. Rev. 104 (2004) 4303,
doi:10.1021/cr030203g, Table 1 (EC sub-cooled); the others: CRC Handbook of Chemistry and
Physics (97th ed., 2016), "Physical constants of organic compounds" (sulfolane at 30 °C, its
melting point being 27 °C; FEC: supplier data sheets, 1.45–1.46 g/mL)."""

SOLVENT_MOLAR_MASS: dict[str, float] = {
    "EC": 88.06,
    "PC": 102.09,
    "DMC": 90.08,
    "EMC": 104.10,
    "DEC": 118.13,
    "DME": 90.12,
    "THF": 72.11,
    "2-MeTHF": 86.13,
    "DOL": 74.08,
    "g-Butyrolactone": 86.09,
    "FEC": 106.05,
    "DMSO": 78.13,
    "AN": 41.05,
    "Sulfolane": 120.17,
    "2-Glyme": 134.17,
    "3-Glyme": 178.23,
    "4-Glyme": 222.28,
    "Ethylmonoglyme": 118.17,
    "EA": 88.11,
    "MA": 74.08,
}
"""g/mol, IUPAC 2013 standard atomic weights summed over each formula."""

SALT_MOLAR_MASS: dict[str, float] = {
    "LiPF6": 151.91,
    "LiBF4": 93.75,
    "LiTFSI": 287.09,
    "LiFSI": 187.07,
    "LiAsF6": 195.86,
    "LiClO4": 106.39,
    "LiBOB": 193.79,
    "LiCF3SO3": 156.01,
}
"""g/mol, IUPAC 2013 standard atomic weights summed over each formula."""

SALT_MASS_PER_VOLUME = 151.903 / 32.68
"""g/mL: M/φ of LiPF6 in carbonates (`electroloop.simulations.density`), used for every salt."""

Unit = Literal["mol/kg", "mol/l"]
Basis = Literal["w", "v", "mol"]


@dataclass(frozen=True)
class CalisolPoint:
    """One cleaned measurement.

    `conductivity` mS/cm; `temperature` °C; `molality` mol/kg of solvent; `fractions` solvent
    mass fractions of the salt-free blend, ``(name, w)`` pairs with w > 0, names as the CALiSol
    columns (``"EC"``, ``"PC"`` …), sorted by name; `unit` and `basis` as given by the source.
    """

    doi: str
    salt: str
    conductivity: float
    temperature: float
    molality: float
    fractions: tuple[tuple[str, float], ...]
    unit: Unit
    basis: Basis

    def fraction(self, solvent: str) -> float:
        """Mass fraction of `solvent` in the blend (0 if absent)."""
        return dict(self.fractions).get(solvent, 0.0)

    @property
    def solvents(self) -> frozenset[str]:
        """Names of the solvents present."""
        return frozenset(name for name, _ in self.fractions)


@dataclass(frozen=True)
class CalisolData:
    """Cleaned points plus how many raw rows each cleaning rule removed."""

    points: tuple[CalisolPoint, ...]
    dropped: Mapping[str, int]
    raw_rows: int


def mass_fractions(fractions: Mapping[str, float], basis: Basis) -> dict[str, float]:
    """Convert volume (``"v"``) or mole (``"mol"``) fractions to mass fractions summing to 1.

    Raises `KeyError` naming the solvent if its density / molar mass is not tabulated.
    """
    if basis == "w":
        weights = dict(fractions)
    elif basis == "v":
        weights = {name: f * SOLVENT_DENSITY[name] for name, f in fractions.items()}
    else:
        weights = {name: f * SOLVENT_MOLAR_MASS[name] for name, f in fractions.items()}
    total = math.fsum(weights.values())
    return {name: w / total for name, w in weights.items()}


def blend_density(fractions: Mapping[str, float]) -> float:
    """Salt-free blend density (g/mL, 25 °C) from mass fractions by ideal volume mixing."""
    return 1.0 / math.fsum(w / SOLVENT_DENSITY[name] for name, w in fractions.items())


def molality_from_molarity(fractions: Mapping[str, float], salt: str, molarity: float) -> float:
    """mol/kg of solvent for `molarity` mol/L (see the module docstring for the assumptions)."""
    phi = SALT_MOLAR_MASS[salt] / SALT_MASS_PER_VOLUME
    return 1000.0 * molarity / ((1000.0 - molarity * phi) * blend_density(fractions))


def _clean_row(row: Mapping[str, str], solvent_columns: list[str]) -> CalisolPoint | str:
    """A point, or the name of the rule that drops the row."""
    if row["doi"] == MIS_SCALED_SOURCE:
        return "mis-scaled source"
    k, c = float(row["k"]), float(row["c"])  # float() reads the file's "NaN" as nan
    if math.isnan(k):
        return "no conductivity"
    if k < 0.0:
        return "negative conductivity"
    if c <= 0.0:
        return "non-positive concentration"
    salt = row["salt"].strip()
    salt = SALT_ALIASES.get(salt, salt)
    raw = {name: float(row[name]) for name in solvent_columns if float(row[name]) > 0.0}
    basis: Basis = row["solvent ratio type"]  # type: ignore[assignment]
    unit: Unit = row["c units"]  # type: ignore[assignment]
    try:
        fractions = mass_fractions(raw, basis)
        molality = c if unit == "mol/kg" else molality_from_molarity(fractions, salt, c)
    except KeyError as exc:
        return f"no property data for {exc.args[0]}"
    return CalisolPoint(
        doi=row["doi"],
        salt=salt,
        conductivity=k,
        temperature=float(row["T"]) - 273.15,
        molality=molality,
        fractions=tuple(sorted(fractions.items())),
        unit=unit,
        basis=basis,
    )


def load_calisol(path: Path) -> CalisolData:
    """Read and clean `calisol23.csv` at `path` (the file itself, or its folder)."""
    if path.is_dir():
        path = path / "calisol23.csv"
    points: list[CalisolPoint] = []
    dropped: Counter[str] = Counter()
    raw_rows = 0
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        solvent_columns = list(reader.fieldnames or [])[7:]
        for row in reader:
            raw_rows += 1
            result = _clean_row(row, solvent_columns)
            if isinstance(result, str):
                dropped[result] += 1
            else:
                points.append(result)
    return CalisolData(points=tuple(points), dropped=dict(dropped), raw_rows=raw_rows)
