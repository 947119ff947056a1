"""Planners: what to make next. Sobol and random baselines, Ax BO, and user classes.

`AxPlanner` is not imported here (Ax takes 4–5 s to import); get it through
``resolve_planner("ax")`` or ``from electroloop.planners.ax_planner import AxPlanner``.
"""

from electroloop.planners.mixture import MixtureMap
from electroloop.planners.random import RandomPlanner
from electroloop.planners.registry import BUILTIN_PLANNERS, resolve_planner
from electroloop.planners.sobol import SobolPlanner
from electroloop.protocols import Planner

__all__ = [
    "BUILTIN_PLANNERS",
    "MixtureMap",
    "Planner",
    "RandomPlanner",
    "SobolPlanner",
    "resolve_planner",
]
