"""The Neware BTS's wiring: its simulator as a detached process, and `lab check` of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from electroloop.cli import main
from electroloop.errors import ConfigError, InstrumentError
from electroloop.instruments.neware import NewareCycler
from electroloop.settings import DRIVERS, InstrumentSpec
from electroloop.workflows.cycler_service import (
    cycler_process,
    cycler_state_path,
    ensure_cycler,
    stop_cycler,
)
from electroloop.workflows.lab_tools import CHECKS

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "labs" / "lab.sim.toml"
SCPI_CYCLER = 'driver = "electroloop-cycler"\naddress = "sim"'
CONFIG = {"channels": 3, "speedup": 1000.0, "seed": 1}


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    stop_cycler(tmp_path)


def test_the_simulated_bts_runs_as_its_own_process_and_is_re_attached(home: Path) -> None:
    process = ensure_cycler(home, **CONFIG, driver="neware-bts")
    assert cycler_state_path(home, "neware-bts").name == "neware.json"
    assert process.resource == f"127.0.0.1:{process.port}"
    assert ensure_cycler(home, **CONFIG, driver="neware-bts").pid == process.pid  # re-attached
    assert cycler_process(home, "electroloop-cycler") is None
    assert cycler_process(home) == process  # whichever kind runs
    cycler = NewareCycler(process.resource, step_folder=home / "steps")
    try:
        assert cycler.channel_count() == 3 and cycler.pipeline(3) == "21-1-3"
    finally:
        cycler.close()
    with pytest.raises(ConfigError, match=r"seed: running 1, asked 2"):
        ensure_cycler(home, **(CONFIG | {"seed": 2}), driver="neware-bts")
    assert stop_cycler(home) and cycler_process(home, "neware-bts") is None


def test_an_unknown_driver_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"cycler driver 'maccor'; allowed: .*neware-bts"):
        cycler_state_path(Path("."), "maccor")


def test_lab_check_knows_the_neware_bts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "neware-bts" in DRIVERS["cycler"] and "neware-bts" in CHECKS
    text = EXAMPLE.read_text()
    assert SCPI_CYCLER in text
    lab = tmp_path / "lab.toml"
    lab.write_text(text.replace(SCPI_CYCLER, 'driver = "neware-bts"\naddress = "sim"'))
    assert main(["lab", "check", "--lab", str(lab)]) == 0
    out = capsys.readouterr().out
    assert "Neware BTS devtype 27 unit 21" in out and "8 pipelines" in out
    dead = InstrumentSpec(driver="neware-bts", address="127.0.0.1:1", timeout=0.5)
    with pytest.raises(InstrumentError, match="Neware BTS 127.0.0.1:1: ConnectionRefused"):
        CHECKS["neware-bts"]("127.0.0.1:1", dead)
