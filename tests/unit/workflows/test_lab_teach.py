"""`electroloop lab teach`: the arm's present pose as the lab-file line, nothing moved."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from electroloop.cli import main
from electroloop.instruments.precise_flex import PreciseFlexArm
from electroloop.instruments.sim.bench import SimulatedBench
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.precise_flex import PreciseFlexServer
from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.settings import default_lab_text, load_lab
from electroloop.simulations.conductivity import conductivity
from electroloop.workflows.build import simulated_stocks

POSES: dict[str, list[float]] = {
    "rack-1:A1": [200.0, -150.0, 40.0, 0.0, 90.0, 180.0, 1],
    "balance": [420.0, 60.0, 95.0, 0.0, 90.0, 180.0, 2],
    "meter": [300.0, 200.0, 60.0, 0.0, 90.0, 180.0, 1],
    "waste": [150.0, 250.0, 120.0, 0.0, 90.0, 180.0, 1],
    "standards": [360.0, 200.0, 40.0, 0.0, 90.0, 180.0, 1],
}
MOTIONS = {"home", "pickplate", "placeplate", "movetosafe"}


@pytest.fixture
def server() -> Iterator[PreciseFlexServer]:
    stocks = simulated_stocks(default_campaign().space, load_lab())
    bench = SimulatedBench(stocks, 25.0, conductivity, seed=1)
    clock = SimClock(1000.0)
    with PreciseFlexServer(bench, POSES, clock=clock, rack_labels={"rack-1:A1": "V1"}.get) as arm:
        yield arm
    clock.stop()


def lab_file(folder: Path, address: str) -> Path:
    positions = "\n".join(f'"{place}" = {pose}' for place, pose in POSES.items())
    text = default_lab_text() + (
        f'\n[arm]\ndriver = "precise-flex"\naddress = "{address}"\ntimeout = 5.0\n'
        f"\n[arm.positions]\n{positions}\n"
    )
    path = folder / "lab.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_teach_prints_where_the_gripper_is_without_moving_it(
    server: PreciseFlexServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arm = PreciseFlexArm(server.host, server.port, POSES, timeout=5.0)
    try:
        arm.move("V1", "rack-1:A1", "balance")  # the gripper ends at the balance's pose
    finally:
        arm.close()
    before = [c for c in server.received if c.lower() in MOTIONS]
    lab = lab_file(tmp_path, f"TCPIP::{server.host}::{server.port}::SOCKET")
    assert main(["lab", "teach", "balance", "--lab", str(lab)]) == 0
    line = capsys.readouterr().out.strip()
    taught = tomllib.loads(line)["balance"]
    assert taught == pytest.approx(POSES["balance"], abs=1e-3)  # mm and degrees, as TCS reports
    assert [c for c in server.received if c.lower() in MOTIONS] == before  # nothing moved


@pytest.mark.parametrize(
    ("place", "address", "message"),
    [
        ("shelf", "TCPIP::127.0.0.1::10100::SOCKET", "place 'shelf'; allowed: a rack slot"),
        ("rack-1:E1", "TCPIP::127.0.0.1::10100::SOCKET", "place 'rack-1:E1'; allowed"),
        ("balance", "sim", "has no real arm to teach"),
    ],
)
def test_teach_refuses_a_bad_place_or_a_simulated_arm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], place: str, address: str, message: str
) -> None:
    assert main(["lab", "teach", place, "--lab", str(lab_file(tmp_path, address))]) == 2
    assert message in capsys.readouterr().err
