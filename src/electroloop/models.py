"""Frozen value objects passed between layers: search spaces, formulations, candidates, results.

Units are declared once, here, and nowhere else repeated in names:

- solvent fractions are *mass* fractions of the salt-free solvent blend (sum to 1);
- salt content is a *molality* in mol per kg of solvent blend;
- temperature is in degrees Celsius;
- masses are in grams; conductivity in mS/cm.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from rdkit import Chem, RDLogger
from rdkit.Chem import Descriptors

SUM_TOLERANCE = 1e-9
"""How far solvent mass fractions may sum away from 1."""

RDLogger.DisableLog("rdApp.*")  # RDKit prints parse errors itself; we raise our own.


class FrozenModel(BaseModel):
    """Immutable, strict-keyed base: unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_smiles(smiles: str) -> str:
    if Chem.MolFromSmiles(smiles) is None:
        raise ValueError(f"{smiles!r} is not a valid SMILES string")
    return smiles


class Solvent(FrozenModel):
    """A solvent of the blend with the allowed range of its mass fraction."""

    name: str = Field(min_length=1, description="Short name, e.g. 'EC'.")
    smiles: str = Field(description="SMILES of the solvent molecule.")
    min_fraction: float = Field(0.0, ge=0.0, le=1.0, description="Lowest mass fraction.")
    max_fraction: float = Field(1.0, ge=0.0, le=1.0, description="Highest mass fraction.")

    _smiles_ok = field_validator("smiles")(_check_smiles)

    @model_validator(mode="after")
    def _bounds_ordered(self) -> Solvent:
        if self.min_fraction > self.max_fraction:
            raise ValueError(
                f"min_fraction {self.min_fraction} exceeds max_fraction {self.max_fraction}"
            )
        return self

    @property
    def canonical_smiles(self) -> str:
        """RDKit canonical SMILES: the identity physics models look solvents up by."""
        return str(Chem.CanonSmiles(self.smiles))


class Salt(FrozenModel):
    """The lithium salt and the allowed molality range (mol/kg of solvent)."""

    name: str = Field(min_length=1, description="Short name, e.g. 'LiPF6'.")
    smiles: str = Field(description="SMILES of the salt, ions separated by '.'.")
    min_molality: float = Field(gt=0.0, le=5.0, description="Lowest molality, mol/kg.")
    max_molality: float = Field(gt=0.0, le=5.0, description="Highest molality, mol/kg.")

    _smiles_ok = field_validator("smiles")(_check_smiles)

    @model_validator(mode="after")
    def _bounds_ordered(self) -> Salt:
        if self.min_molality > self.max_molality:
            raise ValueError(
                f"min_molality {self.min_molality} exceeds max_molality {self.max_molality}"
            )
        return self

    @cached_property
    def molar_mass(self) -> float:
        """Molar mass in g/mol, from the SMILES (average atomic masses, RDKit)."""
        return float(Descriptors.MolWt(Chem.MolFromSmiles(self.smiles)))

    @property
    def canonical_smiles(self) -> str:
        """RDKit canonical SMILES of the salt."""
        return str(Chem.CanonSmiles(self.smiles))


class Formulation(FrozenModel):
    """One electrolyte: solvent mass fractions, salt molality and the temperature it is used at."""

    fractions: dict[str, float] = Field(description="Solvent name -> mass fraction of the blend.")
    salt: str = Field(description="Salt name.")
    molality: float = Field(ge=0.0, le=10.0, description="Salt molality, mol/kg of solvent.")
    temperature: float = Field(ge=-60.0, le=150.0, description="Temperature, °C.")

    @field_validator("fractions")
    @classmethod
    def _fractions_valid(cls, fractions: dict[str, float]) -> dict[str, float]:
        if not fractions:
            raise ValueError("at least one solvent fraction is required")
        for name, value in fractions.items():
            if not math.isfinite(value) or value < 0.0:
                raise ValueError(f"fraction of {name} is {value}; allowed: a number >= 0")
        total = math.fsum(fractions.values())
        if abs(total - 1.0) > SUM_TOLERANCE:
            raise ValueError(f"solvent fractions sum to {total!r}; allowed: 1 within 1e-9")
        return fractions


class SearchSpace(FrozenModel):
    """Where a planner may propose: a solvent mixture, one salt and a fixed temperature."""

    solvents: tuple[Solvent, ...] = Field(min_length=2, description="Solvents of the blend.")
    salt: Salt
    temperature: float = Field(ge=-40.0, le=100.0, description="Fixed temperature, °C.")

    @model_validator(mode="after")
    def _mixture_feasible(self) -> SearchSpace:
        names = [s.name for s in self.solvents]
        if len(set(names)) != len(names):
            raise ValueError(f"solvent names must be unique, got {names}")
        low = math.fsum(s.min_fraction for s in self.solvents)
        high = math.fsum(s.max_fraction for s in self.solvents)
        if low > 1.0 + SUM_TOLERANCE or high < 1.0 - SUM_TOLERANCE:
            raise ValueError(
                f"solvent fraction bounds cannot sum to 1 (minimums sum to {low:g}, "
                f"maximums to {high:g}); allowed: minimums <= 1 <= maximums"
            )
        return self

    @property
    def solvent_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.solvents)

    def check(self, formulation: Formulation) -> None:
        """Raise ValueError naming the field if `formulation` lies outside this space."""
        if set(formulation.fractions) != set(self.solvent_names):
            raise ValueError(
                f"formulation solvents {sorted(formulation.fractions)} differ from the "
                f"search space's {sorted(self.solvent_names)}"
            )
        for solvent in self.solvents:
            value = formulation.fractions[solvent.name]
            if (
                not solvent.min_fraction - SUM_TOLERANCE
                <= value
                <= solvent.max_fraction + SUM_TOLERANCE
            ):
                raise ValueError(
                    f"fraction of {solvent.name} is {value!r}; allowed: "
                    f"{solvent.min_fraction}..{solvent.max_fraction}"
                )
        salt = self.salt
        if formulation.salt != salt.name:
            raise ValueError(f"salt is {formulation.salt!r}; allowed: {salt.name!r}")
        if (
            not salt.min_molality - SUM_TOLERANCE
            <= formulation.molality
            <= salt.max_molality + SUM_TOLERANCE
        ):
            raise ValueError(
                f"molality is {formulation.molality!r}; allowed: "
                f"{salt.min_molality}..{salt.max_molality} mol/kg"
            )


class Stock(FrozenModel):
    """A stock bottle on the dosing station: one solvent, optionally with dissolved salt."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.+-]+$", description="Unique stock name.")
    solvent: str = Field(description="Name of the solvent (as in the search space).")
    solvent_smiles: str
    salt: str | None = Field(None, description="Name of the dissolved salt, if any.")
    salt_smiles: str | None = None
    salt_molality: float = Field(0.0, ge=0.0, le=10.0, description="mol/kg of solvent.")
    density: float = Field(gt=0.0, le=5.0, description="Nominal density at 25 °C, g/mL.")
    initial_mass: float = Field(gt=0.0, description="Mass in the bottle when loaded, g.")

    @model_validator(mode="after")
    def _salt_consistent(self) -> Stock:
        if (self.salt is None) != (self.salt_molality == 0.0):
            raise ValueError("a stock has a salt name exactly when its salt_molality is > 0")
        return self


class Objective(FrozenModel):
    """What the campaign optimises."""

    name: Literal["conductivity"] = "conductivity"
    direction: Literal["maximize", "minimize"] = "maximize"
    unit: Literal["mS/cm"] = "mS/cm"


class Estimate(FrozenModel):
    """A predicted value with its standard deviation."""

    mean: float
    std: float = Field(ge=0.0)


class Candidate(FrozenModel):
    """A formulation a planner proposed, under a campaign-unique id."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Unique within the campaign.")
    formulation: Formulation
    planner: str = Field(description="Which planner proposed it.")
    predicted: Estimate | None = Field(None, description="The planner's prediction, if any.")


class Transcript(FrozenModel):
    """Raw instrument traffic behind a result, kept verbatim with its SHA-256."""

    instrument: str
    text: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class DosingRecord(FrozenModel):
    """What a dosing station put into a vial: targets, weighed masses, resulting formulation."""

    candidate_id: str
    target_masses: dict[str, float] = Field(description="Stock name -> target mass, g.")
    dosed_masses: dict[str, float] = Field(description="Stock name -> weighed mass, g.")
    as_dosed: Formulation = Field(description="Formulation computed from the weighed masses.")
    transcripts: tuple[Transcript, ...] = ()


class Measurement(FrozenModel):
    """One measured quantity with the raw traffic it was parsed from."""

    candidate_id: str
    quantity: str
    value: float
    unit: str
    temperature: float | None = Field(None, description="Sample temperature, °C.")
    parser: str = Field(description="Dotted name of the function that parsed the raw reply.")
    parser_version: str
    transcript: Transcript


class Observation(FrozenModel):
    """What the planner is told: a candidate and its measured outcome values."""

    candidate_id: str
    formulation: Formulation = Field(description="The formulation the planner asked for.")
    as_dosed: Formulation | None = Field(None, description="What was actually dosed.")
    values: dict[str, float] = Field(description="Outcome name -> value.")
