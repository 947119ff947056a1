"""Oracle screens as Prefect flows: threads or a Dask cluster, retries only where they can help,
failures reported per molecule, and nothing computed twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.states import Completed, Failed

from electroloop.errors import SimulationError
from electroloop.simulations.oracle import CalculationFailed
from electroloop.simulations.oracle.cache import ResultCache
from electroloop.workflows.oracle_flows import _retry_only_failed_calculations, screen

EC, DME, DMC = "C1COC(=O)O1", "COCCOC", "COC(=O)OC"


def test_a_screen_reports_bad_input_and_computes_each_molecule_once(
    prefect_server: str, tmp_path: Path
) -> None:
    cache = tmp_path / "oracle.sqlite"
    first = screen([EC, DME, "C1CC(", EC], cache, runner="threads", workers=2)
    assert set(first.results) == {EC, DME}
    assert list(first.failures) == ["C1CC("]
    assert "SimulationError" in first.failures["C1CC("] and "C1CC(" in first.failures["C1CC("]
    assert first.results[EC].ip > first.results[DME].ip  # ethers oxidise more easily
    assert len(ResultCache(cache)) == 2

    again = screen([EC, DME], cache, runner="threads", workers=1)
    # Read back from the cache (JSON round-trips floats exactly): copies of the first results.
    assert again.results == first.results and len(ResultCache(cache)) == 2


def test_the_dask_runner_computes_the_same_results(prefect_server: str, tmp_path: Path) -> None:
    threads = screen([EC, DMC], tmp_path / "a.sqlite", runner="threads", workers=2)
    dask = screen([EC, DMC], tmp_path / "b.sqlite", runner="dask", workers=2)
    assert not dask.failures and len(ResultCache(tmp_path / "b.sqlite")) == 2
    for smiles in (EC, DMC):
        assert dask.results[smiles].ip == pytest.approx(threads.results[smiles].ip, abs=1e-6)


def test_only_failed_calculations_are_retried() -> None:
    def state_of(exc: Exception):  # type: ignore[no-untyped-def]
        return Failed(data=exc)

    assert _retry_only_failed_calculations(None, None, state_of(CalculationFailed("SCF")))  # type: ignore[arg-type]
    assert not _retry_only_failed_calculations(None, None, state_of(SimulationError("SMILES")))  # type: ignore[arg-type]
    assert not _retry_only_failed_calculations(None, None, Completed(data=1))  # type: ignore[arg-type]
