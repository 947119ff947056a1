"""Deployments a technician starts from the Prefect UI, each with a typed form.

Prefect renders a flow's pydantic parameters as a form: titles, descriptions, ranges, defaults
and drop-downs come from the models below, and the server refuses values out of range before a
run is even created. `serve` registers the deployments and runs their flows on this machine.

In the campaign form the campaign file's values are the defaults: planner, budget, batch size,
seed and lab left as they are keep the file's (a plug-in planner too); a field filled in
overrides it.
The campaign files are offered as a choice, read from the project folder `serve` runs in.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from prefect import flow, serve
from pydantic import BaseModel, Field, create_model

from electroloop.errors import ConfigError
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign, default_campaign
from electroloop.kinds.form import KindForm, empty_is_the_files
from electroloop.kinds.registry import KINDS, kind_of, load_campaign, parse_campaign
from electroloop.orchestrator.campaign import CampaignSpec
from electroloop.settings import Settings
from electroloop.simulations.oracle.molecules import XtbParameters
from electroloop.workflows.approvals import ApprovalPolicy
from electroloop.workflows.flows import CampaignSummary, resume_campaign, run_campaign
from electroloop.workflows.oracle_flows import ScreenResult, dask_runner, oracle_screen

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

EMBEDDED = "embedded demo"
CAMPAIGN_FOLDER = "examples/campaigns"  # in the project folder: its TOML files are the choices
PlannerChoice = Literal["from the campaign file", "ax", "transfer", "sobol", "random"]
FROM_FILE: str = get_args(PlannerChoice)[0]


class CommonFields(BaseModel):
    """What a technician fills in to start a campaign of any kind (`CampaignForm` adds each
    kind's section).

    The campaign file's values are the defaults: leave planner, budget, batch size or seed as
    they are to keep the file's; fill one in to override it.
    """

    campaign_file: str = Field(
        EMBEDDED,
        title="Campaign file",
        description="'embedded demo' or a campaign TOML from the project folder's "
        f"{CAMPAIGN_FOLDER}/ (cycling.toml builds and cycles a cell from each formulation); "
        "under 'Other file', any campaign TOML in the project folder, relative to it. Its "
        "values are the defaults of the fields below.",
    )
    name: str = Field(
        "",
        pattern=r"^([A-Za-z0-9][A-Za-z0-9_.-]*)?$",
        max_length=80,
        title="Campaign name",
        description="Letters, digits, '_', '.', '-' (empty: the campaign file's).",
    )
    planner: PlannerChoice = Field(
        FROM_FILE,
        title="Planner",
        description="'from the campaign file' keeps the planner the file names (a plug-in "
        "planner too); ax (Bayesian optimisation), transfer (Bayesian optimisation that learns "
        "from the file's [learn_from]), sobol or random (space-filling baselines) override it.",
    )
    budget: int | None = Field(
        None,
        ge=1,
        le=1000,
        title="Budget (trials)",
        description="Samples in total (empty: the campaign file's budget).",
        json_schema_extra=empty_is_the_files,
    )
    batch_size: int | None = Field(
        None,
        ge=1,
        le=16,
        title="Batch size",
        description="Samples per iteration, 1-16 (empty: the campaign file's).",
        json_schema_extra=empty_is_the_files,
    )
    seed: int | None = Field(
        None,
        ge=0,
        title="Seed",
        description="Same seed, same proposals (empty: the campaign file's seed).",
        json_schema_extra=empty_is_the_files,
    )
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
        "",
        title="Lab file",
        description="Empty: the campaign file's lab (the examples' is 'simulated'); "
        "'simulated' (protocol-true simulators) or a lab TOML relative to the project folder "
        "override it; check a lab first with `electroloop lab check --lab FILE`.",
    )

    def approval(self) -> ApprovalPolicy:
        return ApprovalPolicy(
            required=self.approval_required, timeout_minutes=self.approval_timeout_minutes
        )

    def _campaign(self, root: Path) -> CampaignSpec:
        path = _inside(root, self.campaign_file, "campaign_file")
        try:
            return load_campaign(path)
        except ConfigError as exc:
            raise ConfigError(f"campaign_file {self.campaign_file!r}: {exc}") from None

    def to_spec(self, root: Path) -> ElectrolyteCampaign:
        """The validated campaign; every problem names its field, before anything moves."""
        base = default_campaign() if self.campaign_file == EMBEDDED else self._campaign(root)
        overrides = {
            "planner": None if self.planner == FROM_FILE else self.planner,
            "budget": self.budget,
            "batch_size": self.batch_size,
            "seed": self.seed,
        }
        data = base.model_dump(mode="json") | {
            key: value for key, value in overrides.items() if value is not None
        }
        if self.lab_file == "simulated":
            data["lab"] = "simulated"
        elif self.lab_file:
            data["lab"] = str(_inside(root, self.lab_file, "lab_file"))
        if self.name:
            data["name"] = self.name
        kind = kind_of(data, self.campaign_file).name
        for section in KINDS:
            answers = getattr(self, section, None)
            if isinstance(answers, KindForm):
                data = answers.apply(data, kind)
        return parse_campaign(data, f"the campaign form ({self.campaign_file})")


CampaignForm = create_model(
    "CampaignForm",
    __base__=CommonFields,
    __doc__="What a technician fills in to start a campaign: the fields every campaign has, "
    "then one section per campaign kind (`electroloop.kinds.registry.Kind.form`).",
    **{
        kind.name: (kind.form, Field(default_factory=kind.form, title=kind.form.__doc__))
        for kind in KINDS.values()
        if kind.form is not None
    },
)


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
    """Screen molecules with the xTB oracle; results are cached under the project home. With
    `ELECTROLOOP_DASK_ADDRESS` the calculations run on the lab's Dask cluster."""
    settings = Settings()
    cache = settings.resolved_home / "oracle-cache.sqlite"
    chosen = oracle_screen
    if settings.dask_address is not None:
        chosen = oracle_screen.with_options(task_runner=dask_runner(settings.dask_address))
    return chosen(screen.smiles(), str(cache), screen.xtb)


DEPLOYMENT = "lab"


def campaign_choices(root: Path) -> list[str]:
    """What the form's campaign file drop-down offers: 'embedded demo', then the campaign TOML
    files under examples/campaigns/ of the project folder `root`, relative to it."""
    folder = root / CAMPAIGN_FOLDER
    files = sorted(p.relative_to(root).as_posix() for p in folder.rglob("*.toml") if p.is_file())
    return [EMBEDDED, *files]


def campaign_file_schema(choices: list[str]) -> dict[str, Any]:
    """The campaign file field as the Prefect UI renders it: a drop-down of `choices` under
    'Choose' (shown first: the default is one of them), any path typed under 'Other file'.

    Both branches are strings, so the server lets any path through; `CampaignForm.to_spec`
    then accepts only a file inside the project folder.
    """
    field = CampaignForm.model_fields["campaign_file"]
    return {
        "title": field.title,
        "description": field.description,
        "default": field.default,
        "anyOf": [
            {"title": "Choose", "type": "string", "enum": choices},
            {"title": "Other file", "type": "string", "minLength": 1},
        ],
    }


def deployments(root: Path) -> list[RunnerDeployment]:
    """The deployments `serve` registers; the campaign files offered are those in `root`."""
    campaign = start_campaign.to_deployment(
        name=DEPLOYMENT,
        description="Start a campaign: choose a campaign file, override what you need, press "
        "Submit.",
        tags=["electroloop", "campaign"],
    )
    # Prefect builds the form's schema from the flow's signature, which cannot know the project
    # folder; it keeps the schema in a private attribute and sends it when registering.
    form = campaign._parameter_openapi_schema.definitions[CampaignForm.__name__]
    form["properties"]["campaign_file"] = campaign_file_schema(campaign_choices(root))
    return [
        campaign,
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
    ]


def serve_deployments(limit: int = 4, root: Path | None = None) -> None:
    """Register the deployments with the Prefect server and run their flows here (blocks).

    `root` is the project folder (default: the working directory, which the flows also read
    campaign and lab files from).
    """
    serve(*deployments(root or Path.cwd()), limit=limit, print_starting_message=True)
