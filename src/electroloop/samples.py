"""Physical samples: every vial has a barcode-like id, a place, and a history of moves.

A vial starts in a rack slot, goes to the balance to be dosed, to the meter cell to be measured,
and back to its slot (kept for later work, e.g. filling cells); a vial whose dosing was cut off
goes to waste. The places are the words below; a rack slot is ``rack-<n>:<row><column>``,
racks of 24 (4 × 6, the common rack for 20 mL scintillation vials) filled in order.

Who moves a vial is a `SampleHandler` (`electroloop.protocols`): the simulated bench, a
technician confirming a manual step, a robot. The moves themselves are facts in the campaign's
event log (`orchestrator.events.VialMoved`), so a vial's history survives any crash.
"""

from __future__ import annotations

import zlib

__all__ = ["BALANCE", "METER", "RACK_COLUMNS", "RACK_ROWS", "WASTE", "rack_slot", "vial_id"]

BALANCE = "balance"
"""On the balance pan, under the dosing needles."""
METER = "meter"
"""In the conductivity meter's cell (or with its probe dipped in)."""
WASTE = "waste"
"""Discarded (a half-dosed vial)."""
RACK_ROWS = "ABCD"
RACK_COLUMNS = 6


def rack_slot(number: int) -> str:
    """Where the `number`-th vial of a campaign (from 1) stands before and after its trial."""
    if number < 1:
        raise ValueError(f"vial number must be >= 1, got {number}")
    index = number - 1
    rack, place = divmod(index, len(RACK_ROWS) * RACK_COLUMNS)
    row, column = divmod(place, RACK_COLUMNS)
    return f"rack-{rack + 1}:{RACK_ROWS[row]}{column + 1}"


def vial_id(campaign_id: str, number: int) -> str:
    """The `number`-th vial's label: ``EL-<6 hex digits of the campaign>-<4 digits>``.

    Short enough for a Code 128 barcode label, unique across campaigns in practice (a CRC-32
    of the campaign id) and within one by its number.
    """
    if number < 1:
        raise ValueError(f"vial number must be >= 1, got {number}")
    tag = zlib.crc32(campaign_id.encode()) & 0xFFFFFF
    return f"EL-{tag:06X}-{number:04d}"
