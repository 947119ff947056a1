"""The metrics an electrolyte campaign can optimise or constrain, and how each is obtained.

A metric is either *measured* by the lab (conductivity, by the meter) or *derived* from the
formulation as dosed (cost, from a price table). Derived metrics are computed from weighed
masses, never from what the planner asked for.
"""

from __future__ import annotations

from electroloop.models import Formulation, SearchSpace
from electroloop.simulations.cost import electrolyte_cost

METRICS: dict[str, str] = {"conductivity": "mS/cm", "cost": "USD/kg"}
"""Metric name -> unit."""


def derived_metrics(space: SearchSpace, as_dosed: Formulation) -> dict[str, float]:
    """Metrics computed from the dosed formulation (not measured): currently the cost."""
    fractions = space.fractions_by_smiles(as_dosed)
    return {"cost": electrolyte_cost(fractions, space.salt.canonical_smiles, as_dosed.molality)}
