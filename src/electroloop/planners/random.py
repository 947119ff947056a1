"""Uniform random sampling of the mixture cube: the simplest baseline a BO run must beat."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from electroloop.models import AnySpace, Goal
from electroloop.planners.cube import CubePlanner


class RandomPlanner(CubePlanner):
    """Uniform points in the cube (numpy ``Generator(PCG64(seed))``) through `MixtureMap`.

    Uniform in the cube is not uniform over compositions (see `MixtureMap`); the state keeps
    the bit generator's state, so a restored planner continues the identical stream.
    """

    name: ClassVar[str] = "random"

    def __init__(self, space: AnySpace, goal: Goal, seed: int) -> None:
        super().__init__(space, goal, seed)
        self._rng = np.random.Generator(np.random.PCG64(self.seed))

    def _draw(self, n: int) -> list[list[float]]:
        return [[float(c) for c in row] for row in self._rng.random((n, self.map.dimension))]

    def _generator_state(self) -> dict[str, Any]:
        return dict(self._rng.bit_generator.state)

    def _restore_generator(self, state: dict[str, Any]) -> None:
        self._rng.bit_generator.state = state
