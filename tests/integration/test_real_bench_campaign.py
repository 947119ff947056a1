"""The bench a lab can buy, end to end as a dry run (`examples/labs/lab.bench.toml`): a
PreciseFlex arm moves every vial rack → balance → meter → rack, the MT-SICS balance weighs what
the Cavro pumps dose, an Orion Star A215 reads the conductivity, and the cells cycle on a
Neware BTS reached through aurora-neware.

No simulator runs in the campaign's process: `electroloop sim up` serves the arm, balance,
pumps and meter from another process (one process, as they share one physical bench: the vial
the arm sets on the pan is the one the pumps fill) and writes a lab file naming each by its
address; the Neware simulator is a process of its own. The campaign reaches all of them as real
instruments. Each cell's BDF files read back with pandas, and each cell's lineage document
links lot → dosing → cell → protocol → BDF file → metrics → model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import rdflib
import tomli_w

from electroloop.instruments.neware import NewareCycler
from electroloop.instruments.orion_meter import OrionStarA215
from electroloop.kinds.cycling.bdf import read_bdf_metadata
from electroloop.kinds.cycling.lineage import export_lineage
from electroloop.kinds.cycling.loop import CyclingLoop
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign
from electroloop.orchestrator.events import CampaignState
from electroloop.orchestrator.leases import LeaseBook, LeaseHeld
from electroloop.samples import BALANCE, METER
from electroloop.settings import Settings, load_lab
from electroloop.workflows.build import assemble
from electroloop.workflows.cycler_service import ensure_cycler, stop_cycler
from electroloop.workflows.cycling_build import SIMULATED_CYCLER_CURRENT
from tests.integration.served import sim_up
from tests.unit.kinds.cycling.simulated_cell import small_campaign

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "examples" / "labs" / "lab.bench.toml"
BDF_REQUIRED = {"Test Time / s", "Voltage / V", "Current / A", "Cycle Count / 1"}
OTHER = "another-campaign/cell/t0000"
"""The holder of channels 1-6 while this campaign runs."""
CHAIN = """
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX el: <urn:electroloop:vocab:>
SELECT ?lot ?path ?version WHERE {
  ?stock a el:StockBottle ; el:lot ?lot .
  ?dosing a el:Dosing ; prov:used ?stock ; prov:used ?candidate .
  ?formulation prov:wasGeneratedBy ?dosing .
  ?assembly prov:used ?formulation .
  ?cell a el:Cell ; prov:wasGeneratedBy ?assembly .
  ?test prov:used ?cell ; prov:qualifiedAssociation/prov:hadPlan ?protocol .
  ?bdf a el:BdfFile ; prov:wasGeneratedBy ?test ; el:path ?path .
  ?metrics a el:CellMetrics ; prov:wasDerivedFrom ?bdf .
  ?candidate prov:wasGeneratedBy ?proposal .
  ?proposal prov:wasAssociatedWith ?planner .
  ?planner el:plannerVersion ?version .
}
"""


def campaign() -> ElectrolyteCampaign:
    """The cycling example shrunk to one batch of two cells and 6 cycling cycles."""
    spec = small_campaign(cycles=6, checkpoints=(3,))
    update = {"budget": 2, "batch_size": 2, "lab": str(LAB), "planner": "sobol"}
    return spec.model_copy(update=update)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`sim up` in another process; yields the lab file it wrote (instruments by address)."""
    folder = tmp_path_factory.mktemp("served")
    campaign_file = folder / "campaign.toml"
    campaign_file.write_text(tomli_w.dumps(campaign().model_dump(mode="json", exclude_none=True)))
    with sim_up(LAB, folder / "lab.local.toml", "--campaign", str(campaign_file)) as written:
        yield written


@pytest.fixture(scope="module")
def finished(
    served: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, CampaignState]]:
    home = tmp_path_factory.mktemp("bench")
    spec = campaign().model_copy(update={"lab": str(served)})
    assert spec.cycling is not None
    lab = load_lab(served)
    for role in ("arm", "balance", "meter"):  # every bench instrument reached by its address
        address = getattr(lab, role).address
        assert isinstance(address, str) and address.startswith("TCPIP::127.0.0.1::"), role
    assert lab.cycler is not None and lab.cycler.simulated  # the BTS: a process of its own
    bts = ensure_cycler(  # started ahead, as the campaign would, to lease channels 1-6 away
        home,
        channels=int(lab.cycler.limits["channels"]),
        speedup=lab.cycler_speedup,
        seed=lab.seed,
        max_current=SIMULATED_CYCLER_CURRENT,
        driver="neware-bts",
    )
    with LeaseBook(Settings(home=home).store_path) as book:
        for channel in range(1, 7):
            book.acquire(f"neware-bts:{bts.resource}#channel{channel}", OTHER, ttl=3600.0)
    try:
        with assemble(spec, Settings(home=home), "real-bench", []) as parts:
            assert parts.simulator is not None and not parts.simulator.servers
            assert parts.cycling is not None
            assert isinstance(parts.cycling.cycler, NewareCycler)
            assert isinstance(parts.campaign.experiment.probe, OrionStarA215)
            loop = CyclingLoop(parts.campaign, spec.cycling, parts.cycling)
            parts.campaign.start()
            loop.run()
            state = parts.campaign.state
        yield home, state
    finally:
        stop_cycler(home, "neware-bts")


def test_the_arm_carries_each_vial_and_the_orion_meter_reads_it(finished) -> None:
    _, state = finished
    assert len(state.observations) == 2 and not state.failures
    assert len(state.vials) == 2
    for vial, track in state.vials.items():
        slot = track.moves[0].source
        assert [(m.source, m.target) for m in track.moves] == [
            (slot, BALANCE),
            (BALANCE, slot),  # a bench reached by address may be shared: wait in the slot
            (slot, METER),
            (METER, slot),
        ], vial
        assert {m.by for m in track.moves} == {"PreciseFlex arm"}
        (measurement,) = state.measurements[track.candidate_id]
        assert measurement.parser.endswith("OrionStarA215.conductivity")
        assert 0.5 < measurement.value < 20.0  # mS/cm: LiPF6 carbonate blends at 25 °C


def test_channels_another_campaign_leased_are_never_used(finished) -> None:
    home, state = finished
    assert sorted(c.assembled.channel for c in state.cells.values()) == [7, 8]
    with LeaseBook(Settings(home=home).store_path) as book:
        held = {lease.resource: lease.holder for lease in book.all()}
        leased = next(r for r in held if r.endswith("#channel1"))
        with pytest.raises(LeaseHeld, match=r"#channel1 is held by"):
            book.acquire(leased, "real-bench/cell/t9999", ttl=60.0)
    assert sorted(r.rsplit("channel", 1)[1] for r, h in held.items() if h == OTHER) == [
        str(n) for n in range(1, 7)
    ]  # the other campaign's leases stand; the finished cells gave theirs back


def test_the_cells_cycle_on_neware_channels_and_leave_bdf_files(finished) -> None:
    home, state = finished
    lab = load_lab(LAB)
    assert lab.cycler is not None
    channels = int(lab.cycler.limits["channels"])
    assert len(state.cells) == 2
    for cell in state.cells.values():
        cell_id = cell.assembled.cell_id
        assert 1 <= cell.assembled.channel <= channels
        folder = home / "real-bench" / "cells" / cell_id
        table = pd.read_parquet(folder / f"{cell_id}.bdf.parquet")
        assert BDF_REQUIRED <= set(table.columns)
        assert table["Voltage / V"].between(2.4, 4.3).all()
        assert pd.read_csv(folder / f"{cell_id}.bdf.csv").shape == table.shape
        meta = read_bdf_metadata(folder / f"{cell_id}.bdf.parquet")
        assert meta["cycler"]["driver"] == "neware-bts"
        assert meta["cycler"]["channel"] == cell.assembled.channel


def test_each_cell_has_a_lineage_document_from_lot_to_model(finished) -> None:
    home, state = finished
    folder = home / "real-bench" / "cells"
    documents = export_lineage(Settings(home=home).store_path, "real-bench", folder)
    assert len(documents) == len(state.cells) == 2
    lots = set(load_lab(LAB).stock_lots.values())
    for path in documents:
        graph = rdflib.Graph().parse(path, format="json-ld")
        rows = list(graph.query(CHAIN))
        assert rows, f"{path.name}: no lot -> dosing -> cell -> protocol -> BDF -> metrics -> model"
        assert {str(r.lot) for r in rows} <= lots
        assert all((path.parent / str(r.path)).is_file() for r in rows)
