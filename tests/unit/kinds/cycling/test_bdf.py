"""Battery Data Format export of a simulated cell: read back with pandas, labels, units, signs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from electroloop.kinds.cycling.bdf import (
    BDF_COLUMNS,
    REQUIRED,
    BdfError,
    BdfMetadata,
    MissingBdfColumns,
    cell_metadata,
    export_bdf,
    read_bdf,
    read_bdf_metadata,
)
from electroloop.kinds.cycling.summary import PhaseData, ordered_records, summarize
from electroloop.models import DosingRecord, Formulation
from electroloop.orchestrator.events import CampaignState, CellAssembled, CellState, PhaseStarted
from tests.unit.kinds.cycling.simulated_cell import simulated_phases

EXACT = 1e-12
"""Relative tolerance for a value the export copies or sums as this test does: only the float
text of the CSV and the order of additions may differ."""

# BDF README (battery-data-alliance/battery-data-format @ 1412b98, ontology 1.3.0)
BDF_REQUIRED = ["Test Time / s", "Voltage / V", "Current / A"]
UNITS = {"s": "s", "V": "V", "A": "A", "1": "1", "Ah": "Ah", "Wh": "Wh", "degC": "degC"}


@pytest.fixture(scope="module")
def phases() -> tuple[PhaseData, ...]:
    return simulated_phases()


@pytest.fixture(scope="module")
def exported(phases, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bdf")
    meta = BdfMetadata(
        campaign_id="c-bdf",
        formulation={"fractions": {"EC": 0.3, "EMC": 0.7}, "salt": "LiPF6", "molality": 1.0},
        chemistry="graphite-nmc811",
        nominal_capacity=0.005,
        cycler_driver="electroloop-cycler",
        cycler_address="TCPIP::127.0.0.1::5025::SOCKET",
        channel=1,
        protocols={"formation": "CC,2.5E-3,4.2", "cycling": "CC,5E-3,4.2"},
    )
    return export_bdf(phases, folder, "c-bdf-001", meta)


@pytest.mark.parametrize("key", ["bdf_parquet", "bdf_csv"])
def test_both_files_read_back_with_pandas_and_hold_the_required_columns(exported, key) -> None:
    path = exported[key]
    assert path.name in ("c-bdf-001.bdf.parquet", "c-bdf-001.bdf.csv")
    frame = pd.read_parquet(path) if key == "bdf_parquet" else pd.read_csv(path)
    assert list(frame.columns) == list(BDF_COLUMNS)
    assert set(BDF_REQUIRED) <= set(frame.columns) and list(REQUIRED) == BDF_REQUIRED
    assert read_bdf(path).shape == frame.shape


def test_labels_carry_their_units_and_the_sidecar_states_them(exported) -> None:
    extras = read_bdf_metadata(exported["bdf_parquet"])
    sidecar = json.loads(exported["bdf_metadata"].read_text())
    assert exported["bdf_metadata"].name == "c-bdf-001.bdf.metadata.json"
    assert set(sidecar) == {"extras"}  # batterydf's Metadata accepts only its own keys
    for label, column in extras["columns"].items():
        match = re.fullmatch(r".+ / (\S+)", label)
        unit = match.group(1) if match else ""
        assert column["unit"] == UNITS.get(unit, "")
        assert column["iri"].endswith("#" + column["name"])
    assert extras["columns"]["Current / A"]["name"] == "current_ampere"
    assert extras["cell_id"] == "c-bdf-001" and extras["chemistry"] == "graphite-nmc811"
    assert extras["nominal_capacity_ah"] == pytest.approx(0.005, rel=EXACT)
    assert extras["cycler"]["channel"] == 1
    assert [p["name"] for p in extras["phases"]] == ["formation", "cycling"]
    assert extras["phases"][1]["protocol"] == "CC,5E-3,4.2"
    assert "positive current charges" in extras["current_sign"]
    assert {"electroloop", "pandas", "pyarrow"} <= set(extras["software"])


@pytest.mark.parametrize("key", ["bdf_parquet", "bdf_csv"])
def test_values_are_the_records_in_test_order(phases, exported, key) -> None:
    frame = read_bdf(exported[key])
    ordered = ordered_records(phases)
    records = [(p, r) for p in ordered for r in p.records]
    assert len(frame) == len(records) > 400
    for row, (phase, record) in zip(frame.itertuples(index=False), records, strict=True):
        assert row[0] == pytest.approx(phase.time_offset + record.time, rel=EXACT, abs=EXACT)
        assert row[1] == pytest.approx(record.voltage, rel=EXACT)
        assert row[2] == pytest.approx(record.current, rel=EXACT, abs=EXACT)
        assert row[3] == phase.cycle_offset + record.cycle
    assert frame["Test Time / s"].is_monotonic_increasing
    assert frame["Record Index / 1"].tolist() == list(range(1, len(frame) + 1))
    assert frame["Cycle Count / 1"].tolist()[-1] == 3  # 1 formation + 2 cycling cycles


def test_current_is_positive_on_charge_as_bdf_defines_it(exported) -> None:
    frame = read_bdf(exported["bdf_parquet"])
    charging = frame[frame["Step Type"].isin(["CC_CHG", "CV_CHG"])]
    discharging = frame[frame["Step Type"] == "CC_DCH"]
    rest = frame[frame["Step Type"] == "REST"]
    # The first record of a step is taken at its START, before the current flows.
    moving = lambda part: part[part["Step Time / s"] > 0]  # noqa: E731
    assert (moving(charging)["Current / A"] > 0).all()
    assert (moving(discharging)["Current / A"] < 0).all()
    assert rest["Current / A"].abs().max() == pytest.approx(0.0, abs=1e-6)
    assert (charging["Step Discharging Capacity / Ah"] == 0).all()
    assert (discharging["Step Charging Capacity / Ah"] == 0).all()


def test_running_capacities_add_up_to_the_cycle_summary(phases, exported) -> None:
    frame = read_bdf(exported["bdf_parquet"])
    stats = summarize(phases)
    charged = sum(s.charge_capacity for s in stats)
    # The summary's discharge leaves out the pulse; BDF's discharging capacity counts it.
    pulses = frame[(frame["Step Type"] == "CC_DCH") & (frame["Step ID"] == 4)]
    pulse_total = pulses.groupby("Step Count / 1")["Step Discharging Capacity / Ah"].last().sum()
    discharged = sum(s.discharge_capacity for s in stats) + pulse_total
    last = frame.iloc[-1]
    assert last["Charging Capacity / Ah"] == pytest.approx(charged, rel=1e-9)
    assert last["Discharging Capacity / Ah"] == pytest.approx(discharged, rel=1e-9)
    assert last["Net Capacity / Ah"] == pytest.approx(charged - discharged, rel=1e-6)
    assert frame["Charging Capacity / Ah"].is_monotonic_increasing
    assert frame["Discharging Capacity / Ah"].is_monotonic_increasing


def test_step_count_rises_by_one_at_each_new_step_and_never_resets(phases, exported) -> None:
    frame = read_bdf(exported["bdf_csv"])
    runs = [(p.phase.name, r.cycle, r.step) for p in ordered_records(phases) for r in p.records]
    starts = sum(1 for a, b in zip([None, *runs], runs, strict=False) if a != b)
    counts = frame["Step Count / 1"]
    assert counts.iloc[0] == 1 and counts.iloc[-1] == starts
    assert set(counts.diff().dropna().unique()) <= {0, 1}
    step_times = frame.groupby("Step Count / 1")["Step Time / s"]
    assert step_times.apply(lambda times: times.is_monotonic_increasing).all()


def test_a_table_without_a_required_column_is_refused_by_name(exported, tmp_path) -> None:
    frame = pd.read_csv(exported["bdf_csv"]).drop(columns=["Current / A"])
    damaged = tmp_path / "cell.bdf.csv"
    frame.to_csv(damaged, index=False)
    with pytest.raises(
        MissingBdfColumns, match=r"missing required BDF column\(s\) \['Current / A'\]"
    ):
        read_bdf(damaged)
    with pytest.raises(BdfError, match="allowed: a .bdf.parquet, .bdf.csv or .bdf file"):
        read_bdf(tmp_path / "cell.xlsx")


def test_a_bad_cell_id_writes_nothing(phases, tmp_path) -> None:
    with pytest.raises(BdfError, match="cell_id must match"):
        export_bdf(phases, tmp_path / "out", "cell 1/../x")
    assert not (tmp_path / "out").exists()


def test_the_campaigns_cell_artifacts_include_the_bdf_files(phases, tmp_path) -> None:
    from electroloop.workflows.cycling_build import cell_artifacts

    files = cell_artifacts(tmp_path, "c1")("c1-001", phases[1:])
    names = {path.name for path in files}
    assert {"c1-001.bdf.parquet", "c1-001.bdf.csv", "c1-001.bdf.metadata.json"} <= names
    assert {"c1-001_raw.parquet", "c1-001_summary.csv"} <= names  # the cellpy-style ones stay
    assert read_bdf_metadata(tmp_path / "c1-001" / "c1-001.bdf.csv")["campaign_id"] == "c1"


def test_the_sidecar_takes_formulation_channel_and_protocols_from_the_log() -> None:
    dosed = Formulation(
        fractions={"EC": 0.31, "EMC": 0.69}, salt="LiPF6", molality=0.98, temperature=25.0
    )
    state = CampaignState()
    state.dosings["t0001"] = DosingRecord(
        candidate_id="t0001", target_masses={}, dosed_masses={}, as_dosed=dosed
    )
    state.cells["t0001"] = CellState(
        assembled=CellAssembled(
            candidate_id="t0001", cell_id="c1-t0001", cycler="TCPIP::x", channel=5, capacity=0.004
        ),
        phases=[
            PhaseStarted(
                candidate_id="t0001",
                phase="formation",
                protocol="CC,1E-3,4.2",
                roles=("charge",),
                first_index=0,
            )
        ],
    )
    base = BdfMetadata(campaign_id="c1", chemistry="graphite-lfp", cycler_driver="neware-bts")
    meta = cell_metadata(state, "c1-t0001", base)
    assert meta.formulation == dosed.model_dump(mode="json")
    assert (meta.channel, meta.cycler_address) == (5, "TCPIP::x")
    assert meta.nominal_capacity == pytest.approx(0.004, rel=EXACT)
    assert meta.protocols == {"formation": "CC,1E-3,4.2"}
    assert (meta.chemistry, meta.cycler_driver) == ("graphite-lfp", "neware-bts")
    assert cell_metadata(state, "c1-unknown", base) == base
