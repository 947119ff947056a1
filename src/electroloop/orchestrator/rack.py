"""Rack slots of a bench that several campaigns share, handed out lab-wide.

A campaign's n-th vial stands in rack slot n when the campaign has the bench to itself (the
simulators a dry run starts in its own process). Campaigns that share one bench (instruments
reached by address, `electroloop sim up` or hardware) would all pick slot 1 first, and the
second campaign would dose into the first one's measured sample. So a shared bench's slots are
rows in the campaigns database (`rack_slots`, beside the event log and the leases; every
process of the lab sees them): a vial gets the lowest slot nobody took, in one write
transaction, and keeps it for good (a measured sample stays in its slot).

Asking again for a vial's slot returns the same slot, so a run that crashed between taking a
slot and moving the vial, and is resumed, fetches the same vial from the same place.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from pathlib import Path

from electroloop.errors import ConfigError
from electroloop.orchestrator.database import Database, Dialect, open_database
from electroloop.samples import rack_slot

_TABLE = """
CREATE TABLE IF NOT EXISTS rack_slots (
    bench        TEXT NOT NULL,
    number       INTEGER NOT NULL,
    vial         TEXT NOT NULL,
    campaign_id  TEXT NOT NULL,
    taken_at     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (bench, number),
    UNIQUE (bench, vial)
);
"""
SCHEMAS: dict[Dialect, str] = {"sqlite": _TABLE, "postgresql": _TABLE}

RackSlots = Callable[[str, str], str]
"""(vial label, campaign id) -> the rack slot the vial stands in before and after its trial."""


def own_rack(vial: str, campaign_id: str) -> str:
    """A bench a campaign has to itself: its n-th vial (the label's last field) in slot n."""
    return rack_slot(int(vial.rsplit("-", 1)[1]))


class SharedRack:
    """The slots of one shared bench, `bench` (its balance's address names it), taken in the
    campaigns database at `target`. `slots`: how many the bench has (the arm's taught rack
    places, or the racks a technician fills)."""

    def __init__(self, target: str | Path, bench: str, slots: int) -> None:
        if slots < 1:
            raise ConfigError(f"a shared rack needs at least one slot, got {slots}")
        self.bench = bench
        self.slots = slots
        self._db: Database = open_database(target, SCHEMAS)

    def __call__(self, vial: str, campaign_id: str) -> str:
        """The vial's slot: the one it was given, else the lowest free one (`ConfigError` once
        every slot is taken: the rack must be emptied first)."""
        with self._db.transaction() as db:
            row = db.fetchone(
                "SELECT number FROM rack_slots WHERE bench = ? AND vial = ?", (self.bench, vial)
            )
            if row is not None:
                return rack_slot(int(row[0]))
            taken = {
                int(n)
                for (n,) in db.fetchall(
                    "SELECT number FROM rack_slots WHERE bench = ?", (self.bench,)
                )
            }
            number = next((n for n in range(1, self.slots + 1) if n not in taken), None)
            if number is None:
                raise ConfigError(
                    f"rack of bench {self.bench}: all {self.slots} slots hold samples; empty the "
                    "rack and clear its slots (`SharedRack.clear`) before more vials are dosed"
                )
            db.execute(
                "INSERT INTO rack_slots (bench, number, vial, campaign_id, taken_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (self.bench, number, vial, campaign_id, time.time()),
            )
            return rack_slot(number)

    def taken(self) -> dict[str, str]:
        """Vial label -> slot, for every vial standing in this bench's rack."""
        rows = self._db.fetchall(
            "SELECT vial, number FROM rack_slots WHERE bench = ? ORDER BY number", (self.bench,)
        )
        return {vial: rack_slot(int(number)) for vial, number in rows}

    def clear(self, vials: Collection[str] | None = None) -> None:
        """A person emptied the rack (or took out `vials`): their slots are free again."""
        with self._db.transaction() as db:
            if vials is None:
                db.execute("DELETE FROM rack_slots WHERE bench = ?", (self.bench,))
            for vial in vials or ():
                db.execute(
                    "DELETE FROM rack_slots WHERE bench = ? AND vial = ?", (self.bench, vial)
                )

    def close(self) -> None:
        self._db.close()
