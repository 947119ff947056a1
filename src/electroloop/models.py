"""Frozen value objects passed between layers: search spaces, formulations, candidates, results.

Units are declared once, here, and nowhere else repeated in names:

- solvent fractions are *mass* fractions of the salt-free solvent blend (sum to 1);
- salt content is a *molality* in mol per kg of solvent blend;
- temperature is in degrees Celsius;
- masses are in grams; conductivity in mS/cm.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from rdkit import Chem, RDLogger
from rdkit.Chem import Descriptors

SUM_TOLERANCE = 1e-9
"""How far solvent mass fractions may sum away from 1."""

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
"""Names of metrics and extra parameters: identifiers, so constraint strings can refer to them."""

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

    @field_validator("smiles")
    @classmethod
    def _one_neutral_molecule(cls, smiles: str) -> str:
        molecule = Chem.MolFromSmiles(smiles)
        if molecule is None:
            return smiles  # reported by _check_smiles
        if len(Chem.GetMolFrags(molecule)) != 1 or Chem.GetFormalCharge(molecule) != 0:
            raise ValueError(
                f"{smiles!r} is not one neutral molecule; allowed: a solvent's SMILES (a salt "
                "goes under [salt])"
            )
        return smiles

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


class Design(FrozenModel):
    """What a candidate is, in its kind's terms: a formulation today; an electrode design or a
    crystal structure in the kinds to come. `type` names the class in the event log, so a
    stored design comes back as the class it was (`read_design`)."""

    type: str


class Formulation(Design):
    """One electrolyte: solvent mass fractions, salt molality and the temperature it is used at."""

    type: Literal["formulation"] = "formulation"
    fractions: dict[str, float] = Field(description="Solvent name -> mass fraction of the blend.")
    salt: str = Field(description="Salt name.")
    molality: float = Field(ge=0.0, le=10.0, description="Salt molality, mol/kg of solvent.")
    temperature: float = Field(ge=-60.0, le=150.0, description="Temperature, °C.")
    extras: dict[str, float | int | str] = Field(
        default_factory=dict, description="Values of the search space's extra parameters."
    )

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


class DesignPoint(Design):
    """A design that is a point of a box of named range parameters (`BoxSpace`): an electrode
    design (porosity, active-material share, ...) in the electrode kind. The kind that runs it
    reads the values by name; the space says their units."""

    type: Literal["point"] = "point"
    values: dict[str, float] = Field(description="Parameter name -> value, in its unit.")

    @field_validator("values")
    @classmethod
    def _finite(cls, values: dict[str, float]) -> dict[str, float]:
        if not values:
            raise ValueError("at least one parameter value is required")
        for name, value in values.items():
            if not math.isfinite(value):
                raise ValueError(f"{name} is {value!r}; allowed: a finite number")
        return values


BUILTIN_DESIGNS: Mapping[str, type[Design]] = {"formulation": Formulation, "point": DesignPoint}
"""Design types every event log may hold; a kind with a design of its own passes its type in
the validation context, ``{"designs": {...}}`` (the campaign store does)."""


def read_design(value: Any, info: ValidationInfo) -> Design:
    """A design from its JSON, as the class its `type` names (a formulation when a log from before
    designs had types has none); an instance passes as it is."""
    if isinstance(value, Design):
        return value
    if not isinstance(value, Mapping):
        raise ValueError(f"a design is a mapping with a 'type'; got {type(value).__name__}")
    designs = (info.context or {}).get("designs") or BUILTIN_DESIGNS
    name = value.get("type", "formulation")
    if name not in designs:
        raise ValueError(f"design type {name!r}; allowed: {sorted(designs)}")
    return designs[name].model_validate(value, context=info.context)


def typed_design(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
    """A wrap validator for a design field: the class its `type` names (None stays None)."""
    return None if value is None else read_design(value, info)


def renamed(data: Any, old: str, new: str) -> Any:
    """Input from before a field was renamed (a stored log, a plug-in's keyword) under its new
    name."""
    if isinstance(data, dict) and old in data and new not in data:
        data = {**data, new: data[old]}
        del data[old]
    return data


class RangeParameter(FrozenModel):
    """An extra continuous or integer parameter (e.g. a mixing time) in [low, high]."""

    kind: Literal["range"] = "range"
    name: str = Field(pattern=NAME_PATTERN)
    low: float
    high: float
    integer: bool = Field(False, description="Only whole numbers are allowed.")
    unit: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> RangeParameter:
        if self.low >= self.high:
            raise ValueError(f"low {self.low} must be below high {self.high}")
        if self.integer and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError(f"integer bounds must be whole numbers, got {self.low}..{self.high}")
        return self

    def check(self, value: float | int | str) -> None:
        if isinstance(value, str) or not self.low <= value <= self.high:
            raise ValueError(f"{self.name} is {value!r}; allowed: {self.low:g}..{self.high:g}")
        if self.integer and value != int(value):
            raise ValueError(f"{self.name} is {value!r}; allowed: a whole number")


class ChoiceParameter(FrozenModel):
    """An extra categorical parameter: one of `choices`."""

    kind: Literal["choice"] = "choice"
    name: str = Field(pattern=NAME_PATTERN)
    choices: tuple[str | int | float, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _unique(self) -> ChoiceParameter:
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(f"choices of {self.name} must be unique, got {list(self.choices)}")
        return self

    def check(self, value: float | int | str) -> None:
        if value not in self.choices:
            raise ValueError(f"{self.name} is {value!r}; allowed: one of {list(self.choices)}")


Parameter = Annotated[RangeParameter | ChoiceParameter, Field(discriminator="kind")]

_TERM = re.compile(r"\s*([+-]?)\s*(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)?\s*\*?\s*([A-Za-z_][\w.-]*)")


class LinearConstraint(FrozenModel):
    """Σ coefficient × variable (op) bound over solvent fractions, molality or range parameters.

    Written in campaign files as a string, e.g. ``"EC + 0.5 * PC <= 0.6"``.
    """

    terms: dict[str, float] = Field(min_length=1, description="Variable -> coefficient.")
    op: Literal["<=", ">="]
    bound: float

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        return parse_linear_constraint(data) if isinstance(data, str) else data

    def value(self, variables: Mapping[str, float]) -> float:
        return math.fsum(c * variables[name] for name, c in self.terms.items())

    def satisfied(self, variables: Mapping[str, float], tolerance: float = SUM_TOLERANCE) -> bool:
        lhs = self.value(variables)
        return lhs <= self.bound + tolerance if self.op == "<=" else lhs >= self.bound - tolerance

    def __str__(self) -> str:
        lhs = " + ".join(f"{c:g} * {name}" for name, c in self.terms.items())
        return f"{lhs} {self.op} {self.bound:g}"


def parse_linear_constraint(text: str) -> dict[str, Any]:
    """``"EC + 0.5 * PC <= 0.6"`` -> {"terms": {"EC": 1.0, "PC": 0.5}, "op": "<=", "bound": 0.6}."""
    match = re.fullmatch(r"(.+?)(<=|>=)\s*([+-]?[\d.eE+-]+)\s*", text)
    if not match:
        raise ValueError(f"{text!r} is not 'a * X + b * Y <= c' (or >=); '=' is not allowed")
    lhs, op, bound = match.groups()
    terms: dict[str, float] = {}
    position = 0
    while position < len(lhs.rstrip()):
        term = _TERM.match(lhs, position)
        if not term or term.end() == position or (position and not term.group(1)):
            raise ValueError(f"cannot read {lhs[position:].strip()!r} in {text!r}")
        sign, number, name = term.groups()
        coefficient = float(number) if number else 1.0
        terms[name] = terms.get(name, 0.0) + (-coefficient if sign == "-" else coefficient)
        position = term.end()
    return {"terms": terms, "op": op, "bound": float(bound)}


class SearchSpace(FrozenModel):
    """Where a planner may propose.

    A solvent mixture (mass fractions within per-solvent bounds, summing to 1, at most
    `max_components` of them non-zero), one salt within a molality range, a fixed temperature
    (context, not optimised), extra range or choice parameters, and linear constraints.
    """

    solvents: tuple[Solvent, ...] = Field(min_length=2, description="Solvents of the blend.")
    salt: Salt
    temperature: float = Field(ge=-40.0, le=100.0, description="Fixed temperature, °C.")
    max_components: int | None = Field(
        None, ge=1, description="At most this many solvents with a non-zero fraction."
    )
    parameters: tuple[Parameter, ...] = Field((), description="Extra parameters to optimise.")
    linear_constraints: tuple[LinearConstraint, ...] = Field(
        (), description="Linear inequalities, e.g. 'EC + PC <= 0.6'."
    )

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
        required = [s.name for s in self.solvents if s.min_fraction > 0.0]
        if self.max_components is not None:
            if len(required) > self.max_components:
                raise ValueError(
                    f"max_components is {self.max_components} but {required} must be non-zero; "
                    f"allowed: max_components >= {len(required)}"
                )
            top = sorted((s.max_fraction for s in self.solvents), reverse=True)
            if math.fsum(top[: self.max_components]) < 1.0 - SUM_TOLERANCE:
                raise ValueError(
                    f"no {self.max_components} solvents can reach a sum of 1 within their "
                    "max_fraction; allowed: raise max_components or the maximums"
                )
        extras = [p.name for p in self.parameters]
        taken = set(names) | {"molality"}
        clash = [n for n in extras if n in taken] + [n for n in set(extras) if extras.count(n) > 1]
        if clash:
            raise ValueError(
                f"parameter names {sorted(set(clash))} clash with solvents, "
                "'molality' or each other; allowed: unique names"
            )
        variables = (
            set(names)
            | {"molality"}
            | {p.name for p in self.parameters if isinstance(p, RangeParameter)}
        )
        for constraint in self.linear_constraints:
            unknown = sorted(set(constraint.terms) - variables)
            if unknown:
                raise ValueError(
                    f"linear constraint '{constraint}' names {unknown}; allowed: "
                    f"{sorted(variables)}"
                )
        return self

    @property
    def solvent_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.solvents)

    def fractions_by_smiles(self, formulation: Formulation) -> dict[str, float]:
        """`formulation`'s solvent fractions keyed by canonical SMILES, as physics models want."""
        smiles = {s.name: s.canonical_smiles for s in self.solvents}
        return {smiles[name]: value for name, value in formulation.fractions.items()}

    def variables(self, formulation: Formulation) -> dict[str, float]:
        """Numeric values linear constraints refer to: fractions, molality, range parameters."""
        numeric = {k: float(v) for k, v in formulation.extras.items() if not isinstance(v, str)}
        return {**formulation.fractions, "molality": formulation.molality, **numeric}

    def check(self, formulation: Design) -> None:
        """Raise ValueError naming the field if `formulation` lies outside this space."""
        if not isinstance(formulation, Formulation):
            raise ValueError(f"design is a {formulation.type}; allowed: a formulation")
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
        nonzero = [name for name, value in formulation.fractions.items() if value > 0.0]
        if self.max_components is not None and len(nonzero) > self.max_components:
            raise ValueError(
                f"{len(nonzero)} solvents are non-zero ({nonzero}); allowed: at most "
                f"{self.max_components}"
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
        if set(formulation.extras) != {p.name for p in self.parameters}:
            raise ValueError(
                f"formulation parameters {sorted(formulation.extras)} differ from the search "
                f"space's {sorted(p.name for p in self.parameters)}"
            )
        for parameter in self.parameters:
            parameter.check(formulation.extras[parameter.name])
        variables = self.variables(formulation)
        for constraint in self.linear_constraints:
            if not constraint.satisfied(variables):
                raise ValueError(
                    f"linear constraint '{constraint}' is violated "
                    f"(left side {constraint.value(variables)!r})"
                )


class BoxSpace(FrozenModel):
    """Where a planner may propose when a design is a point of a box: each named range parameter
    within its bounds (a kind without mixtures, e.g. electrode designs). The built-in planners
    search it as they search a mixture, through a unit cube (`planners.cube_map.BoxMap`)."""

    type: Literal["box"] = "box"
    parameters: tuple[RangeParameter, ...] = Field(min_length=1, description="The box's sides.")

    @model_validator(mode="after")
    def _unique(self) -> BoxSpace:
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise ValueError(f"parameter names must be unique, got {names}")
        return self

    def check(self, design: Design) -> None:
        """Raise ValueError naming the field if `design` lies outside this box."""
        if not isinstance(design, DesignPoint):
            raise ValueError(f"design is a {design.type}; allowed: a point of the box")
        names = {p.name for p in self.parameters}
        if set(design.values) != names:
            raise ValueError(
                f"design parameters {sorted(design.values)} differ from the space's {sorted(names)}"
            )
        for parameter in self.parameters:
            parameter.check(design.values[parameter.name])


AnySpace = SearchSpace | BoxSpace
"""A space the built-in planners search: a mixture (`SearchSpace`) or a box (`BoxSpace`)."""


def space_from_json(data: Mapping[str, Any]) -> AnySpace:
    """A space as `model_dump(mode="json")` wrote it: a box if its type says so, else a mixture
    (spaces saved before boxes existed have no type)."""
    if data.get("type") == "box":
        return BoxSpace.model_validate(data)
    return SearchSpace.model_validate(data)


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
    lot: str | None = Field(
        None, max_length=64, description="The bottle's lot (supplier lot or own batch label)."
    )

    @model_validator(mode="after")
    def _salt_consistent(self) -> Stock:
        if (self.salt is None) != (self.salt_molality == 0.0):
            raise ValueError("a stock has a salt name exactly when its salt_molality is > 0")
        return self


class Objective(FrozenModel):
    """One metric to optimise."""

    name: str = Field("conductivity", pattern=NAME_PATTERN, description="Metric name.")
    direction: Literal["maximize", "minimize"] = "maximize"
    threshold: float | None = Field(
        None,
        description="The worst value still worth having: the reference point of the "
        "hypervolume when there are several objectives.",
    )


class OutcomeConstraint(FrozenModel):
    """A limit a measured or derived metric must respect, e.g. ``cost <= 20``."""

    metric: str = Field(pattern=NAME_PATTERN)
    op: Literal["<=", ">="]
    bound: float

    def satisfied(self, value: float) -> bool:
        return value <= self.bound if self.op == "<=" else value >= self.bound

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


class Goal(FrozenModel):
    """What a campaign optimises: one or more objectives, and limits on outcomes."""

    objectives: tuple[Objective, ...] = Field((Objective(),), min_length=1, max_length=4)
    outcome_constraints: tuple[OutcomeConstraint, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> Goal:
        names = [o.name for o in self.objectives]
        if len(set(names)) != len(names):
            raise ValueError(f"objective names must be unique, got {names}")
        return self

    @property
    def primary(self) -> Objective:
        """The first objective: the one best-so-far curves follow."""
        return self.objectives[0]

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric an observation must carry: objectives, then constrained metrics."""
        names = [o.name for o in self.objectives]
        return tuple(names + [c.metric for c in self.outcome_constraints if c.metric not in names])

    def feasible(self, values: Mapping[str, float]) -> bool:
        """Whether outcome `values` satisfy every outcome constraint (missing metrics fail)."""
        return all(
            c.metric in values and c.satisfied(values[c.metric]) for c in self.outcome_constraints
        )

    def reference_for(self, objective: Objective) -> float | None:
        """The worst value of `objective` worth having: its threshold, else the tightest outcome
        constraint that puts a floor (maximise) or a cap (minimise) on it; None if neither."""
        if objective.threshold is not None:
            return objective.threshold
        worse = ">=" if objective.direction == "maximize" else "<="
        bounds = [
            c.bound
            for c in self.outcome_constraints
            if c.metric == objective.name and c.op == worse
        ]
        if not bounds:
            return None
        return max(bounds) if objective.direction == "maximize" else min(bounds)

    def reference_point(self) -> dict[str, float] | None:
        """`reference_for` every objective (the hypervolume's reference point); None when some
        objective has none."""
        reference = {o.name: self.reference_for(o) for o in self.objectives}
        if any(value is None for value in reference.values()):
            return None
        return {name: value for name, value in reference.items() if value is not None}


class Estimate(FrozenModel):
    """A predicted value with its standard deviation."""

    mean: float
    std: float = Field(ge=0.0)


class CarriesDesign(FrozenModel):
    """A model with a `design`: built with ``formulation=`` (as planners written before designs
    did) it takes that as its design, and `formulation` reads it back when the design is one."""

    design: SerializeAsAny[Design]

    @model_validator(mode="before")
    @classmethod
    def _formulation_is_the_design(cls, data: Any) -> Any:
        return renamed(data, "formulation", "design")

    @property
    def formulation(self) -> Formulation:
        """The design, when it is a formulation (the electrolyte kinds)."""
        if not isinstance(self.design, Formulation):
            kind = self.design.type
            raise AttributeError(f"{self.label}'s design is a {kind}, not a formulation")
        return self.design

    @property
    def label(self) -> str:
        """What errors call it."""
        return type(self).__name__.lower()


class Candidate(CarriesDesign):
    """A design a planner proposed, under a campaign-unique id."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Unique within the campaign.")
    design: SerializeAsAny[Design]
    planner: str = Field(description="Which planner proposed it.")
    predicted: Estimate | None = Field(None, description="The planner's prediction, if any.")
    scored_by: str | None = Field(
        None, description="Name and version of the model behind `predicted`, for provenance."
    )

    _design = field_validator("design", mode="wrap")(typed_design)

    @property
    def label(self) -> str:
        return f"candidate {self.id}"


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
    vial: str | None = Field(None, description="Label of the vial dosed (None in older logs).")
    lots: dict[str, str] = Field(
        default_factory=dict, description="Stock name -> lot of its bottle, for stocks dosed."
    )
    remaining: dict[str, float] = Field(
        default_factory=dict,
        description="Stock name -> grams left in its bottle after this dose (the station's "
        "bookkeeping), for stocks dosed.",
    )


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


class Observation(CarriesDesign):
    """What the planner is told: a candidate and its measured outcome values."""

    candidate_id: str
    design: SerializeAsAny[Design] = Field(description="The design the planner asked for.")
    as_dosed: SerializeAsAny[Design] | None = Field(
        None, description="The design as actually made (e.g. from weighed masses)."
    )
    values: dict[str, float] = Field(description="Outcome name -> value.")
    errors: dict[str, float] = Field(
        default_factory=dict,
        description="Outcome name -> standard error of its value (e.g. the spread over a "
        "simulation's realisations), told to the planner as noise; absent: unknown.",
    )

    @field_validator("errors")
    @classmethod
    def _errors_valid(cls, errors: dict[str, float]) -> dict[str, float]:
        for name, value in errors.items():
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"standard error of {name} is {value!r}; allowed: >= 0")
        return errors

    _designs = field_validator("design", "as_dosed", mode="wrap")(typed_design)

    @property
    def label(self) -> str:
        return f"observation {self.candidate_id}"
