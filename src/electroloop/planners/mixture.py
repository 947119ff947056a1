"""The unit cube <-> feasible electrolyte map, and a base for planners that sample the cube.

Why a map instead of constraints: Ax with a linear sum constraint on the solvent fractions
took 17–28 s per batch of 4 on our 2-core machines, against about 2 s unconstrained
(../shared/STACK.md §5). Mapping an unconstrained cube onto the mixture simplex keeps every
proposal valid by construction (fractions >= 0, within per-solvent bounds, summing to 1) and
lets Bayesian optimisation, Sobol and random search all work on a plain box.

The map is bounded stick-breaking: solvent i (in search-space order), with R of the blend
still unassigned, may take anything in

    lo_i = max(min_i, R - sum_{j>i} max_j),   hi_i = min(max_i, R - sum_{j>i} min_j)

(the window that still lets the later solvents meet their bounds); coordinate u_i picks
x_i = lo_i + u_i (hi_i - lo_i), and the last solvent takes the remainder. The last cube
coordinate is the molality, linear between the salt's bounds.

The price: the map depends on the solvent order, and it distorts volume, so a uniform
distribution on the cube is not uniform on the mixture polytope (later solvents are squeezed
into what is left) and distances in the cube are not distances between mixtures. Space-filling
designs are therefore only approximately space-filling in composition, and a GP in cube
coordinates sees a warped objective. It is bijective on the interior wherever hi_i > lo_i.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from typing import Any, ClassVar, Self

from electroloop.errors import PlannerError
from electroloop.models import Candidate, Formulation, Goal, Observation, SearchSpace

_EMPTY_WINDOW = 1e-12
"""Windows narrower than this are rounding noise around a single allowed value."""

STATE_VERSION = 1
"""Bumped whenever a planner's `state()` layout changes incompatibly."""


class MixtureMap:
    """Bijection (on the interior) between [0,1]^d and the formulations of a search space.

    d = (number of solvents - 1) + 1: one coordinate per solvent but the last, plus molality.
    """

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        mins = [s.min_fraction for s in space.solvents]
        maxs = [s.max_fraction for s in space.solvents]
        # Sums over the solvents after i, computed once (exactly rounded).
        self._later_min = [math.fsum(mins[i + 1 :]) for i in range(len(mins))]
        self._later_max = [math.fsum(maxs[i + 1 :]) for i in range(len(maxs))]

    @property
    def dimension(self) -> int:
        """Number of cube coordinates: solvents - 1 fractions plus the molality."""
        return len(self.space.solvents)

    def _window(self, i: int, remaining: float) -> tuple[float, float]:
        """Allowed [lo, hi] of solvent i given what is left; hi >= lo even after rounding."""
        solvent = self.space.solvents[i]
        lo = max(solvent.min_fraction, remaining - self._later_max[i], 0.0)
        hi = min(solvent.max_fraction, remaining - self._later_min[i], remaining)
        return lo, max(lo, hi)

    def to_formulation(self, u: Sequence[float]) -> Formulation:
        """The formulation at cube point `u` (coordinates are clipped into [0, 1])."""
        if len(u) != self.dimension:
            raise ValueError(f"cube point has {len(u)} coordinates; allowed: {self.dimension}")
        if not all(math.isfinite(float(c)) for c in u):
            raise ValueError(f"cube point {list(u)} has non-finite coordinates")
        unit = [min(1.0, max(0.0, float(c))) for c in u]
        solvents = self.space.solvents
        taken: list[float] = []
        for i in range(len(solvents) - 1):
            lo, hi = self._window(i, 1.0 - math.fsum(taken))
            taken.append(min(hi, max(lo, lo + unit[i] * (hi - lo))))
        last = solvents[-1]
        rest = min(last.max_fraction, max(last.min_fraction, 1.0 - math.fsum(taken), 0.0))
        fractions = dict(zip(self.space.solvent_names, [*taken, rest], strict=True))
        salt = self.space.salt
        span = salt.max_molality - salt.min_molality
        molality = min(salt.max_molality, salt.min_molality + unit[-1] * span)
        return Formulation(
            fractions=fractions,
            salt=salt.name,
            molality=molality,
            temperature=self.space.temperature,
        )

    def to_unit(self, formulation: Formulation) -> list[float]:
        """The cube point of `formulation`; a coordinate whose window is empty maps to 0.5."""
        names = self.space.solvent_names
        if set(formulation.fractions) != set(names):
            raise ValueError(
                f"formulation solvents {sorted(formulation.fractions)} differ from the "
                f"search space's {sorted(names)}"
            )
        x = [formulation.fractions[name] for name in names]
        unit: list[float] = []
        for i in range(len(names) - 1):
            lo, hi = self._window(i, 1.0 - math.fsum(x[:i]))
            unit.append(_fraction_of(x[i], lo, hi))
        salt = self.space.salt
        unit.append(_fraction_of(formulation.molality, salt.min_molality, salt.max_molality))
        return unit


def _fraction_of(value: float, lo: float, hi: float) -> float:
    """Where `value` sits in [lo, hi], clipped to [0, 1]; 0.5 if the interval is empty."""
    if hi - lo <= _EMPTY_WINDOW:
        return 0.5
    return min(1.0, max(0.0, (value - lo) / (hi - lo)))


class CubePlanner(ABC):
    """Shared bookkeeping of model-free planners that draw points in the unit cube.

    Subclasses provide `_draw(n)` (the next n cube points) and the generator's state. Ids are
    ``t0000``, ``t0001``… in proposal order; a failed candidate's point is re-proposed first,
    under a new id, by the next `ask`.
    """

    name: ClassVar[str] = "cube"

    def __init__(self, space: SearchSpace, goal: Goal, seed: int) -> None:
        self.space = space
        self.goal = goal
        self.seed = int(seed)
        self.map = MixtureMap(space)
        self._next_id = 0
        self._pending: dict[str, list[float]] = {}  # asked, neither told nor failed
        self._requeued: list[list[float]] = []  # failed points, proposed again first
        self._failures: dict[str, str] = {}  # id -> reason, for the record

    @abstractmethod
    def _draw(self, n: int) -> list[list[float]]:
        """The next `n` points of the cube."""

    @abstractmethod
    def _generator_state(self) -> dict[str, Any]:
        """JSON-serialisable state of the point generator."""

    @abstractmethod
    def _restore_generator(self, state: dict[str, Any]) -> None:
        """Restore the generator from `_generator_state()` output."""

    def ask(self, n: int) -> list[Candidate]:
        """The next `n` candidates: re-queued failures first, then fresh points."""
        if n < 0:
            raise PlannerError(f"asked for {n} candidates; allowed: n >= 0")
        again, self._requeued = self._requeued[:n], self._requeued[n:]
        points = again + self._draw(n - len(again))
        candidates = []
        for point in points:
            cid = f"t{self._next_id:04d}"
            self._next_id += 1
            self._pending[cid] = point
            candidates.append(
                Candidate(id=cid, formulation=self.map.to_formulation(point), planner=self.name)
            )
        return candidates

    def tell(self, observations: Sequence[Observation]) -> None:
        """Model-free: only closes the candidates' bookkeeping (all or nothing)."""
        ids = [o.candidate_id for o in observations]
        check_pending(self.name, self._pending, ids)
        for cid in ids:
            del self._pending[cid]

    def mark_failed(self, candidate_id: str, reason: str) -> None:
        """Re-queue the candidate's point for the next `ask`."""
        check_pending(self.name, self._pending, [candidate_id])
        self._requeued.append(self._pending.pop(candidate_id))
        self._failures[candidate_id] = reason

    def state(self) -> dict[str, Any]:
        return {
            "planner": self.name,
            "version": STATE_VERSION,
            "space": self.space.model_dump(mode="json"),
            "goal": self.goal.model_dump(mode="json"),
            "seed": self.seed,
            "next_id": self._next_id,
            "pending": {cid: list(p) for cid, p in self._pending.items()},
            "requeued": [list(p) for p in self._requeued],
            "failures": dict(self._failures),
            "generator": self._generator_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        space, goal, seed = unpack_common_state(state, cls.name)
        planner = cls(space, goal, seed)
        try:
            planner._next_id = int(state["next_id"])
            planner._pending = {str(k): [float(c) for c in v] for k, v in state["pending"].items()}
            planner._requeued = [[float(c) for c in p] for p in state["requeued"]]
            planner._failures = {str(k): str(v) for k, v in state["failures"].items()}
            planner._restore_generator(state["generator"])
        except (KeyError, TypeError, ValueError) as exc:
            raise PlannerError(f"invalid {cls.name} planner state: {exc!r}") from exc
        return planner


def check_pending(planner: str, pending: Collection[str], ids: Sequence[str]) -> None:
    """Raise `PlannerError` unless `ids` are distinct and all awaiting a result."""
    seen: set[str] = set()
    for cid in ids:
        if cid not in pending or cid in seen:
            raise PlannerError(
                f"candidate {cid!r} is not awaiting a result from this {planner} planner "
                f"(unknown, already told or failed, or repeated in one call); "
                f"allowed: {sorted(pending) or 'none pending'}"
            )
        seen.add(cid)


def unpack_common_state(state: dict[str, Any], name: str) -> tuple[SearchSpace, Goal, int]:
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
            SearchSpace.model_validate(state["space"]),
            Goal.model_validate(state["goal"]),
            int(state["seed"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PlannerError(f"invalid {name} planner state: {exc!r}") from exc
