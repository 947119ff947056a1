"""Fixtures for instrument tests: stocks, pyvisa-sim dialogues and the loopback lab."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pyvisa

from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.lab import SimulatedLab
from electroloop.instruments.transport import RecordingResource, open_resource
from electroloop.models import Stock
from electroloop.simulations.conductivity import conductivity

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pyvisa_sim"

POSITION = {"rel": 1e-12, "abs": 1e-12}
"""Plunger positions (mL) are read-back increments times the step volume: exact but for the
rounding of that product, far below one increment (1/600 mL)."""


@pytest.fixture
def stocks() -> list[Stock]:
    """LiPF6 in EC/EMC/DMC: three pure solvents and a concentrated salt stock in EMC."""
    return [
        Stock(
            name="EC", solvent="EC", solvent_smiles="C1COC(=O)O1", density=1.32, initial_mass=500.0
        ),
        Stock(
            name="EMC", solvent="EMC", solvent_smiles="CCOC(=O)OC", density=1.01, initial_mass=500.0
        ),
        Stock(
            name="DMC", solvent="DMC", solvent_smiles="COC(=O)OC", density=1.07, initial_mass=500.0
        ),
        Stock(
            name="LiPF6-EC",
            solvent="EC",
            solvent_smiles="C1COC(=O)O1",
            salt="LiPF6",
            salt_smiles="[Li+].F[P-](F)(F)(F)(F)F",
            salt_molality=2.5,
            density=1.45,
            initial_mass=500.0,
        ),
    ]


@pytest.fixture
def lab(stocks: list[Stock]) -> Iterator[SimulatedLab]:
    """The loopback lab on a 1000x clock (a full pump stroke at V1400 takes 4.3 ms)."""
    with SimulatedLab(
        stocks, temperature=25.0, conductivity_model=conductivity, seed=7, clock=SimClock(1000.0)
    ) as lab:
        yield lab


@pytest.fixture
def connect() -> Iterator[Callable[..., RecordingResource]]:
    """Open a loopback resource through pyvisa-py, recorded; closed at teardown."""
    opened: list[RecordingResource] = []

    def _connect(
        name: str,
        terminations: dict[str, str],
        *,
        timeout: float = 1.0,
        instrument: str = "instrument",
    ) -> RecordingResource:
        resource = RecordingResource(
            open_resource(name, timeout=timeout, **terminations), instrument
        )
        opened.append(resource)
        return resource

    yield _connect
    for resource in opened:
        resource.close()


@pytest.fixture
def dialogue() -> Iterator[Callable[..., RecordingResource]]:
    """Open a resource of a pyvisa-sim YAML in tests/fixtures/pyvisa_sim, recorded."""
    managers: dict[str, pyvisa.ResourceManager] = {}
    opened: list[Any] = []

    def _open(
        yaml: str, name: str, terminations: dict[str, str], *, timeout: float = 0.1
    ) -> RecordingResource:
        if yaml not in managers:
            managers[yaml] = pyvisa.ResourceManager(f"{FIXTURES / yaml}@sim")
        resource = managers[yaml].open_resource(name, timeout=round(timeout * 1000), **terminations)
        opened.append(resource)
        return RecordingResource(resource, yaml)

    yield _open
    for resource in opened:
        resource.close()
    for manager in managers.values():
        manager.close()
