"""Export a cell's records and per-cycle summary as Parquet and CSV with cellpy's column names.

cellpy (J. Wind et al., J. Open Source Softw. 9 (2024) 6236, doi:10.21105/joss.06236) is a
common tool for battery-test data; naming our columns as it does lets its users read ours
without a mapping. Names are cellpy's ``HeadersNormal`` (raw table) and ``HeadersSummary``
(summary table) of ``cellpy/parameters/internal_settings.py`` (github.com/jepegit/cellpy).
Columns cellpy has no name for follow the cellpy ones, in our own names.

Units follow cellpy's default raw units (``get_default_raw_units`` in the same file: current A,
charge Ah, voltage V, time s, energy Wh, resistance Ω) in both tables; the Coulombic efficiency
is in %, as in cellpy's summary. ``<cell_id>_units.json`` states the unit of every column.

The raw table keeps charge and discharge capacity apart, as cellpy's raw columns do: a record
of a charge or cv step puts its step capacity (and energy) in ``charge_capacity`` and 0 in
``discharge_capacity``, a pulse or discharge step the other way round, a rest 0 in both. The
capacity counts from the start of the step, as the cycler reports it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from electroloop.kinds.cycling.summary import (
    CHARGE_ROLES,
    PhaseData,
    ordered_records,
    summarize,
)

__all__ = ["RAW_COLUMNS", "SUMMARY_COLUMNS", "export_cell", "raw_frame", "summary_frame"]

_CELL_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
_DISCHARGE_SIDE = frozenset({"pulse", "discharge"})

RAW_COLUMNS: dict[str, tuple[str, str]] = {
    # cellpy HeadersNormal
    "data_point": ("int64", "-"),  # 1, 2, … over the cell's whole test
    "test_time": ("float64", "s"),  # run time of the earlier phases + time since phase START
    "step_time": ("float64", "s"),
    "cycle_index": ("int64", "-"),  # global cycle
    "step_index": ("int64", "-"),  # step of the phase's template
    "current": ("float64", "A"),
    "voltage": ("float64", "V"),
    "charge_capacity": ("float64", "Ah"),
    "discharge_capacity": ("float64", "Ah"),
    "charge_energy": ("float64", "Wh"),
    "discharge_energy": ("float64", "Wh"),
    # ours
    "phase": ("string", "-"),
    "phase_cycle": ("int64", "-"),
    "step_role": ("string", "-"),
    "temperature": ("float64", "°C"),
    "record_index": ("int64", "-"),  # the cycler's record index within the phase's run
}
"""Raw table: column -> (dtype, unit), in file order."""

SUMMARY_COLUMNS: dict[str, tuple[str, str]] = {
    # cellpy HeadersSummary
    "cycle_index": ("int64", "-"),
    "test_time": ("float64", "s"),  # of the cycle's last discharge record
    "charge_capacity": ("float64", "Ah"),
    "discharge_capacity": ("float64", "Ah"),
    "coulombic_efficiency": ("float64", "%"),
    "cumulated_charge_capacity": ("float64", "Ah"),
    "cumulated_discharge_capacity": ("float64", "Ah"),
    "ir_discharge": ("float64", "Ohm"),  # 10 s discharge pulse resistance
    # ours
    "phase": ("string", "-"),
    "phase_cycle": ("int64", "-"),
    "charge_energy": ("float64", "Wh"),
    "discharge_energy": ("float64", "Wh"),
    "mean_charge_voltage": ("float64", "V"),
    "mean_discharge_voltage": ("float64", "V"),
    "discharge_current": ("float64", "A"),
}
"""Summary table (complete cycles only): column -> (dtype, unit), in file order."""


def _frame(rows: list[dict[str, Any]], columns: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """Rows as a DataFrame with exactly `columns` in order and their dtypes (also when empty)."""
    frame = pd.DataFrame(rows, columns=list(columns))
    return frame.astype({name: dtype for name, (dtype, _) in columns.items()})


def raw_frame(phases: Sequence[PhaseData]) -> pd.DataFrame:
    """Every record of the cell's phases, in test order, with `RAW_COLUMNS`."""
    rows: list[dict[str, Any]] = []
    for phase in ordered_records(phases):
        step_start, previous = 0.0, None
        for record in phase.records:
            role = phase.role(record)
            if previous is not None and (previous.cycle, previous.step) != (
                record.cycle,
                record.step,
            ):
                step_start = previous.time  # the previous step's END record opens this step
            previous = record
            charging, discharging = role in CHARGE_ROLES, role in _DISCHARGE_SIDE
            rows.append(
                {
                    "data_point": len(rows) + 1,
                    "test_time": phase.time_offset + record.time,
                    "step_time": record.time - step_start,
                    "cycle_index": phase.cycle_offset + record.cycle,
                    "step_index": record.step,
                    "current": record.current,
                    "voltage": record.voltage,
                    "charge_capacity": record.capacity if charging else 0.0,
                    "discharge_capacity": record.capacity if discharging else 0.0,
                    "charge_energy": record.energy if charging else 0.0,
                    "discharge_energy": record.energy if discharging else 0.0,
                    "phase": phase.phase.name,
                    "phase_cycle": record.cycle,
                    "step_role": role,
                    "temperature": record.temperature,
                    "record_index": record.index,
                }
            )
    return _frame(rows, RAW_COLUMNS)


def summary_frame(phases: Sequence[PhaseData]) -> pd.DataFrame:
    """One row per complete cycle (`summarize`), with `SUMMARY_COLUMNS`."""
    rows: list[dict[str, Any]] = []
    charged = discharged = 0.0
    for s in summarize(phases):
        charged += s.charge_capacity
        discharged += s.discharge_capacity
        rows.append(
            {
                "cycle_index": s.cycle,
                "test_time": s.end_time,
                "charge_capacity": s.charge_capacity,
                "discharge_capacity": s.discharge_capacity,
                "coulombic_efficiency": 100.0 * s.coulombic_efficiency,
                "cumulated_charge_capacity": charged,
                "cumulated_discharge_capacity": discharged,
                "ir_discharge": s.resistance,
                "phase": s.phase,
                "phase_cycle": s.phase_cycle,
                "charge_energy": s.charge_energy,
                "discharge_energy": s.discharge_energy,
                "mean_charge_voltage": s.mean_charge_voltage,
                "mean_discharge_voltage": s.mean_discharge_voltage,
                "discharge_current": s.discharge_current,
            }
        )
    return _frame(rows, SUMMARY_COLUMNS)


def export_cell(phases: Sequence[PhaseData], folder: Path, cell_id: str) -> dict[str, Path]:
    """Write ``<cell_id>_raw.parquet``/``.csv``, ``<cell_id>_summary.parquet``/``.csv`` and
    ``<cell_id>_units.json`` into `folder`; returns their paths under the keys ``raw_parquet``,
    ``raw_csv``, ``summary_parquet``, ``summary_csv`` and ``units``.

    Both tables are built before anything is written, so bad records leave no partial export.
    """
    if not _CELL_ID.match(cell_id):
        raise ValueError(f"cell_id must match {_CELL_ID.pattern} (it names files), got {cell_id!r}")
    raw, summary = raw_frame(phases), summary_frame(phases)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "raw_parquet": folder / f"{cell_id}_raw.parquet",
        "raw_csv": folder / f"{cell_id}_raw.csv",
        "summary_parquet": folder / f"{cell_id}_summary.parquet",
        "summary_csv": folder / f"{cell_id}_summary.csv",
        "units": folder / f"{cell_id}_units.json",
    }
    raw.to_parquet(paths["raw_parquet"], engine="pyarrow", index=False)
    raw.to_csv(paths["raw_csv"], index=False)
    summary.to_parquet(paths["summary_parquet"], engine="pyarrow", index=False)
    summary.to_csv(paths["summary_csv"], index=False)
    units = {
        "source": "cellpy/parameters/internal_settings.py (HeadersNormal, HeadersSummary)",
        "raw": {name: unit for name, (_, unit) in RAW_COLUMNS.items()},
        "summary": {name: unit for name, (_, unit) in SUMMARY_COLUMNS.items()},
    }
    paths["units"].write_text(json.dumps(units, indent=2, ensure_ascii=False) + "\n")
    return paths
