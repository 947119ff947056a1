"""The bench as PyLabRobot resources: vial racks, the balance, the meter cell, standards, waste.

PyLabRobot (MIT, `pylabrobot.resources`) models a deck as a tree of resources: here a `Deck`
holds `TubeRack`s of 4 × 6 `ResourceHolder` slots (the common rack for 20 mL scintillation
vials; `electroloop.samples` names the slots ``rack-<n>:<row><column>``), the balance as a
`pylabrobot.scales.Scale` whose backend is our MT-SICS driver (`MTSICSScale`), a holder for the
conductivity meter's cell, one for the check standard, and a `Trash` for waste. Every vial is
a `Tube` named by its label, so the tree always says which vial stands where.

A move is checked against this tree before the arm moves (`check_move`): a source where the
deck has another vial raises `WrongVial`, a target that holds another vial raises
`SlotOccupied`, each naming the place and the vial in it. Waste takes any number of vials. A
vial the arm has picked and not yet set down stands in the `GRIPPER` holder (`hold`), so a
place that failed leaves the tree true: the vial is in the gripper, not at its source.

Vial size: the common 20 mL borosilicate scintillation vial, 28 mm outer diameter × 61 mm high
(e.g. DWK WHEATON and Fisherbrand 20 mL scintillation vials); rack pitch 35 mm (assumption:
28 mm vials with room for the gripper's fingers).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from typing import Any

from pylabrobot.resources import (
    Coordinate,
    Deck,
    Resource,
    ResourceHolder,
    Trash,
    Tube,
    TubeRack,
    create_ordered_items_2d,
)
from pylabrobot.scales import Scale, ScaleBackend

from electroloop.errors import ConfigError, LimitViolation
from electroloop.instruments.balance import MettlerToledoBalance
from electroloop.samples import BALANCE, METER, RACK_COLUMNS, RACK_ROWS, WASTE

__all__ = [
    "GRIPPER",
    "STANDARDS",
    "VIAL_DIAMETER",
    "VIAL_HEIGHT",
    "BenchDeck",
    "MTSICSScale",
    "SlotOccupied",
    "UnknownPlace",
    "WrongVial",
    "parse_slot",
    "slot_number",
]

VIAL_DIAMETER = 28.0
"""mm, outer diameter of a 20 mL scintillation vial (see the module docstring)."""
VIAL_HEIGHT = 61.0
"""mm, height of a 20 mL scintillation vial."""
VIAL_VOLUME = 20_000.0
"""µL, a 20 mL vial (PyLabRobot containers count µL)."""
PITCH = 35.0
"""mm between slot centres in a rack (assumption)."""
STANDARDS = "standards"
"""The check standard's holder (the same word as `kinds.electrolyte.check_standard.STANDARDS`,
which this layer may not import)."""

GRIPPER = "arm gripper"
"""Where a vial the arm holds stands (not a place a move may name; `BenchDeck.hold`)."""

_SLOT = re.compile(r"rack-([1-9][0-9]*):([A-Z])([1-9][0-9]*)")


class SlotOccupied(LimitViolation):
    """The target of a move already holds a vial; nothing has moved."""

    def __init__(self, place: str, occupant: str, vial: str) -> None:
        super().__init__(
            f"{place} holds vial {occupant}; vial {vial} cannot be put there (allowed: a free "
            "place, or waste)"
        )
        self.place = place
        self.occupant = occupant
        self.vial = vial


class WrongVial(LimitViolation):
    """The deck has another vial at a move's source: the arm would pick that one; nothing has
    moved."""

    def __init__(self, place: str, occupant: str, vial: str) -> None:
        super().__init__(
            f"{place} holds vial {occupant}, not vial {vial}; allowed source: where the deck "
            f"has vial {vial}, or a place it has no vial at"
        )
        self.place = place
        self.occupant = occupant
        self.vial = vial


class UnknownPlace(ConfigError):
    """A place the deck has no holder for."""


def parse_slot(place: str) -> tuple[int, str] | None:
    """``rack-<n>:<row><column>`` -> (n, "<row><column>"); None for any other place."""
    match = _SLOT.fullmatch(place)
    if match is None:
        return None
    rack, row, column = int(match[1]), match[2], int(match[3])
    if row not in RACK_ROWS or column > RACK_COLUMNS:
        return None
    return rack, f"{row}{column}"


def slot_number(place: str) -> int | None:
    """Which vial of a campaign stands in rack slot `place` (the inverse of
    `electroloop.samples.rack_slot`); None if `place` is not a rack slot."""
    parsed = parse_slot(place)
    if parsed is None:
        return None
    rack, key = parsed
    row, column = RACK_ROWS.index(key[0]), int(key[1:])
    return (rack - 1) * len(RACK_ROWS) * RACK_COLUMNS + row * RACK_COLUMNS + column


class MTSICSScale(ScaleBackend):
    """PyLabRobot's `ScaleBackend` over our MT-SICS driver (`MettlerToledoBalance`).

    The driver is synchronous (pyvisa); each call runs in a worker thread so the event loop
    that awaits it stays free. The driver's resource belongs to whoever made it: `stop` leaves
    it open.
    """

    def __init__(self, balance: MettlerToledoBalance) -> None:
        super().__init__()
        self.balance = balance

    async def setup(self) -> None:
        """Ask the balance who it is: a balance that does not answer fails here."""
        await asyncio.to_thread(self.balance.serial_number)

    async def stop(self) -> None:
        return None

    async def zero(self) -> None:
        """``Z``: a new zero point at the present stable load."""
        await asyncio.to_thread(self.balance.zero)

    async def tare(self) -> None:
        """``T``: store the present load as tare."""
        await asyncio.to_thread(self.balance.tare)

    async def read_weight(self, timeout: Any = "stable") -> float:
        """Net weight in grams: ``S`` (stable, the default) or ``SI`` (``timeout=0``)."""
        return await asyncio.to_thread(self.balance.weight, timeout != 0)

    def serialize(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "capacity": self.balance.capacity}


def _rack(number: int) -> TubeRack:
    holders = create_ordered_items_2d(
        ResourceHolder,
        num_items_x=RACK_COLUMNS,
        num_items_y=len(RACK_ROWS),
        dx=5.0,
        dy=5.0,
        dz=5.0,
        item_dx=PITCH,
        item_dy=PITCH,
        size_x=VIAL_DIAMETER,
        size_y=VIAL_DIAMETER,
        size_z=VIAL_HEIGHT,
    )
    return TubeRack(
        name=f"rack-{number}",
        size_x=RACK_COLUMNS * PITCH + 10.0,
        size_y=len(RACK_ROWS) * PITCH + 10.0,
        size_z=40.0,
        ordered_items=holders,
    )


class BenchDeck:
    """The bench's resource tree and which vial stands where.

    `racks` racks of 24 slots, the balance (`scale`, its pan a holder named ``balance``), the
    meter cell, the standards holder and waste.
    """

    def __init__(self, scale_backend: ScaleBackend, racks: int = 1) -> None:
        if racks < 1:
            raise ConfigError(f"racks is {racks}; allowed: >= 1")
        self.deck = Deck(size_x=1200.0, size_y=800.0, size_z=10.0, name="deck")
        self.racks = [_rack(n) for n in range(1, racks + 1)]
        for index, rack in enumerate(self.racks):
            self.deck.assign_child_resource(rack, location=Coordinate(20.0 + 260.0 * index, 20, 0))
        self.scale = Scale(
            name="mt-sics balance", size_x=200.0, size_y=300.0, size_z=100.0, backend=scale_backend
        )
        self.deck.assign_child_resource(self.scale, location=Coordinate(20.0, 300.0, 0.0))
        self.pan = _holder(BALANCE)
        self.scale.assign_child_resource(self.pan, location=Coordinate(86.0, 136.0, 100.0))
        self.meter = _holder(METER)
        self.deck.assign_child_resource(self.meter, location=Coordinate(300.0, 300.0, 0.0))
        self.standards = _holder(STANDARDS)
        self.deck.assign_child_resource(self.standards, location=Coordinate(360.0, 300.0, 0.0))
        self.waste = Trash(name=WASTE, size_x=100.0, size_y=100.0, size_z=150.0)
        self.deck.assign_child_resource(self.waste, location=Coordinate(500.0, 300.0, 0.0))
        self.gripper = _holder(GRIPPER)
        self.deck.assign_child_resource(self.gripper, location=Coordinate(700.0, 300.0, 0.0))
        self._holders: dict[str, Resource] = {
            f"rack-{n}:{key}": rack.get_item(key)
            for n, rack in enumerate(self.racks, start=1)
            for key in (
                f"{row}{column}" for row in RACK_ROWS for column in range(1, RACK_COLUMNS + 1)
            )
        }
        self._holders |= {
            BALANCE: self.pan,
            METER: self.meter,
            STANDARDS: self.standards,
            WASTE: self.waste,
        }
        self._place_of_holder = {holder.name: place for place, holder in self._holders.items()}
        self._place_of_holder[GRIPPER] = GRIPPER

    @classmethod
    def for_places(cls, scale_backend: ScaleBackend, places: Iterable[str]) -> BenchDeck:
        """A deck with as many racks as the highest rack any of `places` names (at least 1)."""
        racks = [parsed[0] for place in places if (parsed := parse_slot(place))]
        return cls(scale_backend, racks=max(racks, default=1))

    # -- places --------------------------------------------------------------------------

    def places(self) -> list[str]:
        """Every place a vial can stand, in the words of `electroloop.samples`."""
        return list(self._holders)

    def holder(self, place: str) -> Resource:
        """The resource vials stand in at `place`; `UnknownPlace` if the deck has none."""
        if place in self._holders:
            return self._holders[place]
        raise UnknownPlace(
            f"no place {place!r} on the deck; allowed: rack-1:A1 … rack-{len(self.racks)}:"
            f"{RACK_ROWS[-1]}{RACK_COLUMNS}, {BALANCE}, {METER}, {STANDARDS}, {WASTE}"
        )

    def vial_at(self, place: str) -> str | None:
        """The label of the vial standing at `place` (None: free; waste is always free)."""
        holder = self.holder(place)
        if holder is self.waste or not holder.children:
            return None
        return holder.children[0].name

    def place_of(self, vial: str) -> str | None:
        """Where the deck has `vial` (`GRIPPER` while the arm holds it; None: it has never
        seen it)."""
        if not self.deck.has_resource(vial):
            return None
        parent = self.deck.get_resource(vial).parent
        assert parent is not None
        return self._place_of_holder[parent.name]

    # -- moves ---------------------------------------------------------------------------

    def check_move(self, vial: str, source: str, target: str) -> None:
        """Raise before anything moves: `UnknownPlace` for a place the deck lacks, `WrongVial`
        if the deck has another vial at `source` (the arm would pick that one), `SlotOccupied`
        if `target` holds another vial. A `source` the deck has no vial at passes: the deck
        may not know a vial a person stood there."""
        at_source = self.vial_at(source)
        if at_source is not None and at_source != vial:
            raise WrongVial(source, at_source, vial)
        occupant = self.vial_at(target)
        if occupant is not None and occupant != vial:
            raise SlotOccupied(target, occupant, vial)

    def move(self, vial: str, source: str, target: str) -> None:
        """Record `vial` at `target` (a vial new to the deck came from `source`)."""
        self.check_move(vial, source, target)
        self.put(vial, target)

    def put(self, vial: str, place: str) -> None:
        """Record `vial` standing at `place`, taken from wherever the deck had it."""
        self._assign(vial, self.holder(place))

    def _assign(self, vial: str, holder: Resource) -> None:
        if self.deck.has_resource(vial):
            tube = self.deck.get_resource(vial)
            assert tube.parent is not None
            tube.parent.unassign_child_resource(tube)
        else:
            tube = Tube(
                name=vial,
                size_x=VIAL_DIAMETER,
                size_y=VIAL_DIAMETER,
                size_z=VIAL_HEIGHT,
                max_volume=VIAL_VOLUME,
            )
        location = Coordinate(0.0, 0.0, 0.0) if holder is self.waste else None
        holder.assign_child_resource(tube, location=location)

    def hold(self, vial: str) -> None:
        """Record `vial` in the arm's gripper: picked, not set down yet."""
        self._assign(vial, self.gripper)

    def remove(self, vial: str) -> None:
        """Forget `vial` (it is gone: spilt, broken)."""
        if self.deck.has_resource(vial):
            tube = self.deck.get_resource(vial)
            assert tube.parent is not None
            tube.parent.unassign_child_resource(tube)


def _holder(name: str) -> ResourceHolder:
    return ResourceHolder(name=name, size_x=VIAL_DIAMETER, size_y=VIAL_DIAMETER, size_z=VIAL_HEIGHT)
