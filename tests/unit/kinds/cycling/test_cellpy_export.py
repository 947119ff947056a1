"""cellpy-style export: Parquet and CSV read back with pandas, cellpy's names, our numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from electroloop.instruments.cycler import CycleRecord
from electroloop.kinds.cycling.cellpy_export import RAW_COLUMNS, SUMMARY_COLUMNS, export_cell
from electroloop.kinds.cycling.summary import PhaseData, summarize

STANDARD = ("charge", "cv", "rest", "pulse", "discharge", "rest")
NO_PULSE = ("charge", "cv", "rest", "discharge", "rest")
CURRENT = {"charge": 2.5e-3, "cv": 5e-4, "rest": 0.0, "pulse": -1e-2, "discharge": -5e-3}
POINTS = 3  # records per step (the last one is the step's END record)
DT = 120.0  # s between records
SUMMED = 1e-12
"""Relative tolerance for a number this test recomputes from the exported values the way the
exporter does (a sum of step ends, a running total, a percentage): only rounding may differ."""

# cellpy/parameters/internal_settings.py (github.com/jepegit/cellpy): HeadersNormal, HeadersSummary
CELLPY_RAW = [
    "data_point",
    "test_time",
    "step_time",
    "cycle_index",
    "step_index",
    "current",
    "voltage",
    "charge_capacity",
    "discharge_capacity",
    "charge_energy",
    "discharge_energy",
]
CELLPY_SUMMARY = [
    "cycle_index",
    "test_time",
    "charge_capacity",
    "discharge_capacity",
    "coulombic_efficiency",
    "cumulated_charge_capacity",
    "cumulated_discharge_capacity",
    "ir_discharge",
]


def synthetic_phase(
    name: str, roles: tuple[str, ...], cycles: int, *, fade: float = 0.0, done: bool = True
) -> PhaseData:
    """Records as the cycler takes them: START, then `POINTS` per step, capacity and energy
    counting from each step's start; discharge capacity shrinking by `fade` per cycle."""
    records = [CycleRecord(0, 0.0, 1, 1, CURRENT[roles[0]], 3.0, 0.0, 0.0, 25.0)]
    for cycle in range(1, cycles + 1):
        for step, role in enumerate(roles, start=1):
            current = CURRENT[role] * (1.0 - fade * cycle if role == "discharge" else 1.0)
            voltage = 3.7 + 100.0 * current
            for point in range(1, POINTS + 1):
                capacity = abs(current) * DT * point / 3600.0
                records.append(
                    CycleRecord(
                        index=len(records),
                        time=records[-1].time + DT,
                        cycle=cycle,
                        step=step,
                        current=current,
                        voltage=voltage - 0.01 * point * (role == "discharge"),
                        capacity=capacity,
                        energy=capacity * voltage,
                        temperature=25.0 + 0.1 * point,
                    )
                )
    return PhaseData(name, roles, tuple(records), done=done)


@pytest.fixture
def phases() -> tuple[PhaseData, ...]:
    return (
        synthetic_phase("formation", NO_PULSE, 2),
        synthetic_phase("rate-1C", STANDARD, 1),
        synthetic_phase("cycling", STANDARD, 4, fade=0.01),
    )


def test_files_are_written(phases: tuple[PhaseData, ...], tmp_path: Path) -> None:
    paths = export_cell(phases, tmp_path / "export", "cell-07")
    assert {key: path.name for key, path in paths.items()} == {
        "raw_parquet": "cell-07_raw.parquet",
        "raw_csv": "cell-07_raw.csv",
        "summary_parquet": "cell-07_summary.parquet",
        "summary_csv": "cell-07_summary.csv",
        "units": "cell-07_units.json",
    }
    assert all(path.is_file() and path.parent == tmp_path / "export" for path in paths.values())


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_raw_table_round_trips_with_cellpy_columns(
    phases: tuple[PhaseData, ...], tmp_path: Path, kind: str
) -> None:
    paths = export_cell(phases, tmp_path, "cell-07")
    raw = (
        pd.read_parquet(paths["raw_parquet"])
        if kind == "parquet"
        # round_trip: pandas' default CSV parser does not promise the written value back exactly
        else pd.read_csv(paths["raw_csv"], float_precision="round_trip")
    )
    assert list(raw.columns) == list(RAW_COLUMNS)
    assert list(raw.columns[: len(CELLPY_RAW)]) == CELLPY_RAW  # cellpy's first, then ours
    records = [(phase, r) for phase in phases for r in phase.records]
    assert len(raw) == len(records)
    assert raw["data_point"].tolist() == list(range(1, len(records) + 1))
    assert raw["test_time"].is_monotonic_increasing
    assert raw["cycle_index"].max() == 2 + 1 + 4  # global cycles across the phases
    for row, (phase, record) in zip(raw.itertuples(), records, strict=True):
        role = phase.roles[record.step - 1]
        assert (row.phase, row.phase_cycle, row.step_index) == (
            phase.name,
            record.cycle,
            record.step,
        )
        assert row.step_role == role and row.record_index == record.index
        # The record's own values, copied into the file and read back: exact.
        assert (row.current, row.voltage, row.temperature) == (
            record.current,
            record.voltage,
            record.temperature,
        )
        charge = record.capacity if role in ("charge", "cv") else 0.0
        discharge = record.capacity if role in ("pulse", "discharge") else 0.0
        assert (row.charge_capacity, row.discharge_capacity) == (charge, discharge)
        # Steps are POINTS records DT apart; a phase's START record is at step time 0. Step time
        # is a difference of record times (whole seconds, s): rounding only.
        steps = (0.0, DT, 2 * DT, 3 * DT)
        assert any(row.step_time == pytest.approx(t, rel=0.0, abs=1e-9) for t in steps)


def test_raw_step_ends_reproduce_the_summary(phases: tuple[PhaseData, ...], tmp_path: Path) -> None:
    raw = pd.read_parquet(export_cell(phases, tmp_path, "c1")["raw_parquet"])
    ends = raw.groupby(["cycle_index", "step_index"]).last()
    for s in summarize(phases):
        of_cycle = ends.loc[s.cycle]
        discharge = of_cycle.loc[of_cycle["step_role"] == "discharge", "discharge_capacity"]
        # the same step ends summed again (with the other steps' zeros): rounding only
        assert of_cycle["charge_capacity"].sum() == pytest.approx(
            s.charge_capacity, rel=SUMMED, abs=0.0
        )
        assert discharge.sum() == pytest.approx(s.discharge_capacity, rel=SUMMED, abs=0.0)


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_summary_table_equals_summarize(
    phases: tuple[PhaseData, ...], tmp_path: Path, kind: str
) -> None:
    paths = export_cell(phases, tmp_path, "cell-07")
    summary = (
        pd.read_parquet(paths["summary_parquet"])
        if kind == "parquet"
        # round_trip: pandas' default CSV parser does not promise the written value back exactly
        else pd.read_csv(paths["summary_csv"], float_precision="round_trip")
    )
    stats = summarize(phases)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert list(summary.columns[: len(CELLPY_SUMMARY)]) == CELLPY_SUMMARY
    assert len(summary) == len(stats) == 7
    charged = discharged = 0.0
    for row, s in zip(summary.itertuples(), stats, strict=True):
        charged += s.charge_capacity
        discharged += s.discharge_capacity
        assert (row.cycle_index, row.phase, row.phase_cycle) == (s.cycle, s.phase, s.phase_cycle)
        # `summarize`'s numbers, copied into the file and read back: exact.
        assert row.test_time == s.end_time
        assert row.charge_capacity == s.charge_capacity
        assert row.discharge_capacity == s.discharge_capacity
        assert row.charge_energy == s.charge_energy
        assert row.discharge_energy == s.discharge_energy
        assert row.mean_discharge_voltage == s.mean_discharge_voltage
        assert row.discharge_current == s.discharge_current
        # Computed by the exporter (a percentage, running totals) and redone here.
        assert row.coulombic_efficiency == pytest.approx(
            100.0 * s.coulombic_efficiency, rel=SUMMED, abs=0.0
        )
        assert row.cumulated_charge_capacity == pytest.approx(charged, rel=SUMMED, abs=0.0)
        assert row.cumulated_discharge_capacity == pytest.approx(discharged, rel=SUMMED, abs=0.0)
        if s.phase == "formation":
            assert math.isnan(row.ir_discharge) and math.isnan(s.resistance)
        else:
            assert row.ir_discharge == s.resistance  # copied
            # Rest at 3.7 V, pulse at 3.7 − 100·0.01 V: 1 V over 10 mA. The two voltages are
            # rounded near 3.7 V, so the 1 V difference carries ~1e-15 relative rounding.
            assert row.ir_discharge == pytest.approx(100.0, rel=1e-12, abs=0.0)


def test_units_name_every_column(phases: tuple[PhaseData, ...], tmp_path: Path) -> None:
    units = json.loads(export_cell(phases, tmp_path, "c1")["units"].read_text())
    assert list(units["raw"]) == list(RAW_COLUMNS)
    assert list(units["summary"]) == list(SUMMARY_COLUMNS)
    assert units["raw"]["charge_capacity"] == "Ah" and units["raw"]["current"] == "A"
    assert units["summary"]["coulombic_efficiency"] == "%"
    assert units["summary"]["ir_discharge"] == "Ohm"


def test_empty_cell_exports_empty_tables(tmp_path: Path) -> None:
    phases = (PhaseData("formation", NO_PULSE, ()),)
    paths = export_cell(phases, tmp_path, "empty")
    raw = pd.read_parquet(paths["raw_parquet"])
    summary = pd.read_parquet(paths["summary_parquet"])
    assert len(raw) == len(summary) == 0
    assert list(raw.columns) == list(RAW_COLUMNS)
    assert raw["cycle_index"].dtype == "int64" and raw["voltage"].dtype == "float64"
    assert list(pd.read_csv(paths["summary_csv"]).columns) == list(SUMMARY_COLUMNS)


def test_incomplete_cycle_is_in_raw_but_not_in_summary(tmp_path: Path) -> None:
    phase = synthetic_phase("cycling", STANDARD, 2, done=False)
    cut = PhaseData(
        phase.name, phase.roles, phase.records[: -POINTS - 1], done=False
    )  # mid-discharge
    paths = export_cell((cut,), tmp_path, "cut")
    assert len(pd.read_parquet(paths["raw_parquet"])) == len(cut.records)
    assert pd.read_parquet(paths["summary_parquet"])["cycle_index"].tolist() == [1]


@pytest.mark.parametrize("cell_id", ["", "../escape", "a b", "cell/1"])
def test_bad_cell_id_writes_nothing(tmp_path: Path, cell_id: str) -> None:
    with pytest.raises(ValueError, match="cell_id must match"):
        export_cell((), tmp_path / "out", cell_id)
    assert not (tmp_path / "out").exists()
