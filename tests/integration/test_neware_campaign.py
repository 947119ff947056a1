"""A short cycling campaign on the simulated Neware BTS (its own process, reached through
aurora-neware's client) against the same campaign on the SCPI cycler: the planner is told the
same observations of the same candidates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from electroloop.instruments.neware import NewareCycler
from electroloop.kinds.cycling.loop import CyclingLoop
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign
from electroloop.orchestrator.leases import LeaseBook
from electroloop.settings import Settings, default_lab_text
from electroloop.workflows.build import assemble
from electroloop.workflows.cycler_service import cycler_process, stop_cycler
from electroloop.workflows.cycling_build import SimulatedNewareCellLine
from tests.unit.kinds.cycling.simulated_cell import small_campaign

SCPI = 'driver = "electroloop-cycler"'
SAME_PHYSICS = {"rel": 1e-3, "abs": 1e-6}
"""Both simulators run one cell engine with the same seeded noise, integrated lazily up to the
moment each command arrives: sub-steps, hence the last digits, follow the wall clock."""


def campaign(folder: Path, driver: str) -> ElectrolyteCampaign:
    """The example shrunk to one batch of two cells, 6 cycles, on a lab with `driver`."""
    text = default_lab_text()
    assert SCPI in text
    lab = folder / f"lab-{driver}.toml"
    lab.write_text(text.replace(SCPI, f'driver = "{driver}"'), encoding="utf-8")
    spec = small_campaign(cycles=6, checkpoints=(3,))
    return spec.model_copy(update={"budget": 2, "batch_size": 2, "lab": str(lab)})


@pytest.fixture
def homes(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    for driver in ("neware-bts", "electroloop-cycler"):
        stop_cycler(tmp_path / driver)


def run(folder: Path, driver: str, monkeypatch: pytest.MonkeyPatch) -> CyclingLoop:
    """The campaign on `driver`'s simulated cycler, in a home of its own."""
    monkeypatch.setenv("ELECTROLOOP_HOME", str(folder / driver))
    spec = campaign(folder, driver)
    assert spec.cycling is not None
    with assemble(spec, Settings(), f"same-{driver}", []) as parts:
        assert parts.cycling is not None
        loop = CyclingLoop(parts.campaign, spec.cycling, parts.cycling)
        parts.campaign.start()
        loop.run()
        if driver == "neware-bts":
            assert isinstance(parts.cycling.cycler, NewareCycler)
            assert isinstance(parts.cycling.cells, SimulatedNewareCellLine)
            process = cycler_process(Settings().resolved_home, "neware-bts")
            assert process is not None  # its own process, outliving the campaign
    return loop


def test_the_neware_campaign_tells_the_planner_what_the_scpi_one_does(
    homes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    neware = run(homes, "neware-bts", monkeypatch).campaign.state
    with LeaseBook(Settings().store_path) as book:
        assert not book.all()  # every channel lease given back
    scpi = run(homes, "electroloop-cycler", monkeypatch)
    expected = scpi.campaign.state
    assert sorted(neware.observations) == sorted(expected.observations) == ["t0000", "t0001"]
    assert not neware.failures
    for candidate_id, observation in expected.observations.items():
        got = neware.observations[candidate_id]
        assert got.design == observation.design  # the same proposals: copies
        assert sorted(got.values) == sorted(observation.values)
        for name, value in observation.values.items():
            assert got.values[name] == pytest.approx(value, **SAME_PHYSICS), name
    for candidate_id, cell in neware.cells.items():  # the same channels, phases and indices
        twin = expected.cells[candidate_id]
        assert cell.assembled.channel == twin.assembled.channel
        assert [(p.phase, p.first_index) for p in cell.phases] == [
            (p.phase, p.first_index) for p in twin.phases
        ]
