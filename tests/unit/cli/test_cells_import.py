"""`electroloop cells import`: a lab's cycler file read, summarised and written as BDF."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from electroloop.cli import main
from electroloop.instruments.sim.mpr_file import write_mpr
from electroloop.instruments.sim.ndax_file import write_ndax
from electroloop.kinds.cycling.spec import ROLES
from tests.unit.kinds.cycling.simulated_cell import simulated_phases

STARTED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def records():
    return simulated_phases()[1].records  # two 1C cycles of a simulated cell


@pytest.mark.parametrize("suffix", ["mpr", "ndax"])
def test_a_cycler_file_imports_and_becomes_bdf(records, tmp_path, capsys, suffix: str) -> None:
    writer = write_mpr if suffix == "mpr" else write_ndax
    path = writer(tmp_path / f"old-cell.{suffix}", records, started=STARTED, roles=ROLES)
    assert main(["cells", "import", str(path), "--bdf", str(tmp_path / "bdf")]) == 0
    out = capsys.readouterr().out
    assert f"{len(records)} records" in out
    assert out.count("  cycle ") == 2  # both complete cycles summarised
    table = pd.read_parquet(tmp_path / "bdf" / "old-cell.bdf.parquet")
    assert len(table) == len(records)
    assert {"Test Time / s", "Voltage / V", "Current / A", "Cycle Count / 1"} <= set(table)
    sidecar = json.loads((tmp_path / "bdf" / "old-cell.bdf.metadata.json").read_text())
    assert sidecar["extras"]["source"]["file"] == path.name  # where the data came from
    assert sidecar["extras"]["started"].startswith("2026-12-01T09:30")


def test_an_unknown_file_type_is_a_named_error(tmp_path, capsys) -> None:
    path = tmp_path / "cell.res"
    path.write_bytes(b"\x00" * 64)
    assert main(["cells", "import", str(path)]) == 2
    assert ".res" in capsys.readouterr().err
