"""What every campaign says, whatever its kind: `CampaignSpec`, and reading campaign files.

A kind (`electroloop.kinds`) subclasses `CampaignSpec` with its own design space and the metrics
it can produce; the engine needs only what is here. Every problem in a campaign file is reported
at once, each naming the field, the value found and what is allowed, before any instrument
moves. Unknown keys are errors: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

from pydantic import Field, ValidationError, field_validator, model_validator

from electroloop.errors import ConfigError
from electroloop.models import FrozenModel, Goal, Objective, OutcomeConstraint
from electroloop.orchestrator.safety import Hazard, SafetyOverride, refusal

PLANNER_PATTERN = r"^([A-Za-z_][\w-]*|[A-Za-z_][\w.]*:[A-Za-z_]\w*|[^:]+\.py:[A-Za-z_]\w*)$"
"""A built-in or entry-point name, ``package.module:Class``, or ``path/to/file.py:Class``."""
LABS = ("simulated",)


class CampaignSpec(FrozenModel):
    """What to run, for any kind: the goal, the budget, and which planner and lab.

    A kind adds its design space and sets `METRICS`, the metrics it can produce.
    """

    METRICS: ClassVar[Mapping[str, str]] = {}
    """Metric name -> unit, for every metric a campaign of this kind can optimise or constrain."""
    SAFETY_RULES: ClassVar[Mapping[str, str]] = {}
    """Rule id -> what it guards against, for every rule `hazards` may report (docs/safety.md)."""

    kind: str = Field(description="The campaign kind (electroloop.kinds.registry.KINDS).")
    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=80, description="Campaign name."
    )
    study: str = Field(
        "electrolyte-conductivity",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$",
        max_length=100,
        description="MLflow experiment to record into: letters, digits, space, '_', '.', '-' "
        "(it also names folders, so no '/' and no control characters).",
    )
    description: str = Field(
        "",
        max_length=10_000,
        pattern=r"^[^\x00]*$",
        description="Free text shown in MLflow (Markdown; up to 10,000 characters).",
    )
    objectives: tuple[Objective, ...] = Field((Objective(),), min_length=1, max_length=4)
    outcome_constraints: tuple[OutcomeConstraint, ...] = ()
    budget: int = Field(ge=1, le=10_000, description="Number of trials to run.")
    batch_size: int = Field(ge=1, le=16, description="Candidates proposed per iteration.")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed for the planner (0 to 2^32-1).")
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
        description="'ax', 'transfer' (learns from `learn_from`), 'ax-stock', 'sobol', 'random', "
        "an entry-point name, 'package.module:ClassName' or 'path/to/file.py:ClassName'.",
    )
    lab: str = Field(
        "simulated",
        description="Which lab runs it: 'simulated' (every instrument simulated) or a lab file, "
        "e.g. 'labs/bench1.toml' (relative to the campaign file).",
    )
    safety_overrides: tuple[SafetyOverride, ...] = Field(
        (),
        description="Refusing safety rules a named person lets this campaign run despite, each "
        "with a reason (recorded in the event log and on the MLflow run).",
    )

    @field_validator("planner")
    @classmethod
    def _planner_reference(cls, value: str) -> str:
        if not re.fullmatch(PLANNER_PATTERN, value):
            raise ValueError(
                "allowed: 'ax', 'transfer', 'ax-stock', 'sobol', 'random', an entry-point name, "
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
    def _consistent_goal(self) -> Self:
        if self.batch_size > self.budget:
            raise ValueError(
                f"batch_size {self.batch_size} exceeds budget {self.budget}; "
                "allowed: batch_size <= budget"
            )
        goal = self.goal
        unknown = sorted(set(goal.metrics) - set(self.METRICS))
        if unknown:
            raise ValueError(self.unknown_metrics(unknown))
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

    @model_validator(mode="after")
    def _safe(self) -> Self:
        unknown = sorted({o.rule for o in self.safety_overrides} - set(self.SAFETY_RULES))
        if unknown:
            raise ValueError(
                f"safety_overrides: unknown rules {unknown}; allowed: {sorted(self.SAFETY_RULES)}"
            )
        refused = refusal(self.hazards(), self.safety_overrides)
        if refused is not None:
            raise ValueError(refused)
        return self

    def hazards(self) -> list[Hazard]:
        """What this campaign would risk, by the kind's safety rules (none by default)."""
        return []

    def unknown_metrics(self, names: list[str]) -> str:
        """The error for metrics this kind cannot produce (a kind may say where they come from)."""
        return f"unknown metrics {names}; allowed: {sorted(self.METRICS)}"

    @property
    def goal(self) -> Goal:
        """What the planner optimises."""
        return Goal(objectives=self.objectives, outcome_constraints=self.outcome_constraints)

    def unit(self, metric: str) -> str:
        """The unit of one of this kind's metrics."""
        return self.METRICS[metric]


def _describe(error: Mapping[str, Any]) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "(file)"
    if error["type"] == "extra_forbidden":
        value = _shown(error["input"])
        return f"{location}: unknown key (value {value}); remove it or fix its spelling"
    if error["type"] == "missing":
        return f"{location}: required but missing"
    message = re.sub(r"^Value error, ", "", error["msg"])
    if not error["loc"]:  # a rule across fields: the message names them; the input is the file
        return f"{location}: {message}"
    return f"{location}: {message} (got {_shown(error['input'])})"


def _shown(value: Any, limit: int = 200) -> str:
    """`value` as the error shows it: its repr, cut to `limit` characters (a 10 MB field is
    not echoed back whole)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


S = TypeVar("S", bound=CampaignSpec)


def validate_spec(spec_type: type[S], data: Mapping[str, Any], source: str) -> S:
    """`data` as a `spec_type`; ConfigError listing every problem, each naming its field."""
    try:
        return spec_type.model_validate(data)
    except ValidationError as exc:
        problems = "\n".join(f"  - {_describe(e)}" for e in exc.errors(include_url=False))
        raise ConfigError(f"{source}: invalid campaign:\n{problems}") from None


def read_campaign_file(path: str | Path) -> dict[str, Any]:
    """A campaign TOML file as a mapping, with its planner and lab files named relative to it
    (so it runs the same from any folder); ConfigError if unreadable or not TOML."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read campaign file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}: {exc.object[exc.start : exc.start + 1]!r});"
            " allowed: a TOML file saved as UTF-8"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    planner = data.get("planner")
    if isinstance(planner, str) and ".py:" in planner:
        file, _, cls = planner.rpartition(":")
        data["planner"] = f"{(path.parent / file).resolve()}:{cls}"
    lab = data.get("lab")
    if isinstance(lab, str) and lab.endswith(".toml"):
        data["lab"] = str((path.parent / lab).resolve())
    return data
