"""Campaign files: TOML parsed into a frozen `CampaignSpec`, with errors a technician can act on.

Every problem is reported at once, each naming the field, the value found and what is allowed,
before any instrument moves. Unknown keys are errors: a typo must not silently fall back to a
default.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator

from electroloop.errors import ConfigError
from electroloop.kinds.cycling.spec import CyclingSpec
from electroloop.models import (
    FrozenModel,
    Goal,
    LinearConstraint,
    Objective,
    OutcomeConstraint,
    Parameter,
    Salt,
    SearchSpace,
    Solvent,
)
from electroloop.orchestrator.metrics import CELL_METRICS, METRICS

PLANNER_PATTERN = r"^([A-Za-z_][\w-]*|[A-Za-z_][\w.]*:[A-Za-z_]\w*|[^:]+\.py:[A-Za-z_]\w*)$"
"""A built-in or entry-point name, ``package.module:Class``, or ``path/to/file.py:Class``."""
DEFAULT_CAMPAIGN = "conductivity.toml"
LABS = ("simulated",)


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


class CampaignSpec(FrozenModel):
    """What to run: the search space, the objective, the budget and which planner and lab."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=80, description="Campaign name."
    )
    study: str = Field(
        "electrolyte-conductivity", min_length=1, description="MLflow experiment to record into."
    )
    description: str = ""
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
    objectives: tuple[Objective, ...] = Field((Objective(),), min_length=1, max_length=4)
    outcome_constraints: tuple[OutcomeConstraint, ...] = ()
    budget: int = Field(ge=1, le=10_000, description="Number of trials to run.")
    batch_size: int = Field(ge=1, le=16, description="Candidates proposed per iteration.")
    seed: int = Field(0, ge=0, description="Seed for the planner.")
    warm_start: tuple[str, ...] = Field(
        (),
        description="Ids of earlier campaigns in the event store whose observations the planner "
        "learns from before its first proposal (planners with a `warm_start` argument, e.g. ax).",
    )
    ask_timeout: float | None = Field(
        None,
        gt=0.0,
        le=3600.0,
        description="Seconds a planner may take per proposal before it falls back to "
        "quasi-random points (planners with an `ask_timeout` argument, e.g. ax).",
    )
    pipeline: bool = Field(
        False,
        description="Propose the next batch while the current one is measured (never idles "
        "the robot; the next batch then cannot use the current batch's results).",
    )
    planner: str = Field(
        "ax",
        description="'ax', 'sobol', 'random', an entry-point name, 'package.module:ClassName' "
        "or 'path/to/file.py:ClassName'.",
    )
    lab: str = Field(
        "simulated",
        description="Which lab runs it: 'simulated' (every instrument simulated) or a lab file, "
        "e.g. 'labs/bench1.toml' (relative to the campaign file).",
    )
    surrogate: SurrogateUse | None = Field(
        None, description="A registered surrogate that pre-screens and makes first proposals."
    )
    cycling: CyclingSpec | None = Field(
        None,
        description="Build a cell from each formulation and cycle it (a cycling campaign); "
        "without it, the campaign measures conductivity only.",
    )

    @field_validator("planner")
    @classmethod
    def _planner_reference(cls, value: str) -> str:
        if not re.fullmatch(PLANNER_PATTERN, value):
            raise ValueError(
                "allowed: 'ax', 'sobol', 'random', an entry-point name, "
                "'package.module:ClassName' or 'path/to/file.py:ClassName'"
            )
        return value

    @field_validator("lab")
    @classmethod
    def _known_lab(cls, value: str) -> str:
        if value not in LABS and not value.endswith(".toml"):
            raise ValueError(
                f"allowed: {', '.join(repr(lab) for lab in LABS)} or a lab file 'path/to/lab.toml'"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CampaignSpec:
        if self.batch_size > self.budget:
            raise ValueError(
                f"batch_size {self.batch_size} exceeds budget {self.budget}; "
                "allowed: batch_size <= budget"
            )
        self.space  # noqa: B018  validates the mixture (bounds can sum to 1, unique names)
        chosen = self.surrogate.choose if self.surrogate else None
        if chosen is not None and chosen > len(self.solvents):
            raise ValueError(
                f"surrogate.choose {chosen}; allowed: 2..{len(self.solvents)} (the solvents given)"
            )
        goal = self.goal
        unknown = sorted(set(goal.metrics) - set(METRICS))
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; allowed: {sorted(METRICS)}")
        cell_metrics = sorted(set(goal.metrics) & CELL_METRICS)
        if cell_metrics and self.cycling is None:
            raise ValueError(
                f"metrics {cell_metrics} come from cycling cells; allowed: add a [cycling] "
                "table, or use conductivity and cost"
            )
        cycling = self.cycling
        if cycling is not None and self.temperature > cycling.window.max_temperature:
            raise ValueError(
                f"temperature {self.temperature} °C; allowed: <= "
                f"{cycling.window.max_temperature} °C for {cycling.chemistry} cells"
            )
        if self.cycling is not None and self.pipeline:
            raise ValueError(
                "pipeline: a cycling campaign proposes as channels free up; "
                "allowed: pipeline = false"
            )
        if len(goal.objectives) > 1 and goal.reference_point() is None:
            missing = [
                f"objectives[{i}] ({o.name})"
                for i, o in enumerate(goal.objectives)
                if goal.reference_for(o) is None
            ]
            raise ValueError(
                f"{', '.join(missing)}: a campaign with several objectives needs a threshold "
                "for each, the worst value still worth having (the hypervolume's reference "
                "point) such as `threshold = 8.0`, or an outcome constraint on that metric"
            )
        return self

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

    @property
    def goal(self) -> Goal:
        """What the planner optimises."""
        return Goal(objectives=self.objectives, outcome_constraints=self.outcome_constraints)


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "(file)"
    if error["type"] == "extra_forbidden":
        return f"{location}: unknown key (value {error['input']!r}); remove it or fix its spelling"
    if error["type"] == "missing":
        return f"{location}: required but missing"
    message = re.sub(r"^Value error, ", "", error["msg"])
    if not error["loc"]:  # a rule across fields: the message names them; the input is the file
        return f"{location}: {message}"
    return f"{location}: {message} (got {error['input']!r})"


def parse_campaign(data: dict[str, Any], source: str = "<campaign>") -> CampaignSpec:
    """Validate a campaign given as a mapping; raise ConfigError listing every problem."""
    try:
        return CampaignSpec.model_validate(data)
    except ValidationError as exc:
        problems = "\n".join(f"  - {_describe(e)}" for e in exc.errors(include_url=False))
        raise ConfigError(f"{source}: invalid campaign:\n{problems}") from None


def load_campaign(path: str | Path) -> CampaignSpec:
    """Read and validate a campaign TOML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read campaign file: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    planner = data.get("planner")
    if isinstance(planner, str) and ".py:" in planner:
        # A planner file is named relative to the campaign file, wherever it is run from.
        file, _, cls = planner.rpartition(":")
        data["planner"] = f"{(path.parent / file).resolve()}:{cls}"
    lab = data.get("lab")
    if isinstance(lab, str) and lab.endswith(".toml"):
        data["lab"] = str((path.parent / lab).resolve())  # like the planner file
    return parse_campaign(data, str(path))


def default_campaign_text() -> str:
    """The embedded demo campaign (EC/EMC/DMC + LiPF6 at 25 °C), shipped inside the package."""
    return resources.files("electroloop.orchestrator").joinpath(DEFAULT_CAMPAIGN).read_text("utf-8")


def default_campaign() -> CampaignSpec:
    """The embedded demo campaign, validated."""
    return parse_campaign(tomllib.loads(default_campaign_text()), "embedded conductivity.toml")
