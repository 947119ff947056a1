"""The .mpr fixture writer: galvani's EC-Lab reader reads back what was written."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from galvani.BioLogic import MPRfile

from electroloop.errors import ConfigError
from electroloop.instruments.cycler import CycleRecord
from electroloop.instruments.sim.mpr_file import MPR_MAGIC, write_mpr

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
                        25.0 + 0.01 * point,
                    )
                )
    return out


def read(path):
    with path.open("rb") as handle:
        return MPRfile(handle)


def test_galvani_reads_the_columns_dates_and_flags(tmp_path) -> None:
    written = records()
    mpr = read(write_mpr(tmp_path / "a.mpr", written, started=STARTED, roles=ROLES))
    assert tmp_path.joinpath("a.mpr").read_bytes().startswith(MPR_MAGIC)
    assert mpr.version == 2 and len(mpr.data) == len(written)
    assert mpr.startdate == STARTED.date()
    assert mpr.timestamp == STARTED.replace(tzinfo=None)
    data = mpr.data
    assert data["time/s"].tolist() == pytest.approx([r.time for r in written], abs=1e-9)
    assert data["I/mA"] == pytest.approx([1000 * r.current for r in written], rel=1e-6)
    # EC-Lab counts cycles and sequences (Ns) from 0.
    assert data["cycle number"].tolist() == [r.cycle - 1 for r in written]
    assert data["Ns"].tolist() == [r.step - 1 for r in written]
    modes = mpr.get_flag("mode")
    assert modes[[r.step == 2 for r in written]].tolist() == [2] * 6  # CV
    assert modes[[r.step == 3 for r in written]].tolist() == [3] * 6  # rest
    assert mpr.get_flag("ox/red").tolist() == [r.current > 0 for r in written]


def test_net_charge_rises_on_charge_and_falls_on_discharge(tmp_path) -> None:
    written = records(cycles=1)
    data = read(write_mpr(tmp_path / "a.mpr", written, started=STARTED)).data
    net = data["(Q-Qo)/mA.h"]
    charged = 1000 * (written[3].capacity + written[6].capacity)  # CC + CV step ends, mAh
    assert net[6] == pytest.approx(charged, rel=1e-12)
    assert net[-1] == pytest.approx(charged - 1000 * written[-1].capacity, abs=1e-12)
    assert np.all(np.diff(data["|Energy|/W.h"]) >= 0)  # a throughput only grows


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"started": datetime(1999, 1, 1, tzinfo=UTC)}, "started 1999-01-01.*allowed: 2009"),
        ({"roles": ("charge",)}, r"step 2; allowed: 1\.\.1 \(roles\)"),
        ({"roles": ("charge", "cv", "rest", "boost")}, "roles holds 'boost'"),
    ],
)
def test_bad_input_is_refused_before_writing(tmp_path, kwargs, message) -> None:
    with pytest.raises(ConfigError, match=message):
        write_mpr(tmp_path / "a.mpr", records(), **{"started": STARTED, **kwargs})
    assert not (tmp_path / "a.mpr").exists()


def test_records_out_of_time_order_or_none_are_refused(tmp_path) -> None:
    backwards = records()[:3]
    backwards[2] = CycleRecord(2, 1.0, 1, 1, 0.0, 3.7, 0.0, 0.0, 25.0)
    with pytest.raises(ConfigError, match=r"record 2: time 1\.0 s before"):
        write_mpr(tmp_path / "a.mpr", backwards, started=STARTED)
    with pytest.raises(ConfigError, match="records: none given"):
        write_mpr(tmp_path / "a.mpr", [], started=STARTED)
