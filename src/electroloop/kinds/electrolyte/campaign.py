"""An electrolyte campaign: a mixture of solvents with a salt, searched for conductivity or cost.

`ElectrolyteCampaign` adds to `CampaignSpec` the design space (solvent fraction ranges, the salt
and its molality range, the temperature, extra parameters and linear constraints) and the
optional surrogate that pre-screens it. The embedded demo campaign is `conductivity.toml`.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from electroloop.kinds.electrolyte.metrics import METRICS
from electroloop.kinds.electrolyte.safety import RULES, formulation_hazards
from electroloop.models import (
    FrozenModel,
    LinearConstraint,
    Parameter,
    Salt,
    SearchSpace,
    Solvent,
)
from electroloop.orchestrator.campaign import CampaignSpec, validate_spec
from electroloop.orchestrator.safety import Hazard

DEFAULT_CAMPAIGN = "conductivity.toml"


class SurrogateUse(FrozenModel):
    """How a campaign uses a registered surrogate (`electroloop surrogate train`) of its
    primary objective: to choose its solvents and to make its first proposals."""

    name: str = Field(min_length=1, description="Registered surrogate, e.g. 'conductivity'.")
    version: str = Field("latest", pattern=r"^(latest|[0-9]+)$", description="Or 'latest'.")
    picks: int = Field(
        4, ge=0, le=64, description="First proposals: the surrogate's best spread-out guesses."
    )
    choose: int | None = Field(
        None,
        ge=2,
        description="Keep only the best `choose` of the campaign's solvents, as the surrogate "
        "ranks every combination, before the campaign starts (a discrete pre-screen).",
    )
    kappa: float = Field(1.0, ge=0.0, le=10.0, description="UCB: mean + kappa × std.")


class LearnFrom(FrozenModel):
    """What a campaign's planner learns from besides its own measurements, each as a related
    task of the transfer planner (`planners.transfer`): the data decide how far each holds."""

    campaigns: tuple[str, ...] = Field(
        (),
        description="Ids of earlier campaigns in the event store (any temperature, bounds or "
        "solvent subset: each observation is placed by its physical inputs, not filtered).",
    )
    model: Literal["calisol-23"] | None = Field(
        None,
        description="'calisol-23': the simulator's conductivity model, fitted to CALiSol-23, as "
        "a prior over this campaign's space (primary objective conductivity only).",
    )


class ElectrolyteCampaign(CampaignSpec):
    """A campaign over formulations: solvent mass fractions, a salt's molality, extras."""

    METRICS = METRICS
    SAFETY_RULES = RULES

    kind: Literal["electrolyte"] = Field(
        "electrolyte", description="Measure the conductivity of dosed formulations."
    )
    solvents: tuple[Solvent, ...] = Field(min_length=2, description="Solvents of the blend.")
    salt: Salt
    temperature: float = Field(ge=-40.0, le=100.0, description="Temperature, °C.")
    max_components: int | None = Field(
        None, ge=1, description="At most this many solvents with a non-zero fraction."
    )
    parameters: tuple[Parameter, ...] = Field((), description="Extra range/choice parameters.")
    linear_constraints: tuple[LinearConstraint, ...] = Field(
        (), description="Linear inequalities, e.g. 'EC + PC <= 0.6'."
    )
    surrogate: SurrogateUse | None = Field(
        None, description="A registered surrogate that pre-screens and makes first proposals."
    )
    learn_from: LearnFrom | None = Field(
        None,
        description="Earlier campaigns and models the planner learns from; with it the planner "
        "defaults to 'transfer'.",
    )

    @model_validator(mode="before")
    @classmethod
    def _transfer_when_learning(cls, data: Any) -> Any:
        """A campaign that names what to learn from, and no planner, gets the planner that can."""
        if isinstance(data, dict) and data.get("learn_from") and "planner" not in data:
            return {**data, "planner": "transfer"}
        return data

    @model_validator(mode="after")
    def _consistent_space(self) -> Self:
        self.space  # noqa: B018  validates the mixture (bounds can sum to 1, unique names)
        if self.learn_from and self.learn_from.model and self.objectives[0].name != "conductivity":
            raise ValueError(
                f"learn_from.model {self.learn_from.model!r} predicts conductivity, not "
                f"{self.objectives[0].name!r}; allowed: a first objective of conductivity"
            )
        chosen = self.surrogate.choose if self.surrogate else None
        if chosen is not None and chosen > len(self.solvents):
            raise ValueError(
                f"surrogate.choose {chosen}; allowed: 2..{len(self.solvents)} (the solvents given)"
            )
        return self

    def hazards(self) -> list[Hazard]:
        """The chemical-safety rules' findings for what this campaign may dose
        (`kinds.electrolyte.safety`)."""
        return formulation_hazards(self.space, self.temperature)

    def unknown_metrics(self, names: list[str]) -> str:
        return (
            f"unknown metrics {names}; allowed: {sorted(self.METRICS)}, or with a [cycling] "
            "table the metrics that come from cycling cells (retention, rate_ratio, "
            "coulombic_efficiency, discharge_capacity)"
        )

    @property
    def space(self) -> SearchSpace:
        """The search space the planner explores."""
        return SearchSpace(
            solvents=self.solvents,
            salt=self.salt,
            temperature=self.temperature,
            max_components=self.max_components,
            parameters=self.parameters,
            linear_constraints=self.linear_constraints,
        )


def default_campaign_text() -> str:
    """The embedded demo campaign (EC/EMC/DMC + LiPF6 at 25 °C), shipped inside the package."""
    here = resources.files("electroloop.kinds.electrolyte")
    return here.joinpath(DEFAULT_CAMPAIGN).read_text("utf-8")


def default_campaign() -> ElectrolyteCampaign:
    """The embedded demo campaign, validated."""
    data = tomllib.loads(default_campaign_text())
    return validate_spec(ElectrolyteCampaign, data, "embedded conductivity.toml")
