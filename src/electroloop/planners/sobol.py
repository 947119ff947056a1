"""Scrambled Sobol' sampling of the mixture cube: the space-filling, model-free baseline."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

from scipy.stats import qmc

from electroloop.errors import PlannerError
from electroloop.models import AnySpace, Goal
from electroloop.planners.cube import CubePlanner


class SobolPlanner(CubePlanner):
    """Proposes the scrambled Sobol' sequence (seeded) mapped through `MixtureMap`.

    The state is just (seed, points drawn): a restored planner fast-forwards a fresh engine,
    so it continues the identical sequence.
    """

    name: ClassVar[str] = "sobol"

    def __init__(self, space: AnySpace, goal: Goal, seed: int) -> None:
        super().__init__(space, goal, seed)
        self._engine = qmc.Sobol(self.map.dimension, scramble=True, rng=self.seed)
        self._drawn = 0

    def _draw(self, n: int) -> list[list[float]]:
        if n == 0:
            return []
        with warnings.catch_warnings():
            # Balance needs powers of 2; a lab asks in batches of whatever fits the rack.
            warnings.filterwarnings("ignore", message="The balance properties of Sobol")
            points = self._engine.random(n)
        self._drawn += n
        return [[float(c) for c in row] for row in points]

    def _generator_state(self) -> dict[str, Any]:
        return {"drawn": self._drawn}

    def _restore_generator(self, state: dict[str, Any]) -> None:
        drawn = int(state["drawn"])
        if drawn < 0:
            raise PlannerError(f"sobol state has drawn={drawn}; allowed: >= 0")
        self._engine.reset()
        self._engine.fast_forward(drawn)
        self._drawn = drawn
