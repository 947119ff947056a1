"""DosingStation against the loopback lab: weighed masses, true contents, limits."""

from __future__ import annotations

import re

import pytest

from electroloop.errors import LimitViolation
from electroloop.instruments.balance import MettlerToledoBalance
from electroloop.instruments.dosing_station import DosingChannel, DosingStation
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.syringe_pump import SyringePump


@pytest.fixture
def station(lab, connect, stocks) -> DosingStation:
    clock = SimClock(1000.0)  # a full stroke at V1400 takes 4.3 ms
    for server in lab.pumps.values():
        server.clock = clock
    balance = MettlerToledoBalance(
        connect(lab.balance_resource, MettlerToledoBalance.TERMINATIONS, instrument="balance")
    )
    channels = {
        stock.name: DosingChannel(
            pump=SyringePump(
                connect(
                    lab.pump_resources[stock.name],
                    SyringePump.TERMINATIONS,
                    instrument=f"pump {stock.name}",
                ),
                poll_interval=0.001,
            ),
            stock=stock,
            input_port=lab.INPUT_PORT,
            output_port=lab.OUTPUT_PORT,
        )
        for stock in stocks
    }
    station = DosingStation(balance, channels, tolerance=0.002)
    station.initialize()
    return station


def test_doses_targets_within_tolerance(lab, station) -> None:
    targets = {"EC": 0.9, "LiPF6-EC": 1.6, "EMC": 2.4, "DMC": 7.3}  # DMC needs two strokes
    weighed = station.dose(targets)
    truth = lab.bench.vial_contents()
    assert set(weighed) == set(targets)
    for name, target in targets.items():
        assert weighed[name] == pytest.approx(target, abs=0.002), name
        assert truth[name] == pytest.approx(weighed[name], abs=0.001), name
        # Booked as the initial mass less the weighed one: one subtraction, only its rounding.
        assert station.remaining[name] == pytest.approx(500.0 - weighed[name], rel=1e-12, abs=0.0)
        assert lab.bench.bottle_mass(name) == pytest.approx(500.0 - truth[name], abs=1e-9)
    dmc_pump = station.channels["DMC"].pump.resource.take().text
    strokes = re.findall(r"> /1P(\d+)R", dmc_pump)
    # 7.3 g / 1.07 g/mL = 6.8 mL: two equal strokes (to one increment)
    assert abs(int(strokes[0]) - int(strokes[1])) <= 1
    assert len(strokes) <= 3  # and at most one top-up
    conductivity = lab.bench.true_conductivity()
    assert 1.0 < conductivity < 20.0


def test_skips_zero_targets_and_fresh_vials_start_empty(lab, station) -> None:
    first = station.dose({"EMC": 0.5, "DMC": 0.0})
    assert list(first) == ["EMC"]
    old = lab.bench.vial_id
    new = lab.bench.present_fresh_vial()
    assert new != old and lab.bench.vial_contents() == {}
    assert lab.bench.history[-1].contents.keys() == {"EMC"}
    second = station.dose({"EC": 0.25})
    assert second["EC"] == pytest.approx(lab.bench.vial_contents()["EC"], abs=0.001)


@pytest.mark.parametrize(
    "targets",
    [
        {"EC": -0.1},
        {"EC": float("nan")},
        {"NMP": 1.0},
        {"EC": 501.0},
        {"EC": 150.0, "EMC": 80.0},  # over the 220 g balance capacity
        {"EC": 1.0, "DMC": -1.0},  # checked before the EC dose starts
    ],
)
def test_limits_before_anything_moves(lab, station, targets) -> None:
    for channel in station.channels.values():
        channel.pump.resource.take()
    station.balance.resource.take()
    with pytest.raises(LimitViolation):
        station.dose(targets)
    assert station.balance.resource.take().text == ""
    assert all(c.pump.resource.take().text == "" for c in station.channels.values())
    assert lab.bench.vial_contents() == {}


def test_bookkeeping_limits_later_doses(lab, station, stocks) -> None:
    restored = DosingStation(station.balance, station.channels, taken={"EC": 499.5})
    # 500 g less the 499.5 g taken: one subtraction, only its rounding.
    assert restored.remaining["EC"] == pytest.approx(0.5, rel=1e-12, abs=0.0)
    with pytest.raises(LimitViolation, match="left in the bottle"):
        restored.dose({"EC": 0.6})
    with pytest.raises(LimitViolation, match="holds stock"):
        DosingStation(station.balance, {"X": station.channels["EC"]})
