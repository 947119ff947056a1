"""Linear constraints of a search space: feasibility when a map is built, repair of violations.

`MixtureMap` stick-breaks a cube point into fractions within their bounds; when that point
breaks one of the space's linear constraints, `ConstraintProjector.repair` moves it onto the
feasible polytope

    {solvent bounds, inactive solvents = 0, fractions sum to 1, molality and parameter ranges,
     every linear constraint}

by the Euclidean projection (SLSQP, deterministic; fractions in their own units, molality and
range parameters scaled by their span), followed by a pull towards an interior point of the
polytope (computed once per active set with `linprog`) that makes the result exact to rounding
error whatever SLSQP returned. If SLSQP fails, the pull alone (a radial retraction of the
stick-broken point towards the interior point) is the answer: still valid, no longer nearest.

Integer range parameters that appear in a constraint keep the value their cube bin gave; only
if no continuous values can meet the constraints with it is the nearest feasible whole-number
assignment (in L1 distance) taken. Feasibility at construction is checked on the relaxation
(integers treated as continuous), so a space feasible only for non-integer values is reported
when a point is mapped (`PlannerError`), not at construction.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
from scipy.optimize import linprog, minimize

from electroloop.errors import ConfigError, PlannerError
from electroloop.models import LinearConstraint, RangeParameter, SearchSpace

Value = float | int | str

_FIXED_SPAN = 1e-12
"""A variable whose bounds are closer than this is a constant."""

_MAX_INTEGER_TRIES = 2000
"""Whole-number assignments tried (each an LP) before giving up on a point."""


class _Polytope:
    """{y : lo <= y <= hi, mask . y = target, A y <= b} over scaled free variables y = z / scale."""

    def __init__(
        self,
        names: list[str],
        bounds: tuple[np.ndarray, np.ndarray],
        scale: np.ndarray,
        mask: np.ndarray | None,
        target: float,
        rows: tuple[np.ndarray, np.ndarray],
    ) -> None:
        self.names = names
        self.lo, self.hi = bounds
        self.scale = scale
        self.mask = mask
        self.target = target
        self.a, self.b = rows
        self.centre = np.zeros(0)

    def find_centre(self) -> bool:
        """Put `centre` deepest inside (largest common slack); False if the polytope is empty."""
        d = len(self.names)
        norms = np.linalg.norm(self.a, axis=1)
        eye = np.eye(d)
        a_ub = np.vstack(
            [
                np.hstack([self.a, norms[:, None]]),
                np.hstack([-eye, np.ones((d, 1))]),
                np.hstack([eye, np.ones((d, 1))]),
            ]
        )
        b_ub = np.concatenate([self.b, -self.lo, self.hi])
        a_eq = b_eq = None
        if self.mask is not None:
            a_eq, b_eq = np.append(self.mask, 0.0)[None, :], [self.target]
        result = linprog(
            np.append(np.zeros(d), -1.0),
            A_ub=a_ub,
            b_ub=b_ub,
            A_eq=a_eq,
            b_eq=b_eq,
            bounds=[*zip(self.lo, self.hi, strict=True), (0.0, 1.0)],
            method="highs",
            options={"primal_feasibility_tolerance": 1e-10},
        )
        if result.status == 2:
            return False
        if result.status != 0:
            raise PlannerError(f"linear program for the constraint centre failed: {result.message}")
        self.centre = np.clip(result.x[:d], self.lo, self.hi)
        return True

    def project(self, z0: np.ndarray, use_qp: bool) -> np.ndarray:
        """The nearest point of the polytope to `z0` (`use_qp`), made exact by a pull inwards."""
        y0 = np.clip(z0 / self.scale, self.lo, self.hi)
        y = y0
        if use_qp and len(self.b):
            y = self._nearest(y0)
        centre = self.centre
        step = self.a @ (y - centre)
        slack = np.maximum(self.b - self.a @ centre, 0.0)
        outward = step > 0.0
        t = min(1.0, float(np.min(slack[outward] / step[outward]))) if outward.any() else 1.0
        return (centre + t * (y - centre)) * self.scale

    def _nearest(self, y0: np.ndarray) -> np.ndarray:
        constraints: list[dict[str, object]] = [
            {"type": "ineq", "fun": lambda y: self.b - self.a @ y, "jac": lambda y: -self.a}
        ]
        if self.mask is not None:
            mask = self.mask
            constraints.append(
                {"type": "eq", "fun": lambda y: [mask @ y - self.target], "jac": lambda y: [mask]}
            )
        with warnings.catch_warnings():
            # Out-of-bounds steps and non-convergence are handled below: the result is checked.
            warnings.simplefilter("ignore")
            result = minimize(
                lambda y: 0.5 * float((y - y0) @ (y - y0)),
                y0,
                jac=lambda y: y - y0,
                method="SLSQP",
                bounds=list(zip(self.lo, self.hi, strict=True)),
                constraints=constraints,
                options={"ftol": 1e-15, "maxiter": 200},
            )
        if not result.success or not np.all(np.isfinite(result.x)):
            return y0
        return np.clip(result.x, self.lo, self.hi)


class ConstraintProjector:
    """Feasibility and repair for a space's linear constraints over candidate active sets.

    `subsets` are the active solvent sets the map may choose (all solvents when the space has no
    `max_components`). Construction raises `ConfigError` naming the first constraint (in file
    order) that leaves no formulation feasible; `feasible` keeps the subsets that stay feasible.
    """

    def __init__(self, space: SearchSpace, subsets: Sequence[tuple[str, ...]]) -> None:
        self.space = space
        constraints = space.linear_constraints
        mentioned = {name for c in constraints for name in c.terms}
        self._integers = {
            p.name: p
            for p in space.parameters
            if isinstance(p, RangeParameter) and p.integer and p.name in mentioned
        }
        self._cache: dict[tuple[tuple[str, ...], tuple[float, ...]], _Polytope | None] = {}
        for k in range(1, len(constraints) + 1):
            if not any(self._build(s, constraints[:k], {}) for s in subsets):
                raise ConfigError(
                    _infeasible_message(space, constraints[: k - 1], constraints[k - 1])
                )
        self.feasible = tuple(s for s in subsets if self._polytope(s, {}) is not None)

    def repair(
        self, active: tuple[str, ...], values: Mapping[str, Value], use_qp: bool = True
    ) -> dict[str, Value]:
        """`values` (fractions, ``molality``, extras) moved to satisfy every linear constraint."""
        fixed = {name: float(values[name]) for name in self._integers}
        polytope = self._polytope(active, fixed)
        if polytope is None:
            fixed, polytope = self._nearest_integers(active, fixed)
        repaired: dict[str, Value] = dict(values)
        repaired.update({name: int(v) for name, v in fixed.items()})
        numeric = {k: float(v) for k, v in repaired.items() if not isinstance(v, str)}
        if all(c.satisfied(numeric) for c in self.space.linear_constraints):
            return repaired
        z0 = np.array([numeric[name] for name in polytope.names])
        z = polytope.project(z0, use_qp)
        repaired.update({name: float(v) for name, v in zip(polytope.names, z, strict=True)})
        return repaired

    def _polytope(self, active: tuple[str, ...], fixed: Mapping[str, float]) -> _Polytope | None:
        key = (active, tuple(fixed[name] for name in self._integers if name in fixed))
        if key not in self._cache:
            self._cache[key] = self._build(active, self.space.linear_constraints, fixed)
        return self._cache[key]

    def _build(
        self,
        active: tuple[str, ...],
        constraints: Sequence[LinearConstraint],
        fixed: Mapping[str, float],
    ) -> _Polytope | None:
        """The polytope of `active` under `constraints`, integers in `fixed` held; None if empty."""
        space = self.space
        mentioned = {name for c in constraints for name in c.terms}
        constants: dict[str, float] = {s.name: 0.0 for s in space.solvents if s.name not in active}
        constants.update(fixed)
        variables: list[tuple[str, float, float, float, bool]] = []  # name, lo, hi, scale, fraction
        if mentioned & set(space.solvent_names):
            for s in space.solvents:
                if s.name in active:
                    variables.append((s.name, s.min_fraction, s.max_fraction, 1.0, True))
        salt = space.salt
        if "molality" in mentioned:
            span = salt.max_molality - salt.min_molality
            variables.append(("molality", salt.min_molality, salt.max_molality, span, False))
        for p in space.parameters:
            if isinstance(p, RangeParameter) and p.name in mentioned and p.name not in fixed:
                variables.append((p.name, p.low, p.high, p.high - p.low, False))
        free = []
        for variable in variables:
            name, lo, hi, _, _ = variable
            if hi - lo <= _FIXED_SPAN:
                constants[name] = lo
            else:
                free.append(variable)
        names = [v[0] for v in free]
        scale = np.array([v[3] for v in free])
        lo = np.array([v[1] for v in free]) / scale if free else np.zeros(0)
        hi = np.array([v[2] for v in free]) / scale if free else np.zeros(0)
        mask = None
        target = 0.0
        if any(v[4] for v in variables):
            target = 1.0 - math.fsum(constants.get(s, 0.0) for s in space.solvent_names)
            mask = np.array([1.0 if v[4] else 0.0 for v in free])
            if not mask.any() and abs(target) > 1e-12:
                return None
            if not mask.any():
                mask = None
        rows, bounds = [], []
        for c in constraints:
            sign = 1.0 if c.op == "<=" else -1.0
            row = np.array(
                [sign * c.terms.get(n, 0.0) * s for n, s in zip(names, scale, strict=True)]
            )
            constant = math.fsum(
                coef * constants[n] for n, coef in c.terms.items() if n in constants
            )
            bound = sign * (c.bound - constant)
            if np.any(row != 0.0):
                rows.append(row)
                bounds.append(bound)
            elif bound < -1e-12:
                return None
        a = np.array(rows).reshape(len(rows), len(names))
        polytope = _Polytope(names, (lo, hi), scale, mask, target, (a, np.array(bounds)))
        return polytope if polytope.find_centre() else None

    def _nearest_integers(
        self, active: tuple[str, ...], start: Mapping[str, float]
    ) -> tuple[dict[str, float], _Polytope]:
        names = list(start)
        params = [self._integers[n] for n in names]
        origin = [int(start[n]) for n in names]
        tries = enumerated = 0
        widest = sum(int(p.high - p.low) for p in params)
        for distance in range(1, widest + 1):
            for step in _l1_shell(len(names), distance):
                enumerated += 1
                if enumerated > 50 * _MAX_INTEGER_TRIES:
                    tries = _MAX_INTEGER_TRIES
                    break
                values = [o + s for o, s in zip(origin, step, strict=True)]
                if not all(p.low <= v <= p.high for p, v in zip(params, values, strict=True)):
                    continue
                fixed = {n: float(v) for n, v in zip(names, values, strict=True)}
                polytope = self._polytope(active, fixed)
                if polytope is not None:
                    return fixed, polytope
                tries += 1
                if tries >= _MAX_INTEGER_TRIES:
                    break
            if tries >= _MAX_INTEGER_TRIES:
                break
        raise PlannerError(
            f"no whole-number values of {names} near {origin} (tried {tries + 1}) meet the "
            f"linear constraints {[str(c) for c in self.space.linear_constraints]} with solvents "
            f"{list(active)}; allowed: constraints feasible at whole numbers"
        )


def _l1_shell(length: int, distance: int) -> Iterator[tuple[int, ...]]:
    """Every integer vector of `length` with L1 norm `distance`, in a fixed order."""
    if length == 1:
        yield from ((distance,), (-distance,)) if distance else ((0,),)
        return
    for first in sorted(range(-distance, distance + 1), key=lambda v: (abs(v), v)):
        for rest in _l1_shell(length - 1, distance - abs(first)):
            yield (first, *rest)


def _infeasible_message(
    space: SearchSpace, before: Sequence[LinearConstraint], culprit: LinearConstraint
) -> str:
    context = "the solvent bounds, the salt's molality range, the parameter ranges"
    if space.max_components is not None:
        context += f", max_components={space.max_components}"
    if before:
        context += f" and the constraints before it {[str(c) for c in before]}"
    return (
        f"linear constraint '{culprit}' cannot be met together with {context}; "
        "allowed: constraints that leave at least one formulation feasible"
    )
