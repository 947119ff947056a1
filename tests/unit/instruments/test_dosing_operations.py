"""DosingStation beyond dosing: priming, rinsing, stock bookkeeping, channel checks, and a
recorded dose replayed without any simulator."""

from __future__ import annotations

import pytest

from electroloop.errors import LimitViolation
from electroloop.instruments.balance import MettlerToledoBalance
from electroloop.instruments.dosing_station import DosingChannel, DosingStation
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.syringe_pump import SyringePump
from electroloop.instruments.transport import ReplayResource
from tests.floats import SAME_COMPUTATION, assert_close

WASTE, RINSE = 3, 4


def channels(lab, connect, stocks, **overrides) -> dict[str, DosingChannel]:
    clock = SimClock(1000.0)  # a full stroke at V1400 takes 4.3 ms
    made = {}
    for stock in stocks:
        lab.pumps[stock.name].clock = clock
        resource = connect(lab.pump_resources[stock.name], SyringePump.TERMINATIONS)
        fields = {"waste_port": WASTE, "rinse_port": RINSE} | overrides
        made[stock.name] = DosingChannel(
            SyringePump(resource, poll_interval=0.001),
            stock,
            lab.INPUT_PORT,
            lab.OUTPUT_PORT,
            **fields,
        )
    return made


@pytest.fixture
def balance(lab, connect) -> MettlerToledoBalance:
    return MettlerToledoBalance(connect(lab.balance_resource, MettlerToledoBalance.TERMINATIONS))


@pytest.fixture
def station(lab, connect, stocks, balance) -> DosingStation:
    station = DosingStation(balance, channels(lab, connect, stocks[:2]), reserve=5.0)
    station.initialize()
    return station


def traffic(station: DosingStation) -> str:
    texts = [c.pump.resource.take().text for c in station.channels.values()]
    return "".join(texts) + station.balance.resource.take().text


def test_prime_pushes_stock_to_waste_and_books_it(lab, station) -> None:
    traffic(station)
    station.prime("EC", cycles=2)  # 2 x 1 mL of EC through the valve to waste
    assert lab.bench.bottle_mass("EC") == pytest.approx(500.0 - 2 * 1.32, abs=0.02)
    assert lab.bench.vial_contents() == {}
    # Booked per stroke as increments × step volume × density: exact but for rounding.
    assert station.remaining["EC"] == pytest.approx(500.0 - 2 * 1.32, rel=1e-12, abs=0.0)
    sent = traffic(station)
    assert sent.count("> /1P600R") == 2 and sent.count(f"> /1I{WASTE}R") == 2


def test_rinse_then_dosing_waits_for_a_prime(lab, station) -> None:
    station.rinse("EMC", 0.5, cycles=3)
    assert lab.bench.bottle_mass("EMC") == 500.0  # rinse solvent only: the bottle untouched
    assert traffic(station).count(f"> /1I{RINSE}R") == 3
    with pytest.raises(LimitViolation, match="prime"):
        station.dose({"EMC": 0.5})
    assert traffic(station) == ""
    station.prime("EMC")
    assert station.dose({"EMC": 0.5})["EMC"] == pytest.approx(0.5, abs=0.002)


def test_stock_too_low_is_refused_before_anything_moves(lab, connect, stocks, balance) -> None:
    low = DosingStation(
        balance, channels(lab, connect, stocks[:1]), reserve=5.0, taken={"EC": 489.0}
    )
    # 500 g less the 489 g taken: one subtraction, only its rounding.
    assert low.remaining["EC"] == pytest.approx(11.0, rel=1e-12, abs=0.0)
    for refused in (lambda: low.dose({"EC": 6.5}), lambda: low.prime("EC", 5.0)):
        with pytest.raises(LimitViolation, match="5.0 g reserve"):
            refused()
    assert traffic(low) == ""
    low.initialize()
    weighed = low.dose({"EC": 4.5})["EC"]
    assert low.remaining["EC"] == pytest.approx(11.0 - weighed, rel=1e-12, abs=0.0)  # booked
    with pytest.raises(LimitViolation, match="left in the bottle"):
        low.dose({"EC": 2.0})
    low.refill("EC", 100.0)
    low.dose({"EC": 2.0})
    with pytest.raises(LimitViolation):
        low.refill("EC", -1.0)


def test_operations_need_their_ports(lab, connect, stocks, balance) -> None:
    bare = DosingStation(
        balance, channels(lab, connect, stocks[:1], waste_port=None, rinse_port=None)
    )
    with pytest.raises(LimitViolation, match="no waste_port"):
        bare.prime("EC")
    with pytest.raises(LimitViolation, match="no waste_port"):
        bare.rinse("EC")
    with pytest.raises(LimitViolation, match="unknown stock"):
        bare.prime("NMP")
    for volume, cycles in ((0.0, 1), (float("nan"), 1), (1.0, 0)):
        with pytest.raises(LimitViolation):
            DosingStation(balance, channels(lab, connect, stocks[:1])).prime(
                "EC", volume, cycles=cycles
            )
    assert traffic(bare) == ""


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"waste_port": 1}, "distinct"),
        ({"rinse_port": 7}, "allowed: 1..6"),
        ({"prime_volume": 0.0}, "prime_volume"),
    ],
)
def test_channels_are_checked(lab, connect, stocks, balance, overrides, match) -> None:
    with pytest.raises(LimitViolation, match=match):
        DosingStation(balance, channels(lab, connect, stocks[:1], **overrides))


def test_tolerance_finer_than_half_an_increment_is_refused(lab, connect, stocks, balance) -> None:
    with pytest.raises(LimitViolation, match="half an increment"):
        DosingStation(balance, channels(lab, connect, stocks[3:]), tolerance=0.001)
    for kwargs in ({"first_pass": 0.0}, {"max_top_ups": -1}, {"reserve": -1.0}, {"tolerance": 0}):
        with pytest.raises(LimitViolation):
            DosingStation(balance, channels(lab, connect, stocks[:1]), **kwargs)


def test_a_recorded_dose_replays_to_the_same_masses(lab, connect, stocks, balance) -> None:
    def session(station: DosingStation) -> tuple[dict[str, float], dict[str, float]]:
        station.initialize()
        weighed = station.dose({"EC": 1.2, "EMC": 0.8})
        return weighed, station.calibration

    live_station = DosingStation(balance, channels(lab, connect, stocks[:2]))
    live = session(live_station)
    replays = {
        name: ReplayResource(channel.pump.resource.take())
        for name, channel in live_station.channels.items()
    }
    replayed = DosingStation(
        MettlerToledoBalance(ReplayResource(balance.resource.take())),
        {
            name: DosingChannel(
                SyringePump(replays[name], poll_interval=0.0),
                channel.stock,
                channel.input_port,
                channel.output_port,
            )
            for name, channel in live_station.channels.items()
        },
    )
    # Calibrations are computed (weighed / pumped) on the way: the same arithmetic twice.
    assert_close(session(replayed), live, **SAME_COMPUTATION)
    assert all(replay.remaining == 0 for replay in replays.values())
