"""Import of Neware .ndax and BioLogic .mpr files (written by the project's fixture writers from
simulated records, read by fastnda and galvani) into the project's records and metrics."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from electroloop.instruments.cycler import CycleRecord
from electroloop.instruments.sim.mpr_file import write_mpr
from electroloop.instruments.sim.ndax_file import write_ndax
from electroloop.kinds.cycling.imports import (
    CyclerFileError,
    ImportedCell,
    UnreadableCyclerFile,
    UnsupportedCyclerFile,
    import_cycler_file,
    imported_observation,
)
from electroloop.kinds.cycling.spec import ROLES, CyclingSpec
from electroloop.kinds.cycling.summary import PhaseData, summarize
from electroloop.models import Formulation
from tests.unit.kinds.cycling.simulated_cell import simulated_phases

STARTED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
FORMULATION = Formulation(
    fractions={"EC": 0.3, "EMC": 0.7}, salt="LiPF6", molality=1.0, temperature=25.0
)

# What each file keeps of a record (the formats' own resolutions):
MPR = {"time": 1e-9, "voltage": 5e-7, "current": 1e-9, "capacity": 1e-12, "temperature": 5e-6}
"""EC-Lab: time f8; Ewe f4 (V) and I f4 (mA): float32's 6e-8 relative; (Q-Qo) and |Energy|
f8; temperature f4."""
NDAX = {"time": 1e-3, "voltage": 6e-5, "current": 6e-7, "capacity": 1e-9, "temperature": 0.051}
"""Neware NDC v2: step time in ms; voltage in 0.1 mV; current in counts of 1 µA (the 10 mA
range); capacity and energy float32 after fastnda's scaling (≈ 1e-7 relative of ≤ 5 mAh);
temperature in 0.1 °C."""


@pytest.fixture(scope="module")
def cycling() -> PhaseData:
    """The cycling phase (two 1C cycles) of a simulated cell: one run of one channel."""
    return simulated_phases()[1]


def assert_same_records(
    written: tuple[CycleRecord, ...], cell: ImportedCell, tol: dict[str, float]
) -> None:
    assert len(cell.records) == len(written)
    t0 = written[0].time
    for a, b in zip(written, cell.records, strict=True):
        assert (b.cycle, b.step) == (a.cycle, a.step)
        assert b.time == pytest.approx(a.time - t0, abs=tol["time"])
        assert b.voltage == pytest.approx(a.voltage, abs=tol["voltage"])
        assert b.current == pytest.approx(a.current, abs=tol["current"])
        assert b.capacity == pytest.approx(a.capacity, abs=tol["capacity"])
        assert b.energy == pytest.approx(a.energy, abs=tol["capacity"] * 5)  # ≈ 4.2 V × Ah
        assert b.temperature == pytest.approx(a.temperature, abs=tol["temperature"])
    assert [r.index for r in cell.records] == list(range(len(written)))


def assert_same_summary(
    phase: PhaseData, cell: ImportedCell, rel: float, tol: dict[str, float]
) -> None:
    expected, got = summarize([phase]), cell.summary
    # The pulse resistance ΔV/|I| carries both voltages' rounding over the 1C pulse current.
    ohms = 2 * tol["voltage"] / 0.005 + 1e-9
    assert len(got) == len(expected) == 2 and cell.summary_note == ""
    for e, g in zip(expected, got, strict=True):
        assert g.discharge_capacity == pytest.approx(e.discharge_capacity, rel=rel)
        assert g.charge_capacity == pytest.approx(e.charge_capacity, rel=rel)
        assert g.resistance == pytest.approx(e.resistance, abs=ohms)
        assert g.coulombic_efficiency == pytest.approx(e.coulombic_efficiency, rel=rel)


def test_mpr_imports_into_the_records_that_were_written(cycling, tmp_path) -> None:
    path = write_mpr(tmp_path / "cell.mpr", cycling.records, started=STARTED, roles=ROLES)
    cell = import_cycler_file(path)
    assert cell.vendor == "biologic" and cell.started == STARTED
    assert cell.roles == ROLES and cell.step_ids == (1, 2, 3, 4, 5, 6)
    assert_same_records(cycling.records, cell, MPR)
    assert_same_summary(cycling, cell, rel=1e-6, tol=MPR)
    assert "Temperature/°C" in cell.metadata["columns"]


def test_mpr_roles_follow_from_the_data_without_mode_hints(cycling, tmp_path) -> None:
    path = write_mpr(tmp_path / "cell.mpr", cycling.records, started=STARTED)
    cell = import_cycler_file(path)
    # Without the CV mode flag the CV hold is a charge step: the charge totals are unchanged.
    assert cell.roles == ("charge", "charge", "rest", "pulse", "discharge", "rest")
    assert_same_summary(cycling, cell, rel=1e-6, tol=MPR)


def test_ndax_imports_into_the_records_that_were_written(cycling, tmp_path) -> None:
    path = write_ndax(
        tmp_path / "cell.ndax",
        cycling.records,
        started=STARTED,
        channel="21-1-3",
        barcode="CELL-0042",
        remark="1 m LiPF6 in EC:EMC 3:7",
        roles=ROLES,
    )
    cell = import_cycler_file(path)
    assert cell.vendor == "neware" and cell.started == STARTED
    assert cell.roles == ROLES
    assert_same_records(cycling.records, cell, NDAX)
    assert_same_summary(cycling, cell, rel=1e-5, tol=NDAX)
    info = cell.metadata["TestInfo"]["TestInfo"]
    assert (info["DevID"], info["UnitID"], info["ChlID"]) == ("21", "1", "3")
    assert info["Barcode"] == "CELL-0042"
    assert cell.metadata["Step"]["Head_Info"]["Remark"]["Value"] == "1 m LiPF6 in EC:EMC 3:7"


def test_an_imported_cell_becomes_an_observation_for_the_planner(cycling, tmp_path) -> None:
    cell = import_cycler_file(write_ndax(tmp_path / "c.ndax", cycling.records, roles=ROLES))
    spec = CyclingSpec()  # 100 cycles: two give no retention yet
    observation = imported_observation(
        cell, FORMULATION, spec, candidate_id="lab-0042", extra_values={"conductivity": 9.1}
    )
    first = summarize([cycling])[0]
    assert observation.candidate_id == "lab-0042"
    assert observation.formulation == FORMULATION
    assert observation.values["discharge_capacity"] == pytest.approx(
        first.discharge_capacity * 1000.0, rel=1e-5
    )
    assert 0.99 < observation.values["coulombic_efficiency"] <= 1.0
    assert "retention" not in observation.values  # two cycles predict nothing at cycle 100
    assert observation.values["conductivity"] == pytest.approx(9.1, rel=1e-12)


def test_a_file_without_a_complete_cycle_gives_no_observation(tmp_path) -> None:
    rests = [CycleRecord(i, 60.0 * i, 1, 1, 0.0, 3.6, 0.0, 0.0, 25.0) for i in range(5)]
    cell = import_cycler_file(write_mpr(tmp_path / "rest.mpr", rests, started=STARTED))
    assert cell.summary == () and "no complete cycle" in cell.summary_note
    assert cell.roles == ("rest",)
    assert all(math.isclose(r.voltage, 3.6, rel_tol=1e-6) for r in cell.records)
    with pytest.raises(CyclerFileError, match="no cell metric"):
        imported_observation(cell, FORMULATION, CyclingSpec(), candidate_id="x")


def test_an_unknown_suffix_is_refused_by_name(tmp_path) -> None:
    path = tmp_path / "cell.res"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(UnsupportedCyclerFile, match=r"suffix '\.res'; allowed: \['\.mpr', "):
        import_cycler_file(path)


@pytest.mark.parametrize("suffix", [".mpr", ".ndax"])
def test_a_truncated_file_is_refused_by_name(cycling, tmp_path, suffix) -> None:
    writer = write_mpr if suffix == ".mpr" else write_ndax
    whole = writer(tmp_path / f"whole{suffix}", cycling.records, started=STARTED)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(UnreadableCyclerFile, match=f"not a readable .* {suffix} file"):
        import_cycler_file(cut)


def test_a_missing_file_is_refused_by_name(tmp_path) -> None:
    with pytest.raises(UnreadableCyclerFile, match="no such file"):
        import_cycler_file(Path(tmp_path / "absent.ndax"))


def test_a_stated_temperature_fills_a_file_without_one(tmp_path) -> None:
    from galvani.BioLogic import MPRfile

    rests = [CycleRecord(i, 60.0 * i, 1, 1, 0.0, 3.6, 0.0, 0.0, 25.0) for i in range(3)]
    path = write_mpr(tmp_path / "rest.mpr", rests, started=STARTED)
    # An .mpr without its temperature column: drop column 462 from the header and the rows.
    no_temperature = tmp_path / "bare.mpr"
    no_temperature.write_bytes(_without_temperature(path.read_bytes(), len(rests)))
    with no_temperature.open("rb") as handle:
        assert "Temperature/°C" not in MPRfile(handle).data.dtype.names
    bare = import_cycler_file(no_temperature)
    assert all(math.isnan(r.temperature) for r in bare.records)
    assert bare.metadata["temperature"] == "missing in the file"
    stated = import_cycler_file(no_temperature, temperature=21.5)
    assert [r.temperature for r in stated.records] == pytest.approx([21.5] * 3, abs=1e-12)
    assert stated.metadata["temperature"].startswith("stated: 21.5")
    with pytest.raises(CyclerFileError, match=r"temperature 400\.0 °C; allowed: -60\.\.150"):
        import_cycler_file(no_temperature, temperature=400.0)


def _without_temperature(mpr: bytes, points: int) -> bytes:
    """The same file with the last data column (462, a 4-byte float) left out."""
    from electroloop.instruments.sim.mpr_file import DATA_HEADER_BYTES, MPR_COLUMNS

    start = mpr.index(b"MODULEVMP data")
    header = start + 6 + 51
    length = int.from_bytes(mpr[start + 6 + 35 : start + 6 + 39], "little")
    data = mpr[header : header + length]
    row = (length - DATA_HEADER_BYTES) // points
    columns = MPR_COLUMNS[:-1]
    head = (
        points.to_bytes(4, "little")
        + bytes([len(columns)])
        + b"".join(c.to_bytes(2, "little") for c in columns)
    ).ljust(DATA_HEADER_BYTES, b"\x00")
    rows = b"".join(
        data[DATA_HEADER_BYTES + i * row : DATA_HEADER_BYTES + (i + 1) * row - 4]
        for i in range(points)
    )
    body = head + rows
    new_header = mpr[start + 6 : start + 6 + 35] + len(body).to_bytes(4, "little")
    new_header += mpr[start + 6 + 39 : header]
    return mpr[:start] + b"MODULE" + new_header + body + mpr[header + length :]
