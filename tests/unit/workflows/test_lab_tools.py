"""`electroloop lab check` and `electroloop sim up`, as a newcomer runs them."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from electroloop.cli import main
from electroloop.settings import load_lab

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "labs" / "lab.sim.toml"


def test_lab_check_of_the_simulated_lab_finds_every_instrument(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["lab", "check"]) == 0
    out = capsys.readouterr().out
    assert "11 of 11 instruments answered" in out  # balance, 6 pumps, meter, chamber, SMU, cycler
    assert "Mettler-Toledo XS204" in out and "MODEL 2450" in out and "8 channels: 8 idle" in out
    assert out.count("::SOCKET (simulated)\n") == 11


def test_an_unreachable_instrument_is_reported_and_the_others_still_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = EXAMPLE.read_text().replace(
        'driver = "scpi-conductivity"\naddress = "sim"\ntimeout = 5.0',
        'driver = "scpi-conductivity"\naddress = "TCPIP::127.0.0.1::9::SOCKET"\ntimeout = 1.0',
    )
    lab = tmp_path / "lab.toml"
    lab.write_text(text, encoding="utf-8")
    assert main(["lab", "check", "--lab", str(lab)]) == 1
    out = capsys.readouterr().out
    assert "10 of 11 instruments answered" in out
    assert (
        "meter            TCPIP::127.0.0.1::9::SOCKET\n" in out and "FAILED  InstrumentError" in out
    )


def test_sim_up_serves_a_lab_that_lab_check_reaches_as_real_instruments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    written = tmp_path / "lab.local.toml"
    process = subprocess.Popen(
        [sys.executable, "-m", "electroloop.cli", "sim", "up", "--write", str(written)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("running"):
                break
        assert any("TCPIP::127.0.0.1::" in line for line in lines), lines
        lab = load_lab(written)
        assert not lab.all_simulated and not lab.meter.simulated  # addresses, not 'sim'
        assert main(["lab", "check", "--lab", str(written)]) == 0
        out = capsys.readouterr().out
        assert "11 of 11 instruments answered" in out and "SOCKET (simulated)" not in out
    finally:
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0 and "simulators stopped" in rest


def test_demo_and_run_take_a_lab_file_relative_to_where_they_are_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from electroloop.cli import build_parser
    from electroloop.cli.common import campaign_overrides

    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["demo", "--lab", "labs/lab.toml", "--budget", "4"])
    assert campaign_overrides(args) == {"budget": 4, "lab": str(tmp_path / "labs" / "lab.toml")}
    assert campaign_overrides(build_parser().parse_args(["demo", "--lab", "simulated"])) == {
        "lab": "simulated"
    }
