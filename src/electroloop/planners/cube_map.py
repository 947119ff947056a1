"""The unit cube the built-in planners draw in, mapped to the designs of any space they search.

Sobol, random and Ax see a space as the box [0, 1]^d. For a mixture (`SearchSpace`) the map is
`MixtureMap` (stick-breaking over the solvent fractions, then molality and extra parameters;
its `to_design` is its `to_formulation`);
for a box of named range parameters (`BoxSpace`, e.g. electrode designs) it is `BoxMap`, each
coordinate stretched linearly onto one parameter's bounds (whole numbers for integer ones).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from electroloop.models import AnySpace, BoxSpace, Design, DesignPoint, Formulation
from electroloop.planners.mixture import (
    MixtureMap,
    decode_parameter,
    encode_parameter,
    same_formulation,
)

SAME_POINT = 1e-9
"""How far two box points' values may differ and still be the same design."""


class CubeMap(Protocol):
    """From the unit cube to a space's designs, and back."""

    @property
    def dimension(self) -> int: ...

    def to_design(self, u: Sequence[float]) -> Design: ...

    def to_unit(self, design: Design) -> list[float]: ...


class BoxMap:
    """Coordinate i of the cube is parameter i of the box, scaled onto its bounds."""

    def __init__(self, space: BoxSpace) -> None:
        self.space = space

    @property
    def dimension(self) -> int:
        return len(self.space.parameters)

    def to_design(self, u: Sequence[float]) -> DesignPoint:
        """The design at cube point `u` (coordinates are clipped into [0, 1])."""
        if len(u) != self.dimension:
            raise ValueError(f"cube point has {len(u)} coordinates; allowed: {self.dimension}")
        if not all(math.isfinite(float(c)) for c in u):
            raise ValueError(f"cube point {list(u)} has non-finite coordinates")
        values = {
            p.name: float(decode_parameter(p, min(1.0, max(0.0, float(c)))))
            for p, c in zip(self.space.parameters, u, strict=True)
        }
        return DesignPoint(values=values)

    def to_unit(self, design: Design) -> list[float]:
        """The cube point of `design`; ValueError naming the field if it lies outside the box."""
        self.space.check(design)
        assert isinstance(design, DesignPoint)
        return [encode_parameter(p, design.values[p.name]) for p in self.space.parameters]


def cube_map(space: AnySpace) -> CubeMap:
    """The map of `space`: `MixtureMap` for a mixture, `BoxMap` for a box."""
    if isinstance(space, BoxSpace):
        return BoxMap(space)
    return MixtureMap(space)


def same_design(a: Design, b: Design) -> bool:
    """Whether two designs are the same: formulations by `same_formulation`, box points by
    every value within `SAME_POINT`."""
    if isinstance(a, Formulation) and isinstance(b, Formulation):
        return same_formulation(a, b)
    if isinstance(a, DesignPoint) and isinstance(b, DesignPoint):
        if set(a.values) != set(b.values):
            return False
        return all(abs(a.values[n] - b.values[n]) <= SAME_POINT for n in a.values)
    return False
