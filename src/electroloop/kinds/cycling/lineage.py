"""Each cell's lineage as one JSON-LD document: the provenance part of a battery passport.

A cell of a cycling campaign goes from stock bottles (each with its lot) through a dosing
(targets, weighed masses, the balance, the vial) to a formulation, a cell build on a cycler
channel, the protocol phases it ran, its BDF time-series files, the metrics fitted from them,
and the planner (name, model version, snapshot) that proposed the formulation and was told the
result. `cell_lineage` writes that chain from the campaign's event log and the cell's records;
`export_lineage` writes one `<cell_id>.lineage.jsonld` per cell beside its other files.

Vocabularies, all declared in the document's inline ``@context`` (a JSON-LD parser reads it
offline; nothing is fetched):

- W3C PROV-O (https://www.w3.org/TR/prov-o/) links the nodes: ``prov:used``,
  ``prov:wasGeneratedBy``, ``prov:wasDerivedFrom``, ``prov:wasAssociatedWith``, and
  ``prov:qualifiedAssociation``/``prov:hadPlan`` for the protocol a cycling test followed.
- Battery Pass "performance and durability" attribute names (DIN DKE SPEC 99100 ch. 6.7, as
  modelled by the Battery Pass consortium's SAMM aspect ``io.BatteryPass.Performance`` 1.2.0,
  github.com/batterypass/BatteryPassDataModel, ``PerformanceAndDurability.ttl``) where they
  apply to a lab cell: ``ratedCapacity`` (Ah), ``remainingCapacity``, ``capacityFade`` (%),
  ``initialInternalResistance``/``ohmicResistance`` (Ω, ``batteryComponent`` "cell"),
  ``internalResistanceIncrease`` (%), ``roundtripEfficiency``,
  ``remainingRoundTripEnergyEfficiency`` and ``roundTripEfficiencyFade`` (%),
  ``numberOfFullCycles``, ``expectedNumberOfCycles``, ``cRateLifeCycleTest``,
  ``capacityThresholdForExhaustion`` (%), ``lifetimeReferenceTest``, ``minimumVoltage`` and
  ``maximumVoltage``. Entity-valued attributes keep the aspect's shape (``capacityFadeValue``,
  ``lastUpdate``) and add ``el:unit`` and ``el:atCycle``; ``remainingCapacityValue`` is in Ah
  here, as the rated capacity it "corresponds with" (the 1.2.0 model types it kWh).
  Fades and increases follow the aspect's formulas, x = the last complete cycling cycle, BOL =
  the first: (Q_BOL - Q(x)) / Q_BOL, (R(x) - R_BOL) / R_BOL, (RTE_BOL - RTE(x)) / RTE_BOL.
  The round-trip efficiency of a cycle is its CC discharge energy over its charge energy (the
  10 s resistance pulse is left out, `summary.CycleStats`); R is that pulse's DC resistance.
- The protocol of each phase carries aurora-unicycler's BattINFO/EMMO description
  (``to_battinfo_jsonld``) verbatim as a JSON literal (``@json``): its own context is remote
  (https://w3id.org/emmo/domain/battery/context), so it is kept, not expanded.
- Everything else is in this project's vocabulary ``el:`` (urn:electroloop:vocab:).

Nothing is invented: a cell whose records are not stored yet, a file not written, a metric
that needs more cycles, or a lot the lab file did not name is listed under ``el:missing`` of
the document node, and its node or value is left out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from electroloop.errors import CampaignError
from electroloop.kinds.cycling.cell_metrics import cell_values
from electroloop.kinds.cycling.lineage_nodes import (
    CampaignHistory,
    clean,
    iri,
    material_nodes,
    phase_nodes,
    planner_nodes,
    ref,
    told_values,
    when,
)
from electroloop.kinds.cycling.lineage_passport import battery_pass
from electroloop.kinds.cycling.loop import cell_phase_data
from electroloop.kinds.cycling.records import CellRecordStore
from electroloop.kinds.cycling.spec import CyclingSpec
from electroloop.kinds.cycling.summary import CycleStats, PhaseData, summarize
from electroloop.orchestrator.events import (
    CampaignState,
    CellAssembled,
    CellFinished,
    CellState,
    DosingRecorded,
    DosingStarted,
    PhaseStarted,
)
from electroloop.orchestrator.store import CampaignStore

__all__ = [
    "BDF_SUFFIXES",
    "CONTEXT",
    "CampaignHistory",
    "cell_lineage",
    "export_lineage",
    "lineage_path",
]

BDF_SUFFIXES = (".bdf.parquet", ".bdf.csv", ".bdf.metadata.json")
"""A cell's Battery Data Format files (time series, and the metadata sidecar), as
`bdf.export_bdf` names them: `<cell_id><suffix>`."""
LINEAGE_SUFFIX = ".lineage.jsonld"

CONTEXT: dict[str, Any] = {
    "@version": 1.1,
    "prov": "http://www.w3.org/ns/prov#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "schema": "https://schema.org/",
    "bp": "urn:samm:io.BatteryPass.Performance:1.2.0#",
    "unit": "urn:samm:org.eclipse.esmf.samm:unit:2.1.0#",
    "el": "urn:electroloop:vocab:",
    "battinfo": {"@id": "el:battinfo", "@type": "@json"},
}
"""Inline: every prefix the documents use (no remote context, so parsing needs no network)."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _find_cell(state: CampaignState, cell_id: str) -> CellState:
    for candidate_id, cell in state.cells.items():
        if cell_id in (cell.assembled.cell_id, candidate_id):
            return cell
    known = sorted(c.assembled.cell_id for c in state.cells.values())
    raise CampaignError(f"cell_id {cell_id!r} is not in the campaign; its cells: {known or 'none'}")


def cycling_spec(state: CampaignState, campaign_id: str) -> CyclingSpec:
    """The campaign's `[cycling]` table as it started (CampaignError if it has none)."""
    spec = state.spec or {}
    if spec.get("kind") != "cycling" or "cycling" not in spec:
        raise CampaignError(
            f"campaign {campaign_id!r} is a {spec.get('kind', 'never started')!r} campaign; "
            "lineage documents are written for cycling campaigns"
        )
    return CyclingSpec.model_validate(spec["cycling"])


def cell_lineage(
    history: CampaignHistory,
    cell_id: str,
    *,
    phases: Sequence[PhaseData] = (),
    folder: Path | None = None,
) -> dict[str, Any]:
    """The JSON-LD lineage document of one cell (`cell_id`, or its candidate's id).

    `phases`: the cell's stored records by phase (`loop.cell_phase_data`); none: no data yet.
    `folder`: where the cell's files lie (and the document goes); file paths in the document
    are relative to it, and each file present there is hashed (SHA-256).
    """
    state, campaign_id = history.state, history.campaign_id
    spec = cycling_spec(state, campaign_id)
    cell = _find_cell(state, cell_id)
    candidate_id, cell_id = cell.assembled.candidate_id, cell.assembled.cell_id
    missing: list[str] = []
    nodes: list[dict[str, Any]] = []

    # Proposal: the planner (and its version and snapshot) behind the candidate.
    candidate_iri = iri(campaign_id, "candidate", candidate_id)
    proposal, planner_iri, notes = planner_nodes(history, candidate_id)
    nodes += proposal
    missing += notes

    # Materials and dosing.
    dosing_iri = iri(campaign_id, "dosing", candidate_id)
    formulation_iri = iri(campaign_id, "formulation", candidate_id)
    dosing = state.dosings.get(candidate_id)
    if dosing is None:
        missing.append("dosing record: none in the log (the cell was built from an undosed vial)")
    else:
        _, started = history.first(DosingStarted, candidate_id)
        _, dosed_at = history.first(DosingRecorded, candidate_id)
        measured = state.measurements.get(candidate_id, [])
        materials, notes = material_nodes(
            campaign_id,
            state.spec or {},
            dosing,
            dosing_iri=dosing_iri,
            formulation_iri=formulation_iri,
            candidate_iri=candidate_iri,
            times=(when(started), when(dosed_at)),
            vial_moves=[
                m for t in state.vials.values() if t.candidate_id == candidate_id for m in t.moves
            ],
            measurement=measured[-1] if measured else None,
        )
        nodes += materials
        missing += notes

    # Cell build.
    _, built_at = history.first(CellAssembled, candidate_id)
    assembly_iri = iri(campaign_id, "assembly", cell_id)
    cell_iri = iri(campaign_id, "cell", cell_id)
    cycler_iri = iri(campaign_id, "cycler", cell.assembled.cycler)
    window = spec.window
    nodes.append(
        clean(
            {
                "@id": assembly_iri,
                "@type": ["prov:Activity", "el:CellAssembly"],
                "prov:used": ref(formulation_iri) if dosing is not None else None,
                "prov:endedAtTime": when(built_at),
                "el:manualStep": [
                    s.response for s in state.manual_steps if s.step == f"assemble-{candidate_id}"
                ]
                or None,
            }
        )
    )
    nodes.append(
        {
            "@id": cell_iri,
            "@type": ["prov:Entity", "el:Cell"],
            "schema:identifier": cell_id,
            "el:candidate": candidate_id,
            "el:chemistry": spec.chemistry,
            "el:cycler": cell.assembled.cycler,
            "el:channel": cell.assembled.channel,
            "bp:ratedCapacity": cell.assembled.capacity,
            "bp:minimumVoltage": window.min_voltage,
            "bp:maximumVoltage": window.max_voltage,
            "el:testTemperature": (state.spec or {}).get("temperature"),  # None: not recorded
            "prov:wasGeneratedBy": ref(assembly_iri),
            "el:electrolyte": ref(formulation_iri),
        }
    )
    nodes.append(
        {
            "@id": cycler_iri,
            "@type": ["prov:Agent", "el:Cycler"],
            "el:address": cell.assembled.cycler,
        }
    )

    # The cycling test and the protocol phases it followed.
    test_iri = iri(campaign_id, "test", cell_id)
    started_phases = history.of(PhaseStarted, candidate_id)
    phase_iris, protocol_nodes = phase_nodes(
        campaign_id, cell_id, spec, started_phases, cell.assembled.capacity
    )
    nodes += protocol_nodes
    finished, finished_at = history.first(CellFinished, candidate_id)
    failure = state.failures.get(candidate_id)
    nodes.append(
        clean(
            {
                "@id": test_iri,
                "@type": ["prov:Activity", "el:CyclingTest"],
                "prov:used": ref(cell_iri),
                "prov:wasAssociatedWith": ref(cycler_iri),
                "prov:qualifiedAssociation": [
                    {
                        "@type": "prov:Association",
                        "prov:agent": ref(cycler_iri),
                        "prov:hadPlan": ref(plan),
                    }
                    for plan in phase_iris
                ]
                or None,
                "prov:startedAtTime": when(started_phases[0][1]) if started_phases else None,
                "prov:endedAtTime": when(finished_at),
                "el:endReason": finished.reason if finished is not None else failure,
                "el:stoppedEarly": finished.early if finished is not None else None,
            }
        )
    )
    if not started_phases:
        missing.append("protocol: no phase started yet")

    # Data: the stored records and the files written from them.
    records = sum(len(p.records) for p in phases)
    data_iris: list[str] = []
    if records:
        store_iri = iri(campaign_id, "records", cell_id)
        data_iris.append(store_iri)
        nodes.append(
            {
                "@id": store_iri,
                "@type": ["prov:Entity", "el:CellRecords"],
                "el:recordCount": records,
                "el:storedIn": "cell_records table of the campaign store (campaigns.sqlite)",
                "prov:wasGeneratedBy": ref(test_iri),
            }
        )
        files, file_notes = _file_nodes(campaign_id, cell_id, folder, test_iri, store_iri)
        nodes += files
        missing += file_notes
        data_iris += [f["@id"] for f in files if "el:sha256" in f]
    else:
        missing.append("data: no records stored for the cell yet (no BDF file, no metrics)")

    # Metrics fitted from the data, and what the planner was told.
    stats = summarize(phases) if records else []
    status = _status(cell, failure, stats)
    metrics_iri = iri(campaign_id, "metrics", cell_id)
    analysis_iri = iri(campaign_id, "analysis", cell_id)
    if stats:
        values = cell_values(stats, spec, final=cell.finished is not None or failure is not None)
        cycling_plan = iri(campaign_id, "protocol", cell_id, "cycling")
        passport, passport_missing = battery_pass(
            stats,
            spec,
            cycling_plan if cycling_plan in phase_iris else None,
            when(finished_at or (history.events[-1][1] if history.events else None)),
        )
        missing += passport_missing
        nodes.append(
            {
                "@id": analysis_iri,
                "@type": ["prov:Activity", "el:CellAnalysis"],
                "prov:used": [ref(d) for d in data_iris],
                "el:method": "electroloop.kinds.cycling: summary.summarize, "
                "cell_metrics.cell_values",
            }
        )
        nodes.append(
            {
                "@id": metrics_iri,
                "@type": ["prov:Entity", "el:CellMetrics"],
                "el:aboutCell": ref(cell_iri),
                "prov:wasGeneratedBy": ref(analysis_iri),
                "prov:wasDerivedFrom": [ref(d) for d in data_iris],
                **passport,
                **{
                    f"el:{name}": {
                        "schema:value": e.mean,
                        "el:std": e.std,
                        "el:unit": _unit(name),
                        "el:basis": _basis(name, stats, spec, cell),
                    }
                    for name, e in sorted(values.items())
                },
            }
        )
    elif records:
        missing.append("metrics: no complete cycle yet")
    nodes += told_values(
        history, candidate_id, data_iris, metrics_iri if stats else None, planner_iri
    )

    document = {
        "@id": iri(campaign_id, "lineage", cell_id),
        "@type": ["prov:Entity", "el:LineageDocument"],
        "el:campaign": campaign_id,
        "el:cell": ref(cell_iri),
        "el:status": status,
        "el:missing": missing,
        "prov:generatedAtTime": when(datetime.now(UTC)),
    }
    return {"@context": CONTEXT, "@graph": [document, *nodes]}


_UNITS = {
    "retention": "fraction",
    "rate_ratio": "fraction",
    "coulombic_efficiency": "fraction",
    "discharge_capacity": "mAh",
}


def _unit(name: str) -> str:
    return _UNITS.get(name, "")


def _basis(name: str, stats: Sequence[CycleStats], spec: CyclingSpec, cell: CellState) -> str:
    """How a `cell_values` metric was obtained (retention may be a forecast)."""
    q = [s.discharge_capacity for s in stats if s.phase == "cycling"]
    cycling = len(q)
    if name != "retention":
        return f"measured over {cycling} cycling cycles"
    ended_below = bool(q) and q[-1] < spec.capacity_floor * q[0]  # ended or failed there
    if cycling >= spec.cycles or ended_below:
        return f"measured: capacity at cycling cycle {min(cycling, spec.cycles)} over cycle 1"
    return (
        f"forecast for cycling cycle {spec.cycles} from {cycling} cycles "
        "(kinds.cycling.cycle_life.retention_estimate)"
    )


def _status(cell: CellState, failure: str | None, stats: Sequence[Any]) -> str:
    cycling = sum(1 for s in stats if s.phase == "cycling")
    if failure is not None:
        return f"failed: {failure}"
    if cell.finished is not None:
        return f"finished: {cell.finished.reason} ({cycling} cycling cycles)"
    if not stats:
        return "running: no complete cycle stored yet" if cell.phases else "built: not started"
    return f"running: {len(stats)} cycles complete, {cycling} of them cycling"


_FORMATS = {
    ".bdf.parquet": "application/vnd.apache.parquet",
    ".bdf.csv": "text/csv",
    ".bdf.metadata.json": "application/json",
}


def _file_nodes(
    campaign_id: str, cell_id: str, folder: Path | None, test_iri: str, store_iri: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """A node per BDF file (hashed when present; listed as missing when not)."""
    nodes, missing = [], []
    for suffix in BDF_SUFFIXES:
        name = f"{cell_id}{suffix}"
        path = None if folder is None else folder / name
        if path is None or not path.is_file():
            missing.append(f"BDF file {name}: not written")
            continue
        nodes.append(
            {
                "@id": iri(campaign_id, "file", name),
                "@type": ["prov:Entity", "el:BdfFile"],
                "el:path": name,
                "el:sha256": _sha256(path),
                "schema:contentSize": path.stat().st_size,
                "schema:encodingFormat": _FORMATS[suffix],
                "prov:wasGeneratedBy": ref(test_iri),
                "prov:wasDerivedFrom": ref(store_iri),
            }
        )
    return nodes, missing


def lineage_path(folder: Path, cell_id: str) -> Path:
    """Where `export_lineage` writes a cell's document:
    `folder/<cell_id>/<cell_id>.lineage.jsonld`."""
    return folder / cell_id / f"{cell_id}{LINEAGE_SUFFIX}"


def export_lineage(store: str | Path, campaign_id: str, folder: Path) -> list[Path]:
    """Write every cell's lineage document under `folder/<cell_id>/` (where the cell's other
    files are); returns the paths, in the order the cells were built."""
    with CampaignStore(store) as log:
        history = CampaignHistory.load(log, campaign_id)
    cycling_spec(history.state, campaign_id)
    written = []
    with CellRecordStore(store) as records:
        for cell in history.state.cells.values():
            cell_id = cell.assembled.cell_id
            phases = cell_phase_data(records, campaign_id, cell) if cell.phases else []
            path = lineage_path(folder, cell_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            document = cell_lineage(history, cell_id, phases=phases, folder=path.parent)
            path.write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
            written.append(path)
    return written
