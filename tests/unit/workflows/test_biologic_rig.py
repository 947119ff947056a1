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


def test_a_protocol_biologic_cannot_run_refuses_the_campaign_before_anything_moves() -> None:
    from electroloop.instruments.protocol_export import UnsupportedStep
    from electroloop.workflows.cycling_build import check_protocols

    spec = load_campaign(CYCLING)
    assert isinstance(spec, ElectrolyteCampaign) and spec.cycling is not None
    big = spec.cycling.model_copy(update={"cell_capacity": 1.0, "c_rate": 2.0})  # 2 A
    spec = spec.model_copy(update={"cycling": big})
    roomy = {"channels": 8, "max_current": 5.0}  # inside the chemistry and the lab's limits
    check_protocols(spec, InstrumentSpec(driver="neware-bts", limits=roomy))  # a BTS runs it
    with pytest.raises(
        UnsupportedStep,
        match=r"phase .rate-2C., step 5 \(constant_current\).*BioLogic EC-Lab.*I range",
    ):
        check_protocols(spec, InstrumentSpec(driver="biologic-eclab", limits=roomy))


def test_assemble_refuses_that_protocol_before_a_store_simulator_or_pump_exists(
    tmp_path: Path,
) -> None:
    from electroloop.instruments.protocol_export import UnsupportedStep
    from electroloop.settings import Settings
    from electroloop.workflows.build import assemble

    text = EXAMPLE.read_text(encoding="utf-8").replace(
        SCPI_CYCLER, 'driver = "biologic-eclab"\naddress = "sim"'
    )
    cycler_limits = "channels = 8, max_voltage = 4.2, min_voltage = 2.5, max_current = 0.01"
    assert cycler_limits in text
    text = text.replace(cycler_limits, cycler_limits.replace("0.01", "5.0"))
    lab = tmp_path / "lab.toml"
    lab.write_text(text, encoding="utf-8")
    spec = load_campaign(CYCLING)
    assert isinstance(spec, ElectrolyteCampaign) and spec.cycling is not None
    big = spec.cycling.model_copy(update={"cell_capacity": 1.0, "c_rate": 2.0})
    spec = spec.model_copy(update={"cycling": big, "lab": str(lab)})
    settings = Settings(home=tmp_path / "home")
    with pytest.raises(UnsupportedStep, match="BioLogic EC-Lab"):
        with assemble(spec, settings, "too-big", []):
            pass
    assert not settings.store_path.exists()  # no event, no lease: nothing was started
