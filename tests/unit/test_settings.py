"""Lab files: the embedded all-simulated lab, and errors that name the field and what is allowed."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from electroloop.errors import ConfigError
from electroloop.settings import DRIVERS, Settings, default_lab_text, load_lab
from electroloop.workflows.build import fault_rules

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "labs" / "lab.sim.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lab.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_embedded_lab_is_the_example_and_simulates_every_role() -> None:
    assert default_lab_text() == EXAMPLE.read_text(encoding="utf-8")
    lab = load_lab()
    # Every role but the arm: on the embedded lab the bench moves the vials (lab.arm.toml: an arm).
    assert set(lab.instruments()) == set(DRIVERS) - {"arm"}
    assert lab.all_simulated and lab.speedup > 1


def test_a_hybrid_lab_is_one_edit(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        '[balance]                # Mettler-Toledo MT-SICS\ndriver = "mt-sics"\naddress = "sim"',
        '[balance]\ndriver = "mt-sics"\naddress = "TCPIP::10.0.0.21::4001::SOCKET"',
    )
    lab = load_lab(write(tmp_path, text))
    assert not lab.balance.simulated and lab.pumps.simulated and not lab.all_simulated


def test_pumps_take_a_table_of_addresses(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        'address = "sim"          # or a table', 'address = { EC = "ASRL1::INSTR" } # or a table'
    )
    assert load_lab(write(tmp_path, text)).pumps.address == {"EC": "ASRL1::INSTR"}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ('driver = "mt-sics"', 'driver = "sartorius"'),
            "balance.driver is 'sartorius'; allowed: 'mt-sics'",
        ),
        (("speedup = 600.0", "speedup = -1.0"), "speedup: Input should be greater than 0"),
        (("timeout = 5.0", "timeout = 0"), "balance.timeout: Input should be greater than 0"),
        (("seed = 0", "seed = 0\nbudget = 3"), "budget: Extra inputs are not permitted"),
    ],
)
def test_bad_lab_files_name_the_field_and_the_allowed_range(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    text = EXAMPLE.read_text().replace(*edit, 1)
    with pytest.raises(ConfigError, match="invalid lab file") as info:
        load_lab(write(tmp_path, text))
    assert message in str(info.value)


def test_faults_go_to_simulators_with_exactly_one_trigger(tmp_path: Path) -> None:
    base = EXAMPLE.read_text()
    ok = base + '\n[[meter.faults]]\nfault = "garbage"\nafter = 3\n'
    assert load_lab(write(tmp_path, ok)).meter.faults[0].after == 3
    # omitted `times`: once after N commands, but a probability fires whenever it draws so
    chance = base + '\n[[meter.faults]]\nfault = "garbage"\nprobability = 0.2\n'
    rules = fault_rules(load_lab(write(tmp_path, chance)))["meter"]
    assert [(r.probability, r.times) for r in rules] == [(0.2, None)]
    assert [r.times for r in fault_rules(load_lab(write(tmp_path, ok)))["meter"]] == [1]
    capped = chance + "times = 3\n"
    assert [r.times for r in fault_rules(load_lab(write(tmp_path, capped)))["meter"]] == [3]
    both = base + '\n[[meter.faults]]\nfault = "garbage"\nafter = 3\nprobability = 0.1\n'
    with pytest.raises(ConfigError, match="exactly one of after"):
        load_lab(write(tmp_path, both))
    unknown = base + '\n[[meter.faults]]\nfault = "fire"\nafter = 3\n'
    with pytest.raises(ConfigError, match="meter.faults.0.fault"):
        load_lab(write(tmp_path, unknown))
    real = base.replace(
        'driver = "scpi-conductivity"\naddress = "sim"',
        'driver = "scpi-conductivity"\naddress = "TCPIP::h::1::SOCKET"',
    )
    with pytest.raises(ConfigError, match="faults can only be injected into a simulator"):
        load_lab(write(tmp_path, real + '\n[[meter.faults]]\nfault = "silent"\nafter = 1\n'))
    assert tomllib.loads(base)["meter"]["driver"] == "scpi-conductivity"


def test_the_dft_calculator_is_a_setting_not_code(monkeypatch: pytest.MonkeyPatch) -> None:
    from electroloop.settings import Settings
    from electroloop.simulations.oracle import CalculatorUnavailable
    from electroloop.simulations.oracle.crystals import build_calculator

    assert Settings().crystal_calculator.name == "chgnet"  # offline default
    monkeypatch.setenv(
        "ELECTROLOOP_CRYSTAL_CALCULATOR", '{"name": "vasp", "command": "no-such-vasp -n 8"}'
    )
    chosen = Settings().crystal_calculator
    assert (chosen.name, chosen.command) == ("vasp", "no-such-vasp -n 8")
    with pytest.raises(CalculatorUnavailable, match="no-such-vasp"):
        build_calculator(chosen)


@pytest.mark.parametrize("bad", ["127.0.0.1:8786", "http://scheduler:8786", "tcp://scheduler"])
def test_a_dask_scheduler_address_must_be_tcp_host_port(bad: str) -> None:
    with pytest.raises(ValueError, match=r"(?s)dask_address.*give tcp://host:port"):
        Settings(dask_address=bad)
    assert Settings(dask_address="tcp://10.0.0.7:8786").dask_address == "tcp://10.0.0.7:8786"
