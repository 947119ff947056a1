"""Rack slots of a shared bench, handed out lab-wide: a vial keeps its slot, the lowest free slot
goes next, benches count apart, and a full rack is refused by name. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from electroloop.errors import ConfigError
from electroloop.orchestrator.rack import SharedRack, own_rack
from electroloop.samples import rack_slot, vial_id


def test_a_vial_keeps_its_slot_and_the_next_vial_takes_the_lowest_free_one(
    store_target: str | Path,
) -> None:
    rack = SharedRack(store_target, "TCPIP::10.0.0.21::4001::SOCKET", slots=3)
    other = SharedRack(store_target, "TCPIP::10.0.0.22::4001::SOCKET", slots=3)
    try:
        a1, b1 = vial_id("a", 1), vial_id("b", 1)
        assert rack(a1, "a") == rack_slot(1) and rack(b1, "b") == rack_slot(2)
        assert rack(a1, "a") == rack_slot(1)  # asked again (a resumed run): the same slot
        assert other(vial_id("c", 1), "c") == rack_slot(1)  # another bench counts apart
        rack.clear([a1])  # a person took the first vial out
        assert rack(vial_id("a", 2), "a") == rack_slot(1)
        assert rack(vial_id("b", 2), "b") == rack_slot(3)
        with pytest.raises(ConfigError, match=r"all 3 slots hold samples; empty the rack"):
            rack(vial_id("a", 3), "a")
        assert rack.taken() == {
            vial_id("a", 2): rack_slot(1),
            b1: rack_slot(2),
            vial_id("b", 2): rack_slot(3),
        }
        rack.clear()
        assert rack.taken() == {} and len(other.taken()) == 1
    finally:
        rack.close()
        other.close()


def test_campaigns_asking_at_once_never_get_the_same_slot(store_target: str | Path) -> None:
    got: dict[str, str] = {}

    def campaign(name: str) -> None:
        rack = SharedRack(store_target, "bench", slots=24)
        try:
            for n in range(1, 7):
                vial = vial_id(name, n)
                got[vial] = rack(vial, name)
        finally:
            rack.close()

    threads = [threading.Thread(target=campaign, args=(f"c{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(got.values()) == sorted(rack_slot(n) for n in range(1, 25))


def test_a_bench_to_itself_stands_vial_n_in_slot_n() -> None:
    assert own_rack(vial_id("c", 25), "c") == rack_slot(25) == "rack-2:A1"
