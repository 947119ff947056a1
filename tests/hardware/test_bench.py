"""Commissioning checks of a real bench: the same drivers a campaign uses, nothing moved.

Run against a lab file (`docs/commissioning.md`):

    .venv/bin/pytest -m hardware --lab lab.toml tests/hardware

Without `--lab` every test here is skipped; `make test` deselects them (`-m "not hardware"`)
and runs them once against the embedded simulated lab (tests/integration/test_hardware_suite.py)
so they stay true to the drivers.
"""

from __future__ import annotations

import math
from functools import partial

import pytest

from electroloop.instruments.balance import MettlerToledoBalance
from electroloop.instruments.transport import ReconnectingResource, open_resource
from electroloop.settings import LabFile
from electroloop.workflows.lab_tools import Endpoint, check, describe

pytestmark = pytest.mark.hardware

REPEATABILITY = 0.002
"""g: three unloaded readings of an analytical balance in a quiet room agree this well
(Mettler-Toledo's XPR/XSR data sheets give 0.1 mg or better; 2 mg allows a draughty bench)."""


def test_every_instrument_answers_with_its_identity(lab: LabFile, bench: list[Endpoint]) -> None:
    results = check(lab, bench)
    assert all(r.error is None for r in results), describe(results)
    assert all(r.identity.strip() for r in results), describe(results)


def test_the_balance_reads_steadily_within_its_capacity(
    lab: LabFile, bench: list[Endpoint]
) -> None:
    (endpoint,) = [e for e in bench if e.role == "balance"]
    opener = partial(
        open_resource,
        endpoint.address,
        timeout=lab.balance.timeout,
        **MettlerToledoBalance.TERMINATIONS,
    )
    resource = ReconnectingResource(opener)
    try:
        capacity = lab.balance.limits.get("capacity", 220.0)
        balance = MettlerToledoBalance(resource, capacity)
        readings = [balance.reading(stable=True).grams for _ in range(3)]
    finally:
        resource.close()
    assert all(math.isfinite(g) and -0.01 <= g <= capacity for g in readings), readings
    assert max(readings) - min(readings) <= REPEATABILITY, readings


def test_the_lab_file_sample_fits_the_balance(lab: LabFile) -> None:
    capacity = lab.balance.limits.get("capacity", 220.0)
    vial = 25.0  # g: an empty 20 mL scintillation vial with its cap (typical borosilicate)
    assert lab.sample_mass + vial < capacity, (
        f"sample_mass {lab.sample_mass} g in a {vial} g vial exceeds the balance's {capacity} g"
    )
