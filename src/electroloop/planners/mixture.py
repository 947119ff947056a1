"""The unit cube -> feasible formulation map every planner goes through, and shared helpers.

Why a map instead of constraints: Ax with a linear sum constraint on the solvent fractions
took 17–28 s per batch of 4 on our 2-core machines, against about 2 s unconstrained
(../shared/STACK.md §5). Mapping an unconstrained cube onto the search space keeps every
proposal valid by construction and lets Bayesian optimisation, Sobol and random search all work
on a plain box. The cube coordinates, in order (`MixtureMap.coordinates`):

1. ``u0 … u{k-2}`` (kind "fraction"): bounded stick-breaking over the k active solvents
   (k = all solvents, or `max_components`). Active solvent i (search-space order), with R of
   the blend still unassigned, may take anything in

       lo_i = max(min_i, R - sum_{j>i} max_j),   hi_i = min(max_i, R - sum_{j>i} min_j)

   (sums over the later *active* solvents: the window that still lets them meet their
   bounds); u_i picks x_i = lo_i + u_i (hi_i - lo_i), and the last active solvent takes the
   remainder. Inactive solvents are exactly 0.
2. ``molality`` (kind "molality"): linear between the salt's bounds.
3. ``solvent_subset`` (kind "subset"), only when `max_components` leaves more than one choice:
   which k solvents are active, in equal bins over the feasible k-subsets (in
   `itertools.combinations` order): those holding every solvent with min_fraction > 0, whose
   maxima can reach 1 and minima stay <= 1, and that meet the linear constraints. Blends of
   fewer than k solvents are the faces of these (a coordinate at its window's end gives an
   exact 0), so they are reachable but carry no volume of their own.
4. one per extra parameter, named after it: a continuous range is linear (kind "range"); an
   integer range (kind "integer") and a choice (kind "choice") cut [0, 1] into equal bins, one
   per whole number or choice, so each has the same cube volume.

A name that clashes with an extra parameter gets leading underscores (``_u0``).

Linear constraints: a stick-broken point that violates one is projected onto the feasible
polytope (see `electroloop.planners.projection`), so every output passes `SearchSpace.check`.
A space whose linear constraints leave nothing feasible is a `ConfigError` when the map is
built, naming the constraint.

The price: the map depends on the solvent order and distorts volume, so a uniform
distribution on the cube is not uniform over compositions (later solvents are squeezed into
what is left) and distances in the cube are not distances between mixtures; space-filling
designs are only approximately space-filling, and a GP in cube coordinates sees a warped
objective. Discrete coordinates (subset, integers, choices) make the objective piecewise
constant along them. Projection collapses every cube point outside a constraint onto the
constraint's boundary: that region of the cube is flat for a model and wasted for a
space-filling design, and boundary mixtures are proposed more often than interior ones. It is
bijective on the interior of the stick-breaking windows of plain spaces (no linear constraints).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any, NamedTuple

from electroloop.errors import PlannerError
from electroloop.models import (
    SUM_TOLERANCE,
    AnySpace,
    ChoiceParameter,
    Design,
    Formulation,
    Goal,
    RangeParameter,
    SearchSpace,
    space_from_json,
)
from electroloop.planners.projection import ConstraintProjector

_EMPTY_WINDOW = 1e-12
"""Windows narrower than this are rounding noise around a single allowed value."""

STATE_VERSION = 1
"""Bumped whenever a planner's `state()` layout changes incompatibly."""


class Coordinate(NamedTuple):
    """One cube coordinate: its name and what it decides.

    kind: "fraction" (stick-breaking), "molality", "subset" (which solvents are active),
    "range", "integer" or "choice" (an extra parameter of that name).
    """

    name: str
    kind: str


class MixtureMap:
    """Map (onto the feasible set) from [0,1]^d to the formulations of a search space."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        names = space.solvent_names
        k = len(names) if space.max_components is None else min(space.max_components, len(names))
        subsets = _candidate_subsets(space, k)
        self._projector: ConstraintProjector | None = None
        if space.linear_constraints:
            self._projector = ConstraintProjector(space, subsets)
            subsets = list(self._projector.feasible)
        self._subsets = tuple(subsets)
        self._k = k
        index = {name: i for i, name in enumerate(names)}
        # Per subset: its solvent indices and the sums of bounds over the later active solvents.
        self._sticks: list[tuple[list[int], list[float], list[float]]] = []
        for subset in self._subsets:
            members = [index[name] for name in subset]
            mins = [space.solvents[i].min_fraction for i in members]
            maxs = [space.solvents[i].max_fraction for i in members]
            later_min = [math.fsum(mins[j + 1 :]) for j in range(len(mins))]
            later_max = [math.fsum(maxs[j + 1 :]) for j in range(len(maxs))]
            self._sticks.append((members, later_min, later_max))
        taken = {p.name for p in space.parameters}

        def free(name: str) -> str:
            while name in taken:
                name = "_" + name
            return name

        coordinates = [Coordinate(free(f"u{i}"), "fraction") for i in range(k - 1)]
        coordinates.append(Coordinate("molality", "molality"))
        if len(self._subsets) > 1:
            coordinates.append(Coordinate(free("solvent_subset"), "subset"))
        for p in space.parameters:
            kind = "choice" if isinstance(p, ChoiceParameter) else "range"
            coordinates.append(Coordinate(p.name, "integer" if _is_integer(p) else kind))
        self.coordinates: tuple[Coordinate, ...] = tuple(coordinates)

    @property
    def dimension(self) -> int:
        """Number of cube coordinates, ``len(coordinates)`` (plain space: one per solvent)."""
        return len(self.coordinates)

    @property
    def subsets(self) -> tuple[tuple[str, ...], ...]:
        """The active solvent sets the "subset" coordinate chooses between, in bin order."""
        return self._subsets

    def levels(self, index: int) -> int | None:
        """Number of equal bins of coordinate `index` if it is discrete, else None."""
        kind = self.coordinates[index].kind
        if kind == "subset":
            return len(self._subsets)
        if kind in ("integer", "choice"):
            return _levels(self.space.parameters[index - self._extras_start])
        return None

    @property
    def _extras_start(self) -> int:
        return self.dimension - len(self.space.parameters)

    def _window(self, stick: int, j: int, remaining: float) -> tuple[float, float]:
        """Allowed [lo, hi] of the j-th active solvent given what is left; hi >= lo."""
        members, later_min, later_max = self._sticks[stick]
        solvent = self.space.solvents[members[j]]
        lo = max(solvent.min_fraction, remaining - later_max[j], 0.0)
        hi = min(solvent.max_fraction, remaining - later_min[j], remaining)
        return lo, max(lo, hi)

    def to_formulation(self, u: Sequence[float]) -> Formulation:
        """The formulation at cube point `u` (coordinates are clipped into [0, 1])."""
        if len(u) != self.dimension:
            raise ValueError(f"cube point has {len(u)} coordinates; allowed: {self.dimension}")
        if not all(math.isfinite(float(c)) for c in u):
            raise ValueError(f"cube point {list(u)} has non-finite coordinates")
        unit = [min(1.0, max(0.0, float(c))) for c in u]
        stick = 0
        if len(self._subsets) > 1:
            stick = _bin(unit[self._k], len(self._subsets))
        members = self._sticks[stick][0]
        solvents = self.space.solvents
        taken: list[float] = []
        for j in range(len(members) - 1):
            lo, hi = self._window(stick, j, 1.0 - math.fsum(taken))
            taken.append(min(hi, max(lo, lo + unit[j] * (hi - lo))))
        last = solvents[members[-1]]
        rest = min(last.max_fraction, max(last.min_fraction, 1.0 - math.fsum(taken), 0.0))
        active = dict(zip((solvents[i].name for i in members), [*taken, rest], strict=True))
        fractions = {name: active.get(name, 0.0) for name in self.space.solvent_names}
        salt = self.space.salt
        span = salt.max_molality - salt.min_molality
        molality = min(salt.max_molality, salt.min_molality + unit[self._k - 1] * span)
        start = self._extras_start
        extras = {
            p.name: decode_parameter(p, unit[start + i])
            for i, p in enumerate(self.space.parameters)
        }
        formulation = self._formulation(fractions, molality, extras)
        if self._projector is None:
            return formulation
        return self._constrained(formulation, tuple(active))

    def _formulation(
        self, fractions: dict[str, float], molality: float, extras: dict[str, Any]
    ) -> Formulation:
        return Formulation(
            fractions=fractions,
            salt=self.space.salt.name,
            molality=molality,
            temperature=self.space.temperature,
            extras=extras,
        )

    def _constrained(self, formulation: Formulation, active: tuple[str, ...]) -> Formulation:
        """`formulation`, projected onto the linear constraints if it violates one."""
        assert self._projector is not None
        variables = self.space.variables(formulation)
        if all(c.satisfied(variables) for c in self.space.linear_constraints):
            return formulation
        values = {**formulation.fractions, "molality": formulation.molality, **formulation.extras}
        error: ValueError | None = None
        for use_qp in (True, False):  # the nearest point, else the exact inward pull alone
            repaired = self._projector.repair(active, values, use_qp=use_qp)
            fractions = {name: float(repaired[name]) for name in self.space.solvent_names}
            # The last active solvent takes the remainder, so the sum is 1 to rounding.
            fractions[active[-1]] = 0.0
            fractions[active[-1]] = max(0.0, 1.0 - math.fsum(fractions.values()))
            salt = self.space.salt
            molality = min(salt.max_molality, max(salt.min_molality, float(repaired["molality"])))
            extras = {p.name: repaired[p.name] for p in self.space.parameters}
            try:
                candidate = self._formulation(fractions, molality, extras)
                self.space.check(candidate)
            except ValueError as exc:
                error = exc
                continue
            return candidate
        raise PlannerError(f"could not project {formulation} onto the linear constraints: {error}")

    def to_design(self, u: Sequence[float]) -> Formulation:
        """`to_formulation`, under the name every `CubeMap` has."""
        return self.to_formulation(u)

    def to_unit(self, formulation: Design) -> list[float]:
        """A cube point mapping to `formulation` (for a feasible one, exactly up to rounding).

        A coordinate whose window is empty maps to 0.5; a discrete coordinate to its bin centre;
        the subset is the first feasible one holding every non-zero solvent.
        """
        if not isinstance(formulation, Formulation):
            raise ValueError(f"design is a {formulation.type}; allowed: a formulation")
        names = self.space.solvent_names
        if set(formulation.fractions) != set(names):
            raise ValueError(
                f"formulation solvents {sorted(formulation.fractions)} differ from the "
                f"search space's {sorted(names)}"
            )
        nonzero = {name for name, value in formulation.fractions.items() if value > 0.0}
        stick = next((i for i, s in enumerate(self._subsets) if nonzero <= set(s)), None)
        if stick is None:
            raise ValueError(
                f"formulation has non-zero solvents {sorted(nonzero)}; allowed: a subset of one "
                f"of {[list(s) for s in self._subsets]}"
            )
        members = self._sticks[stick][0]
        x = [formulation.fractions[names[i]] for i in members]
        unit: list[float] = []
        for j in range(len(members) - 1):
            lo, hi = self._window(stick, j, 1.0 - math.fsum(x[:j]))
            unit.append(_fraction_of(x[j], lo, hi))
        salt = self.space.salt
        unit.append(_fraction_of(formulation.molality, salt.min_molality, salt.max_molality))
        if len(self._subsets) > 1:
            unit.append((stick + 0.5) / len(self._subsets))
        missing = [p.name for p in self.space.parameters if p.name not in formulation.extras]
        if missing:
            raise ValueError(f"formulation lacks parameters {missing}")
        unit.extend(encode_parameter(p, formulation.extras[p.name]) for p in self.space.parameters)
        return unit


def _candidate_subsets(space: SearchSpace, k: int) -> list[tuple[str, ...]]:
    """The k-solvent sets that can hold a blend: required solvents in, bounds able to sum to 1."""
    solvents = space.solvents
    if k == len(solvents):
        return [space.solvent_names]
    subsets = []
    for members in itertools.combinations(solvents, k):
        outside = [s for s in solvents if s not in members]
        if any(s.min_fraction > 0.0 for s in outside):
            continue
        if math.fsum(s.max_fraction for s in members) < 1.0 - SUM_TOLERANCE:
            continue
        if math.fsum(s.min_fraction for s in members) > 1.0 + SUM_TOLERANCE:
            continue
        subsets.append(tuple(s.name for s in members))
    return subsets


def _is_integer(p: RangeParameter | ChoiceParameter) -> bool:
    return isinstance(p, RangeParameter) and p.integer


def _levels(p: RangeParameter | ChoiceParameter) -> int:
    if isinstance(p, ChoiceParameter):
        return len(p.choices)
    return int(p.high) - int(p.low) + 1


def _bin(u: float, levels: int) -> int:
    """The equal-width bin of [0, 1] that `u` falls in (u = 1 in the last)."""
    return min(int(u * levels), levels - 1)


def decode_parameter(p: RangeParameter | ChoiceParameter, u: float) -> float | int | str:
    """The value of parameter `p` at cube coordinate `u` in [0, 1]."""
    if isinstance(p, ChoiceParameter):
        return p.choices[_bin(u, len(p.choices))]
    if p.integer:
        return int(p.low) + _bin(u, _levels(p))
    return min(p.high, p.low + u * (p.high - p.low))


def encode_parameter(p: RangeParameter | ChoiceParameter, value: float | int | str) -> float:
    """The cube coordinate of parameter `p`'s `value` (a bin centre for discrete ones)."""
    if isinstance(p, ChoiceParameter):
        if value not in p.choices:
            raise ValueError(f"{p.name} is {value!r}; allowed: one of {list(p.choices)}")
        return (p.choices.index(value) + 0.5) / len(p.choices)
    if isinstance(value, str):
        raise ValueError(f"{p.name} is {value!r}; allowed: a number")
    if p.integer:
        index = min(max(round(value) - int(p.low), 0), _levels(p) - 1)
        return (index + 0.5) / _levels(p)
    return _fraction_of(float(value), p.low, p.high)


def _fraction_of(value: float, lo: float, hi: float) -> float:
    """Where `value` sits in [lo, hi], clipped to [0, 1]; 0.5 if the interval is empty."""
    if hi - lo <= _EMPTY_WINDOW:
        return 0.5
    return min(1.0, max(0.0, (value - lo) / (hi - lo)))


def same_formulation(a: Formulation, b: Formulation, tolerance: float = SUM_TOLERANCE) -> bool:
    """Whether two formulations agree: numbers within `tolerance`, salt and choices exactly."""
    if a.salt != b.salt or set(a.fractions) != set(b.fractions) or set(a.extras) != set(b.extras):
        return False
    pairs = [(a.fractions[n], b.fractions[n]) for n in a.fractions]
    pairs += [(a.molality, b.molality), (a.temperature, b.temperature)]
    for name, value in a.extras.items():
        other = b.extras[name]
        if isinstance(value, str) or isinstance(other, str):
            if value != other:
                return False
        else:
            pairs.append((float(value), float(other)))
    return all(abs(x - y) <= tolerance for x, y in pairs)


def check_pending(planner: str, pending: Collection[str], ids: Sequence[str]) -> None:
    """Raise `PlannerError` unless `ids` are distinct and all awaiting a result."""
    seen: set[str] = set()
    for cid in ids:
        if cid not in pending or cid in seen:
            raise PlannerError(
                f"candidate {cid!r} is not awaiting a result from this {planner} planner "
                f"(unknown, already told, failed or abandoned, or repeated in one call); "
                f"allowed: {sorted(pending) or 'none pending'}"
            )
        seen.add(cid)


def pack_common_state(name: str, space: AnySpace, goal: Goal, seed: int) -> dict[str, Any]:
    """The part of every built-in planner's state that `unpack_common_state` reads back."""
    return {
        "planner": name,
        "version": STATE_VERSION,
        "space": space.model_dump(mode="json"),
        "goal": goal.model_dump(mode="json"),
        "seed": seed,
    }


def unpack_common_state(state: Mapping[str, Any], name: str) -> tuple[AnySpace, Goal, int]:
    """Check a state's planner name and version and rebuild its space, goal and seed."""
    if state.get("planner") != name:
        raise PlannerError(
            f"state is for planner {state.get('planner')!r}; allowed: {name!r} states"
        )
    if state.get("version") != STATE_VERSION:
        raise PlannerError(
            f"{name} planner state version {state.get('version')!r}; allowed: {STATE_VERSION}"
        )
    try:
        return (
            space_from_json(state["space"]),
            Goal.model_validate(state["goal"]),
            int(state["seed"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PlannerError(f"invalid {name} planner state: {exc!r}") from exc
