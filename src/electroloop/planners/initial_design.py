"""How many quasi-random points a model-based planner starts with.

A GP needs a few points spread over the space before its hyperparameters mean anything, and
more in more dimensions; every extra one is an experiment the model did not choose. Ax's
default is 5 whatever the dimension (`GenerationStrategyDispatchStruct`); this project's
planners used a fixed 8, which spent a third of a 2-D campaign's budget before the model ran
(issue 20's table: 9 experiments to 98 % of the optimum against Ax's 4). d + 1 points is the
smallest design that spans a d-dimensional box; below 5 dimensions Ax's 5 points are kept,
because on the demo problem in batches of 4 a design of exactly one batch (d + 1 = 4) needed a
median of 13 experiments to 98 % against 10.5 with 5 (10 seeds each, `electroloop bench
planners` at commits 8492328 and ee59cfa; BENCHMARKS.md holds the second). Points already
measured (a warm start from earlier campaigns) count towards it.
"""

from __future__ import annotations

MINIMUM = 5
"""Fewest quasi-random points without prior data: Ax's default (`GenerationStrategyDispatchStruct`),
measured above."""


def initial_design_size(dimension: int, known: int = 0, minimum: int = MINIMUM) -> int:
    """Quasi-random points for a `dimension`-dimensional space with `known` points already
    measured: d + 1 (at least `minimum`), less the known ones, never below 0."""
    if dimension < 1 or known < 0:
        raise ValueError(
            f"dimension {dimension}, known {known}; allowed: dimension >= 1, known >= 0"
        )
    return max(0, max(minimum, dimension + 1) - known)
