"""Alerting rules for cells on a cycler, evaluated on each poll's new records (runbooks in
docs/runbooks/)."""

from __future__ import annotations

from collections.abc import Sequence

from electroloop.instruments.cycler import CycleRecord
from electroloop.kinds.cycling.spec import Chemistry
from electroloop.orchestrator.alerts import Alert, AlertRule

__all__ = ["CHANNEL_TRIPPED", "OUT_OF_LIMITS", "RULES", "THERMAL_EXCURSION", "record_alerts"]

EXCURSION = 5.0
"""°C above the campaign's temperature that pages: a climate chamber holds its setpoint within
about ±0.5 °C (e.g. Binder MK/KB series data sheets), and a coin cell at 1C warms by well under
a degree, so 5 °C means the chamber or the cell is out of control (an assumption of this
project, between normal scatter and the chemistry's trip limit)."""
VOLTAGE_MARGIN = 0.05
"""V beyond the chemistry's window that pages: the cycler's own limit should have stopped it."""

THERMAL_EXCURSION = AlertRule(
    "thermal-excursion",
    "page",
    f"a cell is more than {EXCURSION:g} °C above the campaign's temperature",
    "docs/runbooks/thermal-excursion.md",
)
OUT_OF_LIMITS = AlertRule(
    "cell-out-of-limits",
    "page",
    "a cell's voltage is outside its chemistry's window",
    "docs/runbooks/cell-out-of-limits.md",
)
CHANNEL_TRIPPED = AlertRule(
    "channel-tripped",
    "page",
    "the cycler stopped a cell on its own safety limit",
    "docs/runbooks/channel-tripped.md",
)
RULES = (THERMAL_EXCURSION, OUT_OF_LIMITS, CHANNEL_TRIPPED)


def record_alerts(
    subject: str, records: Sequence[CycleRecord], temperature: float, window: Chemistry
) -> list[Alert]:
    """The alerts a cell's new records raise (at most one per rule: the worst record)."""
    alerts = []
    hottest = max(records, key=lambda r: r.temperature, default=None)
    if hottest is not None and hottest.temperature > temperature + EXCURSION:
        alerts.append(
            Alert(
                THERMAL_EXCURSION,
                subject,
                f"{hottest.temperature:.1f} °C in cycle {hottest.cycle}, the campaign runs at "
                f"{temperature:g} °C (alert above {temperature + EXCURSION:g} °C; the cycler "
                f"trips at {window.max_temperature:g} °C)",
            )
        )
    low, high = window.min_voltage - VOLTAGE_MARGIN, window.max_voltage + VOLTAGE_MARGIN
    outside = [r for r in records if not low <= r.voltage <= high]
    if outside:
        worst = max(outside, key=lambda r: max(low - r.voltage, r.voltage - high))
        alerts.append(
            Alert(
                OUT_OF_LIMITS,
                subject,
                f"{worst.voltage:.3f} V in cycle {worst.cycle}; the window is "
                f"{window.min_voltage:g}-{window.max_voltage:g} V",
            )
        )
    return alerts
