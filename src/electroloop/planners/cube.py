"""A base for model-free planners that draw points in the unit cube and map them to designs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Self

from electroloop.errors import PlannerError
from electroloop.models import AnySpace, Candidate, Design, Goal, Observation
from electroloop.planners.cube_map import cube_map, same_design
from electroloop.planners.mixture import check_pending, pack_common_state, unpack_common_state

MAX_SKIPPED_PER_ASK = 1000
"""Draws skipped as abandoned (plus 100 per asked candidate) before `ask` gives up."""


class CubePlanner(ABC):
    """Shared bookkeeping of model-free planners that draw points in the unit cube.

    Subclasses provide `_draw(n)` (the next n cube points) and the generator's state. Ids are
    ``t0000``, ``t0001``… in proposal order. A failed candidate's point is re-proposed first,
    under a new id, by the next `ask`; an abandoned candidate's design is never proposed
    again: later points that map to it (within 1e-9) are skipped.
    """

    name: ClassVar[str] = "cube"

    def __init__(self, space: AnySpace, goal: Goal, seed: int) -> None:
        self.space = space
        self.goal = goal
        self.seed = int(seed)
        self.map = cube_map(space)
        self._next_id = 0
        self._pending: dict[str, list[float]] = {}  # asked, neither told nor failed
        self._requeued: list[list[float]] = []  # failed points, proposed again first
        self._failures: dict[str, str] = {}  # id -> reason, for the record
        self._abandoned: dict[str, tuple[str, list[float]]] = {}  # id -> (reason, point)
        self._vetoed: list[Design] = []  # designs of the abandoned points

    @abstractmethod
    def _draw(self, n: int) -> list[list[float]]:
        """The next `n` points of the cube."""

    @abstractmethod
    def _generator_state(self) -> dict[str, Any]:
        """JSON-serialisable state of the point generator."""

    @abstractmethod
    def _restore_generator(self, state: dict[str, Any]) -> None:
        """Restore the generator from `_generator_state()` output."""

    def _is_vetoed(self, design: Design) -> bool:
        return any(same_design(design, d) for d in self._vetoed)

    def ask(self, n: int) -> list[Candidate]:
        """The next `n` candidates: re-queued failures first, then fresh points.

        Points whose design equals an abandoned one are dropped and replaced by further
        draws; `PlannerError` if too many draws in a row are dropped.
        """
        if n < 0:
            raise PlannerError(f"asked for {n} candidates; allowed: n >= 0")
        chosen: list[tuple[list[float], Design]] = []
        skipped = 0
        limit = MAX_SKIPPED_PER_ASK + 100 * n
        while len(chosen) < n:
            wanted = n - len(chosen)
            again, self._requeued = self._requeued[:wanted], self._requeued[wanted:]
            for point in again + self._draw(wanted - len(again)):
                design = self.map.to_design(point)
                if self._is_vetoed(design):
                    skipped += 1
                else:
                    chosen.append((point, design))
            if skipped > limit:
                raise PlannerError(
                    f"{self.name}: {skipped} points drawn in one ask map to abandoned "
                    f"designs ({len(self._vetoed)} abandoned); allowed: a search space "
                    "not exhausted by abandoned designs"
                )
        candidates = []
        for point, design in chosen:
            cid = f"t{self._next_id:04d}"
            self._next_id += 1
            self._pending[cid] = point
            candidates.append(Candidate(id=cid, design=design, planner=self.name))
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

    def mark_abandoned(self, candidate_id: str, reason: str) -> None:
        """Never propose the candidate's design again (a human or safety veto)."""
        check_pending(self.name, self._pending, [candidate_id])
        point = self._pending.pop(candidate_id)
        self._abandoned[candidate_id] = (reason, point)
        self._vetoed.append(self.map.to_design(point))

    def state(self) -> dict[str, Any]:
        return {
            **pack_common_state(self.name, self.space, self.goal, self.seed),
            "next_id": self._next_id,
            "pending": {cid: list(p) for cid, p in self._pending.items()},
            "requeued": [list(p) for p in self._requeued],
            "failures": dict(self._failures),
            "abandoned": {
                cid: {"reason": reason, "point": list(point)}
                for cid, (reason, point) in self._abandoned.items()
            },
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
            for cid, record in state.get("abandoned", {}).items():
                point = [float(c) for c in record["point"]]
                planner._abandoned[str(cid)] = (str(record["reason"]), point)
                planner._vetoed.append(planner.map.to_design(point))
            planner._restore_generator(state["generator"])
        except (KeyError, TypeError, ValueError) as exc:
            raise PlannerError(f"invalid {cls.name} planner state: {exc!r}") from exc
        return planner
