"""Battery Pass performance-and-durability attributes of a lab cell, from its complete cycles.

Names and shapes follow the Battery Pass consortium's SAMM aspect ``io.BatteryPass.Performance``
1.2.0 (github.com/batterypass/BatteryPassDataModel, ``PerformanceAndDurability.ttl``; DIN DKE
SPEC 99100 ch. 6.7); which attributes apply to a cell in a lab test, the units, and the fade
formulas are set out in `lineage`'s docstring.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from electroloop.kinds.cycling.lineage_nodes import Node, clean, ref
from electroloop.kinds.cycling.spec import CyclingSpec
from electroloop.kinds.cycling.summary import CycleStats

__all__ = ["battery_pass"]


def _unit(name: str) -> dict[str, str]:
    return {"@id": f"unit:{name}"}


def _rte(stats: CycleStats) -> float:
    if stats.charge_energy > 0 and math.isfinite(stats.discharge_energy):
        return stats.discharge_energy / stats.charge_energy
    return math.nan


def battery_pass(
    stats: Sequence[CycleStats],
    spec: CyclingSpec,
    cycling_plan: str | None,
    last_update: dict[str, str] | None,
) -> tuple[Node, list[str]]:
    """Battery Pass performance-and-durability attributes from the cell's complete cycles
    (BOL = cycling cycle 1, x = the last complete cycling cycle); and what cannot be given."""
    found: Node = {
        "bp:numberOfFullCycles": clean(
            {
                "bp:numberOfFullCyclesValue": len(stats),
                "bp:lastUpdate": last_update,
                "el:unit": _unit("cycle"),
            }
        ),
        "bp:cRateLifeCycleTest": spec.phases()[-1].discharge_c_rate,
        "bp:capacityThresholdForExhaustion": spec.capacity_floor * 100.0,
    }
    if cycling_plan is not None:
        found["bp:lifetimeReferenceTest"] = ref(cycling_plan)
    cycling = [s for s in stats if s.phase == "cycling"]
    if not cycling:
        return found, ["Battery Pass capacity, resistance and efficiency: no cycling cycle yet"]
    missing: list[str] = []
    first, last, n = cycling[0], cycling[-1], len(cycling)

    def entity(name: str, value: float, unit: str) -> Node:
        return clean(
            {
                f"bp:{name}Value": value,
                "bp:lastUpdate": last_update,
                "el:unit": _unit(unit),
                "el:atCycle": n,
            }
        )

    found["bp:remainingCapacity"] = entity(
        "remainingCapacity", last.discharge_capacity, "ampereHour"
    )
    q0 = first.discharge_capacity
    if n >= 2 and q0 > 0:
        fade = (q0 - last.discharge_capacity) / q0 * 100.0
        found["bp:capacityFade"] = entity("capacityFade", fade, "percent")
        below = [s for s in cycling if s.discharge_capacity < spec.capacity_floor * q0]
        if below:
            found["bp:expectedNumberOfCycles"] = below[0].phase_cycle
            found["el:expectedNumberOfCyclesIs"] = "measured: first cycle below the threshold"
    else:
        missing.append("capacityFade: needs 2 cycling cycles")
    if "bp:expectedNumberOfCycles" not in found:
        missing.append(
            "expectedNumberOfCycles: the cell has not fallen below the capacity threshold, and "
            "no cycle-life forecast is made here (el:retention is the retention at the target "
            "cycle)"
        )
    resistances = [s.resistance for s in cycling if math.isfinite(s.resistance)]
    if resistances:
        found["bp:initialInternalResistance"] = {
            "bp:ohmicResistance": resistances[0],
            "bp:batteryComponent": "cell",
            "el:unit": _unit("ohm"),
        }
        if len(resistances) >= 2 and resistances[0] > 0:
            increase = (resistances[-1] - resistances[0]) / resistances[0] * 100.0
            node = entity("internalResistanceIncrease", increase, "percent")
            found["bp:internalResistanceIncrease"] = {**node, "bp:batteryComponent": "cell"}
    else:
        missing.append("internal resistance: no resistance pulse in the cycling cycles")
    rte0, rtex = _rte(first), _rte(last)
    if math.isfinite(rte0):
        found["bp:roundtripEfficiency"] = rte0 * 100.0
    if math.isfinite(rtex):
        found["bp:remainingRoundTripEnergyEfficiency"] = entity(
            "remainingRoundTripEnergyEfficiency", rtex * 100.0, "percent"
        )
    if n >= 2 and math.isfinite(rte0) and math.isfinite(rtex) and rte0 > 0:
        found["bp:roundTripEfficiencyFade"] = (rte0 - rtex) / rte0 * 100.0
    if not math.isfinite(rte0):
        missing.append("round-trip efficiency: no charge energy recorded")
    return found, missing
