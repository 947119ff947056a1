"""The .ndax fixture writer: fastnda's Neware reader reads back what was written."""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime

import fastnda
import pytest

from electroloop.errors import ConfigError
from electroloop.instruments.cycler import CycleRecord
from electroloop.instruments.sim.ndax_file import write_ndax

STARTED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
ROLES = ("charge", "cv", "rest", "discharge")
CURRENT = {"charge": 2.5e-3, "cv": 1e-3, "rest": 0.0, "discharge": -2.5e-3}  # A


def records(cycles: int = 2, points: int = 3) -> list[CycleRecord]:
    """`points` records a step, capacity and energy counting from the step's start."""
    out = [CycleRecord(0, 0.0, 1, 1, CURRENT["charge"], 3.5, 0.0, 0.0, 25.0)]
    for cycle in range(1, cycles + 1):
        for step, role in enumerate(ROLES, start=1):
            for point in range(1, points + 1):
                q = abs(CURRENT[role]) * 60.0 * point / 3600.0
                out.append(
                    CycleRecord(
                        len(out),
                        60.0 * len(out),
                        cycle,
                        step,
                        CURRENT[role],
                        3.7,
                        q,
                        3.7 * q,
                        25.0 + 0.1 * point,
                    )
                )
    return out


def test_fastnda_reads_times_steps_types_and_signs(tmp_path) -> None:
    written = records()
    path = write_ndax(tmp_path / "a.ndax", written, started=STARTED, roles=ROLES)
    assert {"data.ndc", "data_AUX_1_1_1.ndc", "TestInfo.xml"} <= set(
        zipfile.ZipFile(path).namelist()
    )
    frame = fastnda.read(path, cycle_mode="raw")
    assert len(frame) == len(written)
    assert frame["total_time_s"].to_list() == pytest.approx([r.time for r in written], abs=1e-3)
    assert frame["cycle_count"].to_list() == [r.cycle for r in written]
    assert frame["step_index"].to_list() == [r.step for r in written]
    types = frame["step_type"].cast(str).to_list()
    assert types[1:4] == ["CC_Chg"] * 3 and types[4:7] == ["CV_Chg"] * 3
    assert types[7:10] == ["Rest"] * 3 and types[10:13] == ["CC_DChg"] * 3
    # Neware signs the step capacity by direction; the current is negative on discharge.
    assert frame["capacity_mAh"][12] == pytest.approx(-1000 * written[12].capacity, rel=1e-6)
    assert frame["current_mA"][12] == pytest.approx(-2.5, abs=1e-3)
    assert frame["unix_time_s"][0] == pytest.approx(STARTED.timestamp(), abs=1e-6)
    assert frame["aux1_temperature_degC"].to_list() == pytest.approx(
        [r.temperature for r in written], abs=0.051
    )


def test_without_roles_the_step_type_follows_the_current(tmp_path) -> None:
    frame = fastnda.read(write_ndax(tmp_path / "a.ndax", records(), started=STARTED), "raw")
    types = frame["step_type"].cast(str).to_list()
    assert types[4:13] == ["CC_Chg"] * 3 + ["Rest"] * 3 + ["CC_DChg"] * 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channel": "21-1"}, "channel '21-1'; allowed: 'devid-subdevid-chlid'"),
        ({"roles": ("charge", "cv")}, r"step 3; allowed: 1\.\.2 \(roles\)"),
        ({"roles": ("charge", "cv", "rest", "boost")}, "roles holds 'boost'"),
    ],
)
def test_bad_input_is_refused_before_writing(tmp_path, kwargs, message) -> None:
    with pytest.raises(ConfigError, match=message):
        write_ndax(tmp_path / "a.ndax", records(), started=STARTED, **kwargs)
    assert not (tmp_path / "a.ndax").exists()


def test_a_current_beyond_every_range_is_refused(tmp_path) -> None:
    huge = [CycleRecord(0, 0.0, 1, 1, 20.0, 3.7, 0.0, 0.0, 25.0)]
    with pytest.raises(ConfigError, match=r"current 20000\.0 mA; allowed: <= 10000 mA"):
        write_ndax(tmp_path / "a.ndax", huge, started=STARTED)
