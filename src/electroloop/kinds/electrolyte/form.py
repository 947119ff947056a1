"""The electrolyte kind's section of the campaign form: a search space typed in instead of the
campaign file's (solvents and salts the simulator's physics knows, as drop-downs). Cycling
campaigns dose formulations too, so it applies to them as well."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from electroloop.kinds.form import KindForm
from electroloop.simulations.density import SALT_SMILES, SOLVENT_SMILES

__all__ = ["ElectrolyteForm", "InlineSpace", "SolventRange"]

SolventName = Literal[tuple(SOLVENT_SMILES)]  # type: ignore[valid-type]
SaltName = Literal[tuple(SALT_SMILES)]  # type: ignore[valid-type]


class SolventRange(BaseModel):
    """One solvent of an inline search space and its mass-fraction range."""

    name: SolventName = Field(title="Solvent")  # type: ignore[valid-type]
    min_fraction: float = Field(0.0, ge=0.0, le=1.0, title="Lowest mass fraction")
    max_fraction: float = Field(1.0, ge=0.0, le=1.0, title="Highest mass fraction")


class InlineSpace(BaseModel):
    """A search space typed into the form instead of a campaign file."""

    solvents: list[SolventRange] = Field(
        min_length=2,
        title="Solvents",
        description="At least two; mass fractions of the salt-free blend sum to 1.",
    )
    salt: SaltName = Field("LiPF6", title="Salt")  # type: ignore[valid-type]
    min_molality: float = Field(0.5, gt=0.0, le=5.0, title="Lowest molality (mol/kg)")
    max_molality: float = Field(2.0, gt=0.0, le=5.0, title="Highest molality (mol/kg)")
    temperature: float = Field(25.0, ge=-40.0, le=100.0, title="Temperature (°C)")

    @model_validator(mode="after")
    def _molality_range(self) -> InlineSpace:
        if self.min_molality > self.max_molality:
            raise ValueError("search_space: min_molality must be <= max_molality")
        return self

    def campaign_data(self) -> dict[str, Any]:
        """The campaign fields this space replaces."""
        return {
            "solvents": [
                {
                    "name": s.name,
                    "smiles": SOLVENT_SMILES[s.name],
                    "min_fraction": s.min_fraction,
                    "max_fraction": s.max_fraction,
                }
                for s in self.solvents
            ],
            "salt": {
                "name": self.salt,
                "smiles": SALT_SMILES[self.salt],
                "min_molality": self.min_molality,
                "max_molality": self.max_molality,
            },
            "temperature": self.temperature,
            "linear_constraints": [],
            "max_components": None,
        }


class ElectrolyteForm(KindForm):
    """Formulations (electrolyte and cycling campaigns)."""

    search_space: InlineSpace | None = Field(
        None,
        title="Inline search space",
        description="Optional: solvents, salt and ranges typed here replace the file's.",
    )

    def apply(self, data: dict[str, Any], kind: str) -> dict[str, Any]:
        if self.search_space is None:
            return data
        return data | self.search_space.campaign_data()
