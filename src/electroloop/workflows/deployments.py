"""Deployments a technician starts from the Prefect UI, each with a typed form.

Prefect renders a flow's pydantic parameters as a form: titles, descriptions, ranges, defaults
and drop-downs come from the models below, and the server refuses values out of range before a
run is even created. `serve` registers the deployments and runs their flows on this machine.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from prefect import flow, serve
from pydantic import BaseModel, Field, model_validator

from electroloop.errors import ConfigError
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign, default_campaign
from electroloop.kinds.registry import load_campaign, parse_campaign
from electroloop.settings import Settings
from electroloop.simulations.density import SALT_SMILES, SOLVENT_SMILES
from electroloop.simulations.oracle.molecules import XtbParameters
from electroloop.workflows.approvals import ApprovalPolicy
from electroloop.workflows.flows import CampaignSummary, resume_campaign, run_campaign
from electroloop.workflows.oracle_flows import ScreenResult, oracle_screen

EMBEDDED = "embedded demo"

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


class CampaignForm(BaseModel):
    """What a technician fills in to start a campaign (conductivity, or cells cycled)."""

    campaign_file: str = Field(
        EMBEDDED,
        title="Campaign file",
        description="A campaign TOML, relative to the project folder (e.g. "
        "examples/campaigns/conductivity.toml, or examples/campaigns/cycling.toml to build and "
        "cycle a cell from each formulation), or 'embedded demo'. Its objectives, budget and "
        "planner are the defaults the fields below override.",
    )
    search_space: InlineSpace | None = Field(
        None,
        title="Inline search space",
        description="Optional: solvents, salt and ranges typed here replace the file's.",
    )
    name: str = Field(
        "",
        pattern=r"^([A-Za-z0-9][A-Za-z0-9_.-]*)?$",
        max_length=80,
        title="Campaign name",
        description="Letters, digits, '_', '.', '-' (empty: the campaign file's).",
    )
    planner: Literal["ax", "sobol", "random"] = Field(
        "ax",
        title="Planner",
        description="ax: Bayesian optimisation; sobol and random: space-filling baselines.",
    )
    budget: int = Field(24, ge=1, le=1000, title="Budget (trials)")
    batch_size: int = Field(4, ge=1, le=16, title="Batch size", description="Per iteration.")
    seed: int = Field(7, ge=0, title="Seed", description="Same seed, same proposals.")
    approval_required: bool = Field(
        False,
        title="Approval required",
        description="Pause before each batch until you approve, edit or reject it.",
    )
    approval_timeout_minutes: float = Field(
        60.0,
        gt=0.0,
        le=7 * 24 * 60,
        title="Pause timeout (minutes)",
        description="An unanswered pause ends the run safely; resume the campaign later.",
    )
    lab_file: str = Field(
        "simulated",
        title="Lab file",
        description="'simulated' (protocol-true simulators) or a lab TOML relative to the "
        "project folder; check it first with `electroloop lab check --lab FILE`.",
    )

    @model_validator(mode="after")
    def _molality_range(self) -> CampaignForm:
        space = self.search_space
        if space is not None and space.min_molality > space.max_molality:
            raise ValueError("search_space: min_molality must be <= max_molality")
        return self

    def approval(self) -> ApprovalPolicy:
        return ApprovalPolicy(
            required=self.approval_required, timeout_minutes=self.approval_timeout_minutes
        )

    def to_spec(self, root: Path) -> ElectrolyteCampaign:
        """The validated campaign; every problem names its field, before anything moves."""
        base = (
            default_campaign()
            if self.campaign_file == EMBEDDED
            else load_campaign(_inside(root, self.campaign_file, "campaign_file"))
        )
        data = base.model_dump(mode="json") | {
            "planner": self.planner,
            "budget": self.budget,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "lab": (
                "simulated"
                if self.lab_file == "simulated"
                else str(_inside(root, self.lab_file, "lab_file"))
            ),
        }
        if self.name:
            data["name"] = self.name
        if self.search_space is not None:
            data |= _space_data(self.search_space)
        return parse_campaign(data, "the campaign form")


def _space_data(space: InlineSpace) -> dict[str, object]:
    return {
        "solvents": [
            {
                "name": s.name,
                "smiles": SOLVENT_SMILES[s.name],
                "min_fraction": s.min_fraction,
                "max_fraction": s.max_fraction,
            }
            for s in space.solvents
        ],
        "salt": {
            "name": space.salt,
            "smiles": SALT_SMILES[space.salt],
            "min_molality": space.min_molality,
            "max_molality": space.max_molality,
        },
        "temperature": space.temperature,
        "linear_constraints": [],
        "max_components": None,
    }


def _inside(root: Path, relative: str, field: str) -> Path:
    """`relative` under the project folder, which must exist (no absolute paths in forms)."""
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise ConfigError(f"{field} {relative!r}; allowed: a path inside {root.resolve()}")
    if not path.is_file():
        raise ConfigError(f"{field} {relative!r}: no such file under {root.resolve()}")
    return path


class ScreeningForm(BaseModel):
    """Molecules to screen with the GFN2-xTB oracle (ionisation potential, electron affinity,
    redox window), one task per molecule."""

    molecules: str = Field(
        "C1COC(=O)O1\nCOC(=O)OC\nCCOC(=O)OC",
        title="Molecules (SMILES)",
        description="One SMILES per line (or separated by commas or spaces).",
    )
    xtb: XtbParameters = Field(default_factory=XtbParameters, title="xTB settings")

    def smiles(self) -> list[str]:
        found = [s for s in re.split(r"[\s,]+", self.molecules) if s]
        if not found:
            raise ConfigError("molecules is empty; allowed: at least one SMILES")
        return found


@flow(name="start-campaign", log_prints=True)
def start_campaign(campaign: CampaignForm = CampaignForm()) -> CampaignSummary:  # noqa: B008
    """Run a closed-loop conductivity campaign described by the technician's form."""
    spec = campaign.to_spec(Path.cwd())
    return run_campaign(spec, None, campaign.approval())


@flow(name="screen-molecules", log_prints=True)
def screen_molecules(screen: ScreeningForm = ScreeningForm()) -> ScreenResult:  # noqa: B008
    """Screen molecules with the xTB oracle; results are cached under the project home."""
    cache = Settings().resolved_home / "oracle-cache.sqlite"
    return oracle_screen(screen.smiles(), str(cache), screen.xtb)


DEPLOYMENT = "lab"


def serve_deployments(limit: int = 4) -> None:
    """Register the deployments with the Prefect server and run their flows here (blocks)."""
    serve(
        start_campaign.to_deployment(
            name=DEPLOYMENT,
            description="Start a conductivity campaign: fill the form, press Run.",
            tags=["electroloop", "campaign"],
        ),
        screen_molecules.to_deployment(
            name=DEPLOYMENT,
            description="Screen molecules with the xTB oracle.",
            tags=["electroloop", "screening"],
        ),
        resume_campaign.to_deployment(
            name=DEPLOYMENT,
            description="Continue a campaign whose run died (worker killed, machine "
            "rebooted): nothing measured is repeated.",
            tags=["electroloop", "campaign"],
        ),
        limit=limit,
        print_starting_message=True,
    )
