"""Export a cell's records in the Battery Data Format (BDF), with a metadata sidecar.

BDF (LF Energy Battery Data Alliance; github.com/battery-data-alliance/battery-data-format,
README at commit 1412b98, terms generated from BDF ontology 1.3.0) is a fixed table schema for
cycler time series: one cell per file, the first row the *preferred labels* ``Quantity /
unit`` with fixed units, ``.bdf.csv`` / ``.bdf.parquet`` as the file extensions. Required:
``Test Time / s``, ``Voltage / V``, ``Current / A``; recommended: ``Unix Time / s``, ``Cycle
Count / 1``, ``Step Count / 1``, ``Ambient Temperature / degC``; the rest optional.

Current sign: BDF's ``current_ampere`` is positive when the current charges the test object and
negative when it discharges it; `CycleRecord` (``ProtocolStep``: "+ charge") uses the same
sign, so currents are written as recorded, and the charging and discharging quantities follow
from it.

Columns written (`BDF_COLUMNS`): test time (the run time of the earlier phases + the time since
the phase's START, as in `summary.ordered_records`), voltage, current, cycle count (the global
cycle, from 1), step count (+1 at every new step, never resetting), step id (the step of the
phase's template) and step type (CC_CHG, CV_CHG, REST, CC_DCH), step time, record index (1,
2, …), the step's charging/discharging capacity and energy (from the step's start, as the
cycler counts them), the running charging/discharging capacity and energy since the test's
start and the net capacity, and the cycler channel's temperature probe as ``Temperature T1 /
degC`` (an auxiliary channel whose placement the sidecar states).
No ``Unix Time / s``: the cycler's records carry the time since each phase's start, not a wall
clock, and the idle time between phases is not recorded; the sidecar holds the start where the
source knows it (an imported file's), and a campaign's event log holds each phase's start.

Sidecar: ``<cell_id>.bdf.metadata.json`` is the name BDF's own package (``batterydf``,
``bdf/io.py``: ``Path.with_suffix(".metadata.json")``) reserves beside ``<cell_id>.bdf.parquet``;
its top-level keys must be fields of its ``Metadata`` model, so ours sit under ``extras`` (a
free dictionary there): cell, campaign, formulation, chemistry, nominal capacity, cycler, the
phases' protocols, software versions, every column's unit and the sign convention.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from electroloop.errors import ConfigError
from electroloop.kinds.cycling.summary import CHARGE_ROLES, PhaseData, ordered_records
from electroloop.orchestrator.events import CampaignState

__all__ = [
    "BDF_COLUMNS",
    "REQUIRED",
    "SIGN_CONVENTION",
    "BdfError",
    "BdfMetadata",
    "MissingBdfColumns",
    "bdf_frame",
    "cell_metadata",
    "export_bdf",
    "read_bdf",
    "read_bdf_metadata",
]

SPEC = (
    "Battery Data Format, LF Energy Battery Data Alliance, "
    "github.com/battery-data-alliance/battery-data-format (README at 1412b98, ontology 1.3.0)"
)
ONTOLOGY = "https://w3id.org/battery-data-alliance/ontology/battery-data-format#"
SIGN_CONVENTION = "positive current charges the cell, negative discharges it (BDF current_ampere)"
TEMPERATURE_PROBE = "Temperature T1 / degC: the cycler channel's temperature probe on the cell"

REQUIRED = ("Test Time / s", "Voltage / V", "Current / A")
BDF_COLUMNS: dict[str, tuple[str, str, str]] = {
    "Test Time / s": ("float64", "s", "test_time_second"),
    "Voltage / V": ("float64", "V", "voltage_volt"),
    "Current / A": ("float64", "A", "current_ampere"),
    "Cycle Count / 1": ("int64", "1", "cycle_count"),
    "Step Count / 1": ("int64", "1", "step_count"),
    "Step ID": ("int64", "", "step_id"),
    "Step Type": ("string", "", "step_type"),
    "Step Time / s": ("float64", "s", "step_time_second"),
    "Record Index / 1": ("int64", "1", "record_index"),
    "Step Charging Capacity / Ah": ("float64", "Ah", "step_charging_capacity_ah"),
    "Step Discharging Capacity / Ah": ("float64", "Ah", "step_discharging_capacity_ah"),
    "Step Charging Energy / Wh": ("float64", "Wh", "step_charging_energy_wh"),
    "Step Discharging Energy / Wh": ("float64", "Wh", "step_discharging_energy_wh"),
    "Charging Capacity / Ah": ("float64", "Ah", "charging_capacity_ah"),
    "Discharging Capacity / Ah": ("float64", "Ah", "discharging_capacity_ah"),
    "Net Capacity / Ah": ("float64", "Ah", "net_capacity_ah"),
    "Charging Energy / Wh": ("float64", "Wh", "charging_energy_wh"),
    "Discharging Energy / Wh": ("float64", "Wh", "discharging_energy_wh"),
    "Temperature T1 / degC": ("float64", "degC", "temperature_t1_celsius"),
}
"""Preferred label -> (dtype, unit, machine-readable name), in file order."""

STEP_TYPES = {
    "charge": "CC_CHG",
    "cv": "CV_CHG",
    "rest": "REST",
    "pulse": "CC_DCH",
    "discharge": "CC_DCH",
}
"""Role -> BDF step type (the ontology's examples: CC_CHG, CC_DCH, CV_CHG, REST)."""

_DISCHARGE_SIDE = frozenset({"pulse", "discharge"})
_CELL_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
_SOFTWARE = ("electroloop", "pandas", "pyarrow")


class BdfError(ConfigError):
    """A BDF file or export request is not what the format asks."""


class MissingBdfColumns(BdfError):
    """A BDF table lacks a required column."""


@dataclass(frozen=True)
class BdfMetadata:
    """What the sidecar says of a cell besides its table (all optional).

    `formulation`: the electrolyte as plain JSON (e.g. ``Formulation.model_dump()``);
    `nominal_capacity` Ah; `cycler_driver`, `cycler_address`, `channel`: where it cycled;
    `protocols`: phase name -> the protocol as loaded; `started`: the test's start (UTC);
    `source`: where imported data came from (file, vendor, what the file said).
    """

    campaign_id: str = ""
    formulation: Mapping[str, Any] | None = None
    chemistry: str = ""
    nominal_capacity: float | None = None
    cycler_driver: str = ""
    cycler_address: str = ""
    channel: int | None = None
    protocols: Mapping[str, str] = field(default_factory=dict)
    started: datetime | None = None
    source: Mapping[str, Any] = field(default_factory=dict)


def cell_metadata(state: CampaignState, cell_id: str, base: BdfMetadata) -> BdfMetadata:
    """`base` with what the campaign's log holds of the cell `cell_id`: the formulation as
    dosed (as proposed if not dosed), the cycler and channel, the nominal capacity and each
    phase's protocol as loaded. `base` unchanged for a cell the log does not know."""
    for candidate_id, cell in state.cells.items():
        if cell.assembled.cell_id != cell_id:
            continue
        dosing = state.dosings.get(candidate_id)
        candidate = state.candidates.get(candidate_id)
        design = dosing.as_dosed if dosing is not None else candidate.design if candidate else None
        return replace(
            base,
            formulation=design.model_dump(mode="json") if design is not None else base.formulation,
            nominal_capacity=cell.assembled.capacity,
            cycler_address=cell.assembled.cycler,
            channel=cell.assembled.channel,
            protocols={phase.phase: phase.protocol for phase in cell.phases},
        )
    return base


def _rows(phases: Sequence[PhaseData]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    totals = {"charge_q": 0.0, "discharge_q": 0.0, "charge_e": 0.0, "discharge_e": 0.0}
    step_count = 0
    for phase in ordered_records(phases):
        step_start, previous = 0.0, None
        for record in phase.records:
            role = phase.role(record)
            if previous is None or (previous.cycle, previous.step) != (record.cycle, record.step):
                step_count += 1
                if previous is not None:
                    step_start = previous.time  # the previous step's END record opens this one
                    _close_step(totals, phase.role(previous), previous)
            previous = record
            charging, discharging = role in CHARGE_ROLES, role in _DISCHARGE_SIDE
            test_time = phase.time_offset + record.time
            step_q = (record.capacity if charging else 0.0, record.capacity if discharging else 0.0)
            step_e = (record.energy if charging else 0.0, record.energy if discharging else 0.0)
            charged, discharged = totals["charge_q"] + step_q[0], totals["discharge_q"] + step_q[1]
            rows.append(
                {
                    "Test Time / s": test_time,
                    "Voltage / V": record.voltage,
                    "Current / A": record.current,
                    "Cycle Count / 1": phase.cycle_offset + record.cycle,
                    "Step Count / 1": step_count,
                    "Step ID": record.step,
                    "Step Type": STEP_TYPES[role],
                    "Step Time / s": record.time - step_start,
                    "Record Index / 1": len(rows) + 1,
                    "Step Charging Capacity / Ah": step_q[0],
                    "Step Discharging Capacity / Ah": step_q[1],
                    "Step Charging Energy / Wh": step_e[0],
                    "Step Discharging Energy / Wh": step_e[1],
                    "Charging Capacity / Ah": charged,
                    "Discharging Capacity / Ah": discharged,
                    "Net Capacity / Ah": charged - discharged,
                    "Charging Energy / Wh": totals["charge_e"] + step_e[0],
                    "Discharging Energy / Wh": totals["discharge_e"] + step_e[1],
                    "Temperature T1 / degC": record.temperature,
                }
            )
        if previous is not None:
            _close_step(totals, phase.role(previous), previous)
    return rows


def _close_step(totals: dict[str, float], role: str, last: Any) -> None:
    """Add a finished step's totals (its last record's capacity and energy) to the running
    totals since the test's start."""
    if role in CHARGE_ROLES:
        totals["charge_q"] += last.capacity
        totals["charge_e"] += last.energy
    elif role in _DISCHARGE_SIDE:
        totals["discharge_q"] += last.capacity
        totals["discharge_e"] += last.energy


def bdf_frame(phases: Sequence[PhaseData]) -> pd.DataFrame:
    """Every record of the cell's phases, in test order, with `BDF_COLUMNS`."""
    frame = pd.DataFrame(_rows(phases), columns=list(BDF_COLUMNS))
    return frame.astype({name: dtype for name, (dtype, _, _) in BDF_COLUMNS.items()})


def _software() -> dict[str, str]:
    found = {}
    for package in _SOFTWARE:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "unknown"
    return found


def _sidecar(
    cell_id: str, phases: Sequence[PhaseData], meta: BdfMetadata, frame: pd.DataFrame
) -> dict[str, Any]:
    return {
        "extras": {
            "specification": SPEC,
            "cell_id": cell_id,
            "campaign_id": meta.campaign_id,
            "formulation": dict(meta.formulation) if meta.formulation is not None else None,
            "chemistry": meta.chemistry,
            "nominal_capacity_ah": meta.nominal_capacity,
            "cycler": {
                "driver": meta.cycler_driver,
                "address": meta.cycler_address,
                "channel": meta.channel,
            },
            "phases": [
                {
                    "name": phase.name,
                    "roles": list(phase.roles),
                    "protocol": meta.protocols.get(phase.name, ""),
                    "done": phase.done,
                }
                for phase in phases
            ],
            "started": meta.started.astimezone(UTC).isoformat() if meta.started else None,
            "source": dict(meta.source) or None,
            "software": _software(),
            "current_sign": SIGN_CONVENTION,
            "temperature_probe": TEMPERATURE_PROBE,
            "columns": {
                label: {"unit": unit, "name": name, "iri": ONTOLOGY + name}
                for label, (_, unit, name) in BDF_COLUMNS.items()
                if label in frame.columns
            },
            "rows": len(frame),
        }
    }


def export_bdf(
    phases: Sequence[PhaseData],
    folder: Path,
    cell_id: str,
    metadata: BdfMetadata | None = None,
) -> dict[str, Path]:
    """Write ``<cell_id>.bdf.parquet``, ``<cell_id>.bdf.csv`` and the sidecar
    ``<cell_id>.bdf.metadata.json`` into `folder`; returns their paths under ``bdf_parquet``,
    ``bdf_csv`` and ``bdf_metadata``.

    The table is built before anything is written, so bad records leave no partial export.
    """
    if not _CELL_ID.match(cell_id):
        raise BdfError(f"cell_id must match {_CELL_ID.pattern} (it names files), got {cell_id!r}")
    meta = metadata or BdfMetadata()
    frame = bdf_frame(phases)
    sidecar = _sidecar(cell_id, phases, meta, frame)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "bdf_parquet": folder / f"{cell_id}.bdf.parquet",
        "bdf_csv": folder / f"{cell_id}.bdf.csv",
        "bdf_metadata": folder / f"{cell_id}.bdf.metadata.json",
    }
    frame.to_parquet(paths["bdf_parquet"], engine="pyarrow", index=False)
    frame.to_csv(paths["bdf_csv"], index=False)
    paths["bdf_metadata"].write_text(json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n")
    return paths


def read_bdf(path: str | Path) -> pd.DataFrame:
    """A ``.bdf.parquet`` or ``.bdf.csv`` table, checked for BDF's required columns.

    Raises `MissingBdfColumns` naming the missing ones, `BdfError` for another file type.
    """
    source = Path(path)
    name = source.name.lower()
    if name.endswith(".bdf.parquet"):
        frame = pd.read_parquet(source, engine="pyarrow")
    elif name.endswith((".bdf.csv", ".bdf")):
        frame = pd.read_csv(source)
    else:
        raise BdfError(f"{source}: allowed: a .bdf.parquet, .bdf.csv or .bdf file")
    missing = [column for column in REQUIRED if column not in frame.columns]
    if missing:
        raise MissingBdfColumns(
            f"{source}: missing required BDF column(s) {missing}; required: {list(REQUIRED)}"
        )
    return frame


def read_bdf_metadata(path: str | Path) -> dict[str, Any]:
    """Our part (``extras``) of the sidecar beside the BDF file at `path`."""
    source = Path(path)
    stem = re.sub(r"\.bdf(\.parquet|\.csv)?$", "", source.name, flags=re.IGNORECASE)
    sidecar = source.with_name(f"{stem}.bdf.metadata.json")
    if not sidecar.is_file():
        raise BdfError(f"{source}: no sidecar {sidecar.name} beside it")
    extras = json.loads(sidecar.read_text()).get("extras")
    if not isinstance(extras, dict):
        raise BdfError(f"{sidecar}: no 'extras' object")
    return extras
