"""How many quasi-random points a model-based planner starts with.

A GP needs a few points spread over the space before its hyperparameters mean anything, and
more in more dimensions; every extra one is an experiment the model did not choose. Ax's
default is 5 whatever the dimension (`GenerationStrategyDispatchStruct`); this project's
planners used a fixed 8, which spent a third of a 2-D campaign's budget before the model ran
(issue 20's table: 9 experiments to 98 % of the optimum against Ax's 4). d + 1 points (at least
3) is the smallest design that spans a d-dimensional box, and points already measured (a warm
start from earlier campaigns) count towards it.
"""

from __future__ import annotations

MINIMUM = 3
"""Fewest quasi-random points without prior data (a GP's length scales from 2 points are
guesses)."""


def initial_design_size(dimension: int, known: int = 0) -> int:
    """Quasi-random points for a `dimension`-dimensional space with `known` points already
    measured: d + 1 (at least `MINIMUM`), less the known ones, never below 0."""
    if dimension < 1 or known < 0:
        raise ValueError(
            f"dimension {dimension}, known {known}; allowed: dimension >= 1, known >= 0"
        )
    return max(0, max(MINIMUM, dimension + 1) - known)
