"""The BioLogic cycler's wiring: a lab file's 'biologic-eclab' cycler, and `lab check` of it."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from electroloop.cli import main
from electroloop.clocks import SteppedClock
from electroloop.errors import ConfigError
from electroloop.instruments.sim.biologic_fake import FakeBiologicAPI
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign
from electroloop.kinds.registry import load_campaign
from electroloop.settings import InstrumentSpec, load_lab
from electroloop.workflows.cycling_build import biologic_api
from electroloop.workflows.lab_tools import local_lab_toml, simulators

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "labs" / "lab.sim.toml"
CYCLING = Path(__file__).resolve().parents[3] / "examples" / "campaigns" / "cycling.toml"
SCPI_CYCLER = 'driver = "electroloop-cycler"\naddress = "sim"'


def test_sim_is_the_fake_with_the_lab_files_channel_count() -> None:
    chosen = InstrumentSpec(driver="biologic-eclab", limits={"channels": 3})
    api = biologic_api(chosen, SteppedClock(), seed=1)
    assert isinstance(api, FakeBiologicAPI)
    assert list(api.get_pipelines()) == ["MPG2-1-1", "MPG2-1-2", "MPG2-1-3"]


def test_an_address_other_than_local_or_sim_is_refused() -> None:
    chosen = InstrumentSpec(driver="biologic-eclab", address="TCPIP::10.0.0.5::502::SOCKET")
    with pytest.raises(ConfigError, match=r"cycler.address .*allowed: 'local' .* or 'sim'"):
        biologic_api(chosen, SteppedClock(), seed=0)


@pytest.mark.skipif(sys.platform == "win32", reason="EC-Lab may be there on Windows")
def test_lab_check_knows_the_biologic_cycler(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = EXAMPLE.read_text()
    assert SCPI_CYCLER in text
    lab = tmp_path / "lab.toml"
    lab.write_text(text.replace(SCPI_CYCLER, 'driver = "biologic-eclab"\naddress = "sim"'))
    assert main(["lab", "check", "--lab", str(lab)]) == 0
    out = capsys.readouterr().out
    assert "BioLogic EC-Lab via aurora-biologic: MPG2-1 (SN 12345)" in out
    assert "8 channels: 8 stop" in out
    lab.write_text(text.replace(SCPI_CYCLER, 'driver = "biologic-eclab"\naddress = "local"'))
    assert main(["lab", "check", "--lab", str(lab)]) == 1  # EC-Lab runs on Windows only
    assert "runs on Windows only" in capsys.readouterr().out


def test_sim_up_leaves_the_in_process_fake_as_sim(tmp_path: Path) -> None:
    """Other processes reach `sim up`'s simulators by address; the BioLogic fake has none."""
    lab_file = tmp_path / "lab.toml"
    lab_file.write_text(
        EXAMPLE.read_text().replace(SCPI_CYCLER, 'driver = "biologic-eclab"\naddress = "sim"')
    )
    lab, spec = load_lab(lab_file), load_campaign(CYCLING)
    assert isinstance(spec, ElectrolyteCampaign)
    with simulators(lab, spec) as sim:
        data = tomllib.loads(local_lab_toml(lab, spec, sim))
    assert data["cycler"]["address"] == "sim"
    assert data["balance"]["address"].startswith("TCPIP::127.0.0.1::")
