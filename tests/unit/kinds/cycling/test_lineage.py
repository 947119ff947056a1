"""Lineage documents of a real (small) cycling campaign on the detached simulated cycler: one
per cell, read by rdflib with no network, linking lot -> dosing -> cell -> protocol -> BDF file
-> metrics -> planner; a cell with no data yet says so and carries no metric."""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import rdflib
import tomli_w

from electroloop.errors import CampaignError
from electroloop.kinds.cycling.lineage import cell_lineage, export_lineage, lineage_path
from electroloop.kinds.cycling.lineage_nodes import CampaignHistory
from electroloop.kinds.cycling.loop import CyclingLoop, cell_phase_data
from electroloop.kinds.cycling.records import CellRecordStore
from electroloop.kinds.registry import load_campaign
from electroloop.orchestrator.events import (
    CampaignStarted,
    Event,
    PhaseStarted,
)
from electroloop.orchestrator.store import CampaignStore
from electroloop.settings import Settings, default_lab_text
from electroloop.workflows.build import assemble
from electroloop.workflows.cycler_service import stop_cycler

EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "campaigns" / "cycling.toml"
LOTS = {"EC": "EC-LOT-2026-117", "EMC": "EMC/B#42", "LiPF6-EC": "LP-EC-9"}
PREFIXES = """
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX el: <urn:electroloop:vocab:>
PREFIX bp: <urn:samm:io.BatteryPass.Performance:1.2.0#>
PREFIX schema: <https://schema.org/>
"""
CHAIN = (
    PREFIXES
    + """
SELECT ?cell ?lot ?path ?sha ?version ?told WHERE {
  ?stock a el:StockBottle ; el:lot ?lot .
  ?dosing a el:Dosing ; prov:used ?stock ; prov:used ?candidate ;
          prov:wasAssociatedWith ?balance .
  ?balance a el:Balance .
  ?formulation prov:wasGeneratedBy ?dosing .
  ?assembly prov:used ?formulation .
  ?cell a el:Cell ; prov:wasGeneratedBy ?assembly .
  ?test prov:used ?cell ; prov:qualifiedAssociation/prov:hadPlan ?protocol .
  ?protocol a prov:Plan ; el:battinfo ?battinfo .
  ?bdf a el:BdfFile ; prov:wasGeneratedBy ?test ; el:path ?path ; el:sha256 ?sha .
  ?metrics a el:CellMetrics ; prov:wasDerivedFrom ?bdf ; bp:capacityFade ?fade .
  ?observation prov:wasDerivedFrom ?metrics .
  ?tell prov:used ?observation ; prov:wasAssociatedWith ?planner .
  ?candidate prov:wasGeneratedBy ?proposal .
  ?proposal prov:wasAssociatedWith ?planner .
  ?planner a prov:SoftwareAgent ; el:plannerVersion ?version .
  BIND(?observation AS ?told)
}
"""
)


@dataclass(frozen=True)
class Exported:
    home: Path
    store: Path
    campaign_id: str
    documents: list[Path]
    history: CampaignHistory


def write_lab(folder: Path) -> Path:
    """The simulated lab, with lots on three of its six stock bottles, cycling faster."""
    lots = "stock_lots = " + json.dumps(LOTS).replace('":', '" =') + "\n"
    text = default_lab_text().replace("\n[balance]", f"\n{lots}\n[balance]", 1)
    text = text.replace("cycler_speedup = 10000.0", "cycler_speedup = 40000.0")
    assert "cycler_speedup = 40000.0" in text
    path = folder / "lab.toml"
    path.write_text(text, encoding="utf-8")
    return path


def small_spec(folder: Path) -> Any:
    """The example, shrunk: 2 cells side by side, 6 cycling cycles, a quick planner."""
    design = load_campaign(EXAMPLE).model_dump(mode="json", exclude_none=True)
    design |= {"budget": 2, "batch_size": 2, "planner": "sobol", "lab": str(write_lab(folder))}
    design["cycling"] |= {
        "formation_cycles": 1,
        "formation_c_rate": 1.0,
        "rate_c_rates": [1.0, 2.0],
        "cycles": 6,
        "checkpoints": [3],
        "record_interval": 300.0,
    }
    path = folder / "cycling.toml"
    path.write_text(tomli_w.dumps(design), encoding="utf-8")
    return load_campaign(path)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exported]:
    folder = tmp_path_factory.mktemp("lineage")
    home = folder / "runs"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ELECTROLOOP_HOME", str(home))
        try:
            spec = small_spec(folder)
            settings = Settings()
            with assemble(spec, settings, "passport", []) as parts:
                assert parts.cycling is not None
                loop = CyclingLoop(parts.campaign, spec.cycling, parts.cycling, say=lambda _: None)
                parts.campaign.start()
                loop.run()
            cells = home / "passport" / "cells"
            documents = export_lineage(settings.store_path, "passport", cells)
            with CampaignStore(settings.store_path) as store:
                history = CampaignHistory.load(store, "passport")
            yield Exported(home, settings.store_path, "passport", documents, history)
        finally:
            stop_cycler(home)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access while parsing: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def parse(path: Path) -> rdflib.Graph:
    return rdflib.Graph().parse(path, format="json-ld")


def test_the_offline_guard_catches_a_remote_context(offline: None, tmp_path: Path) -> None:
    remote = tmp_path / "remote.jsonld"
    remote.write_text(json.dumps({"@context": "https://w3id.org/emmo/domain/battery/context"}))
    with pytest.raises(Exception, match="network access"):
        parse(remote)


def test_each_cell_has_a_document_rdflib_reads_offline_with_the_whole_chain(
    exported: Exported, offline: None
) -> None:
    state = exported.history.state
    cells = {c.assembled.cell_id: c for c in state.cells.values()}
    assert len(cells) == 2 and len(state.observations) == 2
    assert sorted(exported.documents) == sorted(
        lineage_path(exported.home / "passport" / "cells", cell_id) for cell_id in cells
    )
    for path in exported.documents:
        graph = parse(path)
        cell_id = path.name.removesuffix(".lineage.jsonld")
        rows = list(graph.query(CHAIN))
        assert rows, f"{cell_id}: no lot -> dosing -> cell -> protocol -> BDF -> metrics -> model"
        assert {str(r.cell) for r in rows} == {f"urn:electroloop:passport:cell:{cell_id}"}
        assert {str(r.lot) for r in rows} <= set(LOTS.values())
        # The BDF files are named as written, and each hash is the file's.
        for row in rows:
            file = path.parent / str(row.path)
            assert file.is_file() and str(row.path).startswith(cell_id + ".bdf.")
            assert str(row.sha) == hashlib.sha256(file.read_bytes()).hexdigest()
        started = next(e for e in exported.history.events if isinstance(e[0], CampaignStarted))
        assert {str(r.version) for r in rows} == {started[0].versions["planner"]}


def test_every_dosed_stock_with_a_lot_is_named_and_the_others_are_listed_missing(
    exported: Exported, offline: None
) -> None:
    for path in exported.documents:
        graph = parse(path)
        document = json.loads(path.read_text())
        head = document["@graph"][0]
        lots = {
            str(name): str(lot)
            for name, lot in graph.query(
                PREFIXES + "SELECT ?name ?lot WHERE { ?s a el:StockBottle ; schema:name ?name ;"
                " el:lot ?lot }"
            )
        }
        stocks = {
            str(n)
            for (n,) in graph.query(
                PREFIXES + "SELECT ?name WHERE { ?s a el:StockBottle ; schema:name ?name }"
            )
        }
        assert lots == {k: v for k, v in LOTS.items() if k in stocks}
        for name in stocks - LOTS.keys():
            assert any(m.startswith(f"lot of stock {name}:") for m in head["el:missing"])


def test_metrics_use_battery_pass_names_and_agree_with_what_the_planner_was_told(
    exported: Exported, offline: None
) -> None:
    state = exported.history.state
    for candidate_id, cell in state.cells.items():
        path = lineage_path(exported.home / "passport" / "cells", cell.assembled.cell_id)
        graph = parse(path)
        query = (
            PREFIXES
            + """
        SELECT ?rated ?fade ?retention ?basis ?cycles ?r0 WHERE {
          ?cell a el:Cell ; bp:ratedCapacity ?rated .
          ?m a el:CellMetrics ; bp:capacityFade/bp:capacityFadeValue ?fade ;
             el:retention [ schema:value ?retention ; el:basis ?basis ] ;
             bp:numberOfFullCycles/bp:numberOfFullCyclesValue ?cycles ;
             bp:initialInternalResistance/bp:ohmicResistance ?r0 .
        }"""
        )
        (row,) = list(graph.query(query))
        retention = state.observations[candidate_id].values["retention"]
        # Both from the same stored records: the fade at the last cycle is 1 - retention.
        assert row.retention.toPython() == pytest.approx(retention, rel=1e-12)
        assert str(row.basis) == "measured: capacity at cycling cycle 6 over cycle 1"
        assert row.fade.toPython() == pytest.approx((1.0 - retention) * 100.0, rel=1e-9, abs=1e-9)
        assert row.rated.toPython() == pytest.approx(0.005, rel=1e-12)
        assert row.cycles.toPython() == 1 + 2 + 6  # formation, two rate steps, cycling
        assert 0.0 < row.r0.toPython() < 100.0  # a coin cell's pulse resistance, Ω


def test_a_cell_with_no_data_yet_says_so_and_has_no_metrics(
    exported: Exported, offline: None, tmp_path: Path
) -> None:
    """The same campaign's log up to its first cell's formation start, as a new campaign: the
    cell is on its channel, no record is stored."""
    events: list[Event] = []
    for event, _ in exported.history.events:
        events.append(event)
        if isinstance(event, PhaseStarted):
            break
    with CampaignStore(exported.store) as store:
        for event in events:
            store.append("unfinished", event)
    folder = tmp_path / "cells"
    (path,) = export_lineage(exported.store, "unfinished", folder)
    graph = parse(path)
    head = json.loads(path.read_text())["@graph"][0]
    assert head["el:status"] == "running: no complete cycle stored yet"
    assert any(m.startswith("data: no records stored") for m in head["el:missing"])
    kinds = {str(t) for (t,) in graph.query("SELECT DISTINCT ?t WHERE { ?s a ?t }")}
    assert "urn:electroloop:vocab:CellMetrics" not in kinds
    assert "urn:electroloop:vocab:BdfFile" not in kinds
    assert not list(graph.query(PREFIXES + "SELECT ?v WHERE { ?s bp:capacityFade ?v }"))
    # What is known is still linked: lot -> dosing -> cell -> the phase it started.
    rows = graph.query(
        PREFIXES
        + """SELECT ?lot WHERE { ?stock el:lot ?lot . ?dosing prov:used ?stock .
        ?f prov:wasGeneratedBy ?dosing . ?a prov:used ?f . ?cell prov:wasGeneratedBy ?a .
        ?t prov:used ?cell ; prov:qualifiedAssociation/prov:hadPlan ?p . ?p schema:name
        "formation" }"""
    )
    assert list(rows)


def test_an_unknown_cell_is_refused_naming_the_cells(exported: Exported) -> None:
    with pytest.raises(CampaignError, match=r"cell_id 'nope' is not in the campaign; its cells"):
        cell_lineage(exported.history, "nope")


def test_a_campaign_that_is_not_a_cycling_one_is_refused(exported: Exported) -> None:
    started = next(e for e, _ in exported.history.events if isinstance(e, CampaignStarted))
    spec = {**started.spec, "kind": "conductivity"}
    spec.pop("cycling")
    with CampaignStore(exported.store) as store:
        store.append("plain", CampaignStarted(spec=spec, planner="sobol"))
    with pytest.raises(CampaignError, match="'conductivity' campaign; lineage documents are"):
        export_lineage(exported.store, "plain", exported.home / "plain")
    assert not (exported.home / "plain").exists()


def test_cell_ids_and_candidate_ids_give_the_same_document(exported: Exported) -> None:
    cell = next(iter(exported.history.state.cells.values()))
    by_cell = cell_lineage(exported.history, cell.assembled.cell_id)
    by_candidate = cell_lineage(exported.history, cell.assembled.candidate_id)
    for document in (by_cell, by_candidate):
        document["@graph"][0].pop("prov:generatedAtTime")
    assert by_cell == by_candidate


def test_the_campaigns_end_writes_each_document_onto_its_trial_run(
    exported: Exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the flow does when a cycling campaign ends (`flows._summarise`): the documents go
    beside each cell's files and into the "cell" folder of its trial's MLflow run (a local
    SQLite tracking store: no server); a candidate with no trial run is skipped."""
    from mlflow.tracking import MlflowClient

    from electroloop.workflows.flows import _export_lineage
    from electroloop.workflows.tracking import MlflowTracker

    monkeypatch.setenv("ELECTROLOOP_HOME", str(exported.home))
    for path in exported.documents:
        path.unlink()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = small_spec(tmp_path)
    tracker = MlflowTracker(uri, tmp_path / "artifacts", spec, "passport")
    client = MlflowClient(uri)
    tags = {"mlflow.parentRunId": tracker.run_id, "electroloop.candidate_id": "t0000"}
    run = client.create_run(tracker.experiment_id, run_name="t0000", tags=tags).info.run_id
    client.set_terminated(run, "FINISHED")

    _export_lineage(Settings(), "passport", exported.history.state, tracker)

    assert all(path.is_file() for path in exported.documents)  # written again
    logged = {a.path for a in client.list_artifacts(run, "cell")}
    assert logged == {"cell/passport-t0000.lineage.jsonld"}
    copy = Path(client.download_artifacts(run, "cell/passport-t0000.lineage.jsonld", tmp_path))
    assert len(parse(copy)) > 100  # the whole document, triples and all


def test_bdf_files_not_written_are_listed_missing_not_invented(
    exported: Exported, tmp_path: Path
) -> None:
    cell = exported.history.state.cells["t0001"]
    with CellRecordStore(exported.store) as records:
        phases = cell_phase_data(records, "passport", cell)
    document = cell_lineage(exported.history, "t0001", phases=phases, folder=tmp_path)
    head, nodes = document["@graph"][0], document["@graph"][1:]
    for suffix in (".bdf.parquet", ".bdf.csv", ".bdf.metadata.json"):
        assert f"BDF file passport-t0001{suffix}: not written" in head["el:missing"]
    assert not [n for n in nodes if "el:BdfFile" in n["@type"]]
    (metrics,) = [n for n in nodes if "el:CellMetrics" in n["@type"]]
    assert metrics["prov:wasDerivedFrom"] == [
        {"@id": "urn:electroloop:passport:records:passport-t0001"}
    ]
