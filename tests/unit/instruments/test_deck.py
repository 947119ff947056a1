"""The bench as PyLabRobot resources: rack slots named as `electroloop.samples` names them, the
balance as a PyLabRobot `Scale` over the MT-SICS simulator, and occupancy checked before a move."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from pylabrobot.resources import TubeRack
from pylabrobot.scales import Scale
from pylabrobot.scales.chatterbox import ScaleChatterboxBackend

from electroloop.errors import ConfigError, LimitViolation
from electroloop.instruments.balance import MettlerToledoBalance
from electroloop.instruments.deck import (
    GRIPPER,
    BenchDeck,
    MTSICSScale,
    SlotOccupied,
    UnknownPlace,
    WrongVial,
    parse_slot,
    slot_number,
)
from electroloop.instruments.sim.balance import BalanceServer
from electroloop.instruments.sim.bench import SimulatedBench
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.transport import open_resource
from electroloop.samples import BALANCE, METER, WASTE, rack_slot
from electroloop.simulations.conductivity import conductivity


@pytest.fixture
def deck() -> BenchDeck:
    return BenchDeck(ScaleChatterboxBackend(), racks=2)


def test_every_rack_slot_is_a_resource_named_as_the_campaign_names_it(deck: BenchDeck) -> None:
    slots = [rack_slot(n) for n in range(1, 49)]
    assert deck.places() == [*slots, BALANCE, METER, "standards", WASTE]
    assert all(isinstance(rack, TubeRack) for rack in deck.racks)
    assert [slot_number(slot) for slot in slots] == list(range(1, 49))
    assert parse_slot("rack-2:D6") == (2, "D6")
    assert parse_slot("rack-1:E1") is None and parse_slot("rack-1:A7") is None
    assert slot_number(METER) is None
    with pytest.raises(UnknownPlace, match="rack-3:A1"):
        deck.holder("rack-3:A1")
    with pytest.raises(ConfigError, match="racks is 0"):
        BenchDeck(ScaleChatterboxBackend(), racks=0)


def test_a_vial_is_a_tube_that_moves_between_holders(deck: BenchDeck) -> None:
    deck.move("V1", rack_slot(1), BALANCE)
    assert deck.vial_at(BALANCE) == "V1" and deck.place_of("V1") == BALANCE
    assert deck.vial_at(rack_slot(1)) is None
    assert deck.pan.parent is deck.scale  # the pan sits on the PyLabRobot Scale
    deck.move("V1", BALANCE, METER)
    deck.move("V1", METER, rack_slot(1))
    assert deck.place_of("V1") == rack_slot(1) and deck.vial_at(METER) is None
    assert deck.place_of("never-seen") is None


def test_a_full_slot_is_refused_naming_it_and_its_vial_before_anything_changes(
    deck: BenchDeck,
) -> None:
    deck.move("V1", rack_slot(1), BALANCE)
    with pytest.raises(SlotOccupied, match="balance holds vial V1; vial V2") as caught:
        deck.move("V2", rack_slot(2), BALANCE)
    assert isinstance(caught.value, LimitViolation)
    assert (caught.value.place, caught.value.occupant) == (BALANCE, "V1")
    assert deck.place_of("V2") is None and deck.vial_at(BALANCE) == "V1"


def test_another_vial_at_the_source_is_refused_naming_it_before_anything_changes(
    deck: BenchDeck,
) -> None:
    deck.move("V1", rack_slot(1), BALANCE)
    with pytest.raises(WrongVial, match="balance holds vial V1, not vial V2") as caught:
        deck.check_move("V2", BALANCE, METER)
    assert isinstance(caught.value, LimitViolation)
    assert (caught.value.place, caught.value.occupant, caught.value.vial) == (BALANCE, "V1", "V2")
    assert deck.place_of("V1") == BALANCE and deck.place_of("V2") is None
    deck.check_move("V1", BALANCE, METER)  # the vial that stands there: passes
    deck.check_move("V3", rack_slot(3), METER)  # a place the deck has no vial at: passes


def test_a_held_vial_stands_in_the_gripper_not_at_a_place(deck: BenchDeck) -> None:
    deck.move("V1", rack_slot(1), BALANCE)
    deck.hold("V1")
    assert deck.place_of("V1") == GRIPPER and deck.vial_at(BALANCE) is None
    assert GRIPPER not in deck.places()
    with pytest.raises(UnknownPlace):
        deck.check_move("V1", GRIPPER, METER)  # a move names places, never the gripper
    deck.put("V1", METER)
    assert deck.place_of("V1") == METER


def test_waste_takes_any_number_of_vials(deck: BenchDeck) -> None:
    for n in (1, 2, 3):
        deck.move(f"V{n}", rack_slot(n), WASTE)
    assert [deck.place_of(f"V{n}") for n in (1, 2, 3)] == [WASTE] * 3
    assert deck.vial_at(WASTE) is None
    deck.remove("V2")
    assert deck.place_of("V2") is None


@pytest.fixture
def mt_sics_scale(stocks) -> Iterator[tuple[Scale, SimulatedBench]]:
    """A PyLabRobot Scale whose backend is our driver, talking to the MT-SICS simulator."""
    bench = SimulatedBench(stocks, 25.0, conductivity, seed=5)
    clock = SimClock(1000.0)
    with BalanceServer(bench, clock=clock, settle_time=0.0) as server:
        resource = open_resource(
            server.resource_name, timeout=2.0, **MettlerToledoBalance.TERMINATIONS
        )
        deck = BenchDeck(MTSICSScale(MettlerToledoBalance(resource)))
        yield deck.scale, bench
        resource.close()
    clock.stop()


def test_the_balance_is_a_pylabrobot_scale_over_the_mt_sics_driver(mt_sics_scale) -> None:
    scale, bench = mt_sics_scale

    async def weigh() -> tuple[float, float, float]:
        await scale.setup()
        await scale.zero()
        zeroed = await scale.read_weight()
        bench.deliver("EC", 1.0)  # 1 mL of EC, 1.32 g
        loaded = await scale.read_weight()
        await scale.tare()
        tared = await scale.read_weight(timeout=0)
        await scale.stop()
        return zeroed, loaded, tared

    zeroed, loaded, tared = asyncio.run(weigh())
    # The simulated balance reads to 0.1 mg with 0.1 mg noise: 1 mg covers both.
    assert zeroed == pytest.approx(0.0, abs=1e-3)
    assert loaded == pytest.approx(1.32, abs=1e-3)
    assert tared == pytest.approx(0.0, abs=1e-3)
