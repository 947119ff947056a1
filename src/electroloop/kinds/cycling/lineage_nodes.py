"""The nodes of a cell's lineage document (`lineage`): materials and dosing, protocol phases,
and the planner that proposed the formulation and was told the results (the Battery Pass
attributes fitted from the cell's cycles are `lineage_passport`'s).

Vocabularies and formulas are cited in `lineage`'s docstring; node IRIs are URNs
(`urn:electroloop:<campaign>:<kind>:<part>`), stable across exports of the same campaign.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from electroloop.errors import CampaignError, ConfigError
from electroloop.kinds.cycling.spec import CyclingSpec
from electroloop.models import DosingRecord, Formulation, Measurement
from electroloop.orchestrator.events import (
    CampaignResumed,
    CampaignStarted,
    CampaignState,
    CandidateEdited,
    CandidatesProposed,
    DosingRecorded,
    Event,
    InterimObservation,
    IterationCompleted,
    ObservationAdded,
    PhaseStarted,
    VialMoved,
    fold,
)
from electroloop.orchestrator.store import CampaignStore

Node = dict[str, Any]


@dataclass(frozen=True)
class CampaignHistory:
    """A campaign's events with the time each was recorded, and the state they fold into."""

    campaign_id: str
    events: tuple[tuple[Event, datetime | None], ...]
    state: CampaignState

    @classmethod
    def load(cls, store: CampaignStore, campaign_id: str) -> CampaignHistory:
        """Read the log (CampaignError if the campaign has no events)."""
        events = store.events(campaign_id)
        if not events:
            raise CampaignError(f"campaign {campaign_id!r} has no events in {store.location}")
        times = [at for _, at in store.timeline(campaign_id)]
        timed = tuple((e, times[i] if i < len(times) else None) for i, e in enumerate(events))
        return cls(campaign_id, timed, fold(events))

    def of(self, kind: type, candidate_id: str) -> list[tuple[Any, datetime | None]]:
        """Every event of `kind` about `candidate_id`, in order, with its time."""
        return [
            (e, at) for e, at in self.events if isinstance(e, kind) and _about(e) == candidate_id
        ]

    def first(self, kind: type, candidate_id: str) -> tuple[Any, datetime | None]:
        """The first event of `kind` about `candidate_id` and its time; (None, None) if none."""
        found = self.of(kind, candidate_id)
        return found[0] if found else (None, None)


def _about(event: Event) -> str | None:
    if isinstance(event, DosingRecorded):
        return event.record.candidate_id
    if isinstance(event, ObservationAdded):
        return event.observation.candidate_id
    if isinstance(event, CandidateEdited):
        return event.candidate.id
    return getattr(event, "candidate_id", None)


def iri(campaign_id: str, kind: str, *parts: str) -> str:
    """A node's IRI: urn:electroloop:<campaign>:<kind>[:<part>...] (parts percent-encoded)."""
    tail = "".join(":" + quote(p, safe="-._~") for p in parts)
    return f"urn:electroloop:{quote(campaign_id, safe='-._~')}:{kind}{tail}"


def ref(node_iri: str) -> dict[str, str]:
    return {"@id": node_iri}


def when(at: datetime | None) -> dict[str, str] | None:
    return None if at is None else {"@value": at.isoformat(), "@type": "xsd:dateTime"}


def clean(node: Node) -> Node:
    """The node without keys whose value is None."""
    return {k: v for k, v in node.items() if v is not None}


def _fractions(formulation: Formulation) -> list[Node]:
    return [
        {"el:solvent": name, "schema:value": value, "el:unit": "mass fraction"}
        for name, value in sorted(formulation.fractions.items())
    ]


def _composition(name: str, spec: Mapping[str, Any]) -> Node | None:
    """A stock's solvent (and salt) with SMILES, from the campaign's spec; None if unknown.
    Stocks are named `<solvent>` or `<salt>-<solvent>` (`kinds.electrolyte.recipes.stocks_for`)."""
    solvents = {s["name"]: s["smiles"] for s in spec.get("solvents", [])}
    salt = spec.get("salt") or {}
    if name in solvents:
        return {"el:solvent": name, "el:solventSmiles": solvents[name]}
    prefix = f"{salt.get('name')}-"
    if name.startswith(prefix) and name.removeprefix(prefix) in solvents:
        solvent = name.removeprefix(prefix)
        return {
            "el:solvent": solvent,
            "el:solventSmiles": solvents[solvent],
            "el:salt": salt["name"],
            "el:saltSmiles": salt["smiles"],
        }
    return None


def material_nodes(
    campaign_id: str,
    spec: Mapping[str, Any],
    dosing: DosingRecord,
    *,
    dosing_iri: str,
    formulation_iri: str,
    candidate_iri: str,
    times: tuple[dict[str, str] | None, dict[str, str] | None],
    vial_moves: Sequence[VialMoved],
    measurement: Measurement | None,
) -> tuple[list[Node], list[str]]:
    """Stock bottles (with lots), the dosing, its instruments, the vial and the formulation."""
    nodes: list[Node] = []
    missing: list[str] = []
    stock_iris = {}
    for name in sorted(dosing.dosed_masses):
        lot = dosing.lots.get(name)
        stock_iris[name] = iri(campaign_id, "stock", name, *([lot] if lot else []))
        composition = _composition(name, spec)
        if lot is None:
            missing.append(f"lot of stock {name}: not recorded (the lab file's stock_lots)")
        if composition is None:
            missing.append(f"composition of stock {name}: not in the campaign's spec")
        nodes.append(
            clean(
                {
                    "@id": stock_iris[name],
                    "@type": ["prov:Entity", "el:StockBottle"],
                    "schema:name": name,
                    "el:lot": lot,
                    **(composition or {}),
                    "el:massLeftAfterDose": dosing.remaining.get(name),
                }
            )
        )
    instruments = sorted({t.instrument for t in dosing.transcripts})
    for name in instruments:
        kind = "el:Balance" if "balance" in name else "el:Instrument"
        nodes.append(
            {
                "@id": iri(campaign_id, "instrument", name),
                "@type": ["prov:Agent", kind],
                "schema:name": name,
            }
        )
    if not any("balance" in name for name in instruments):
        missing.append("balance: its traffic is not in the dosing record")
    vial_iri = iri(campaign_id, "vial", dosing.vial) if dosing.vial else None
    if vial_iri is None:
        missing.append("vial: the dosing record names none")
    else:
        nodes.append(
            {
                "@id": vial_iri,
                "@type": ["prov:Entity", "el:Vial"],
                "schema:identifier": dosing.vial,
                "el:moves": {
                    "@list": [
                        {"el:from": m.source, "el:to": m.target, "el:by": m.by}
                        for m in vial_moves
                        if m.vial == dosing.vial
                    ]
                },
            }
        )
    nodes.append(
        clean(
            {
                "@id": dosing_iri,
                "@type": ["prov:Activity", "el:Dosing"],
                "prov:used": [ref(candidate_iri), *(ref(i) for i in stock_iris.values())],
                "prov:wasAssociatedWith": [
                    ref(iri(campaign_id, "instrument", n)) for n in instruments
                ],
                "prov:startedAtTime": times[0],
                "prov:endedAtTime": times[1],
                "el:vial": ref(vial_iri) if vial_iri else None,
                "el:portion": [
                    {
                        "el:stock": ref(stock_iris[name]),
                        "el:targetMass": dosing.target_masses.get(name),
                        "el:dosedMass": dosing.dosed_masses[name],
                        "el:unit": "g",
                    }
                    for name in sorted(dosing.dosed_masses)
                ],
                "el:transcript": [
                    {"el:instrument": t.instrument, "el:sha256": t.sha256}
                    for t in dosing.transcripts
                ],
            }
        )
    )
    formulation = dosing.as_dosed
    conductivity = None
    if measurement is not None:
        conductivity = clean(
            {
                "schema:value": measurement.value,
                "el:unit": measurement.unit,
                "el:temperature": measurement.temperature,
                "el:parser": measurement.parser,
                "el:parserVersion": measurement.parser_version,
                "el:sha256": measurement.transcript.sha256,
            }
        )
    else:
        missing.append("conductivity: the formulation was not measured")
    nodes.append(
        clean(
            {
                "@id": formulation_iri,
                "@type": ["prov:Entity", "el:Formulation"],
                "prov:wasGeneratedBy": ref(dosing_iri),
                "prov:wasDerivedFrom": [ref(i) for i in stock_iris.values()],
                "el:requested": ref(candidate_iri),
                "el:massFraction": _fractions(formulation),
                "el:salt": formulation.salt,
                "el:molality": formulation.molality,
                "el:vial": ref(vial_iri) if vial_iri else None,
                "el:conductivity": conductivity,
            }
        )
    )
    return nodes, missing


def phase_nodes(
    campaign_id: str,
    cell_id: str,
    spec: CyclingSpec,
    started: Sequence[tuple[PhaseStarted, datetime | None]],
    capacity: float,
) -> tuple[list[str], list[Node]]:
    """One `prov:Plan` per phase the cell started: the steps loaded, and aurora-unicycler's
    BattINFO description of the phase when it can be made."""
    try:
        described = spec.unicycler_phases(sample=cell_id)
        why = ""
    except (ConfigError, ValueError, NotImplementedError) as exc:
        described, why = {}, f"aurora-unicycler could not describe the phases: {exc}"
    rates = {p.name: p.discharge_c_rate for p in spec.phases()}
    iris, nodes = [], []
    for event, at in started:
        phase_iri = iri(campaign_id, "protocol", cell_id, event.phase)
        iris.append(phase_iri)
        battinfo: Any = None
        unicycler = described.get(event.phase)
        if unicycler is not None:
            try:
                battinfo = unicycler.to_battinfo_jsonld(capacity_mAh=capacity * 1000.0)
            except (NotImplementedError, ValueError) as exc:
                why = f"to_battinfo_jsonld: {exc}"
        nodes.append(
            clean(
                {
                    "@id": phase_iri,
                    "@type": ["prov:Plan", "el:ProtocolPhase"],
                    "schema:name": event.phase,
                    "el:steps": event.protocol,
                    "el:stepRoles": {"@list": list(event.roles)},
                    "el:dischargeCRate": rates.get(event.phase),
                    "el:firstRecordIndex": event.first_index,
                    "el:startedAt": when(at),
                    "battinfo": battinfo,
                    "el:battinfoUnavailable": None
                    if battinfo is not None
                    else why
                    or "no aurora-unicycler description of this phase in the campaign's spec",
                }
            )
        )
    return iris, nodes


def _snapshot(campaign_id: str, state: dict[str, Any], note: str) -> Node:
    digest = hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()
    return {
        "@id": iri(campaign_id, "planner-state", digest[:16]),
        "@type": ["prov:Entity", "el:PlannerSnapshot"],
        "el:sha256": digest,
        "el:where": note,
    }


def planner_nodes(
    history: CampaignHistory, candidate_id: str
) -> tuple[list[Node], str | None, list[str]]:
    """The candidate, the proposal that made it, the planner (versions in force then) and the
    snapshots it started from and left; returns (nodes, the planner's IRI, what is missing)."""
    state = history.state
    versions: dict[str, str] = {}
    planner_name = state.planner or "unknown"
    before: dict[str, Any] | None = None
    for event, at in history.events:
        if isinstance(event, CampaignStarted):
            versions, planner_name = dict(event.versions), event.planner
        elif isinstance(event, CampaignResumed) and event.versions:
            versions |= event.versions
        elif isinstance(event, IterationCompleted):
            before = event.planner_state
        elif isinstance(event, CandidatesProposed | CandidateEdited):
            proposed = (
                event.candidates if isinstance(event, CandidatesProposed) else (event.candidate,)
            )
            if any(c.id == candidate_id for c in proposed):
                return _proposal(history, event, at, versions, planner_name, before, candidate_id)
            if isinstance(event, CandidatesProposed) and event.planner_state is not None:
                before = event.planner_state
    return [], None, [f"proposal of {candidate_id}: not in the log"]


def _proposal(
    history: CampaignHistory,
    event: CandidatesProposed | CandidateEdited,
    at: datetime | None,
    versions: Mapping[str, str],
    planner_name: str,
    before: dict[str, Any] | None,
    candidate_id: str,
) -> tuple[list[Node], str | None, list[str]]:
    campaign_id = history.campaign_id
    candidate = history.state.candidates[candidate_id]
    candidate_iri = iri(campaign_id, "candidate", candidate_id)
    version = versions.get("planner")
    planner_iri = iri(campaign_id, "planner", version or planner_name)
    missing = [] if version else ["planner version: the campaign's log predates it"]
    nodes: list[Node] = [
        clean(
            {
                "@id": planner_iri,
                "@type": ["prov:SoftwareAgent", "el:Planner"],
                "schema:name": planner_name,
                "el:plannerVersion": version,
                "el:software": [
                    {"schema:name": k, "schema:version": v} for k, v in sorted(versions.items())
                ],
            }
        )
    ]
    if isinstance(event, CandidateEdited):
        activity_iri = iri(campaign_id, "edit", event.original_id)
        nodes.append(
            {
                "@id": activity_iri,
                "@type": ["prov:Activity", "el:ReviewerEdit"],
                "prov:used": ref(iri(campaign_id, "candidate", event.original_id)),
                "el:reason": event.reason,
                "prov:endedAtTime": when(at),
            }
        )
    else:
        activity_iri = iri(campaign_id, "proposal", str(event.iteration))
        used = (
            _snapshot(campaign_id, before, "event log: the planner_state before")
            if before
            else None
        )
        made = (
            _snapshot(
                campaign_id, event.planner_state, "event log: candidates_proposed.planner_state"
            )
            if event.planner_state is not None
            else None
        )
        if made is None:
            missing.append("planner snapshot after the proposal: not in the log")
        nodes += [n for n in (used, made) if n is not None]
        if made is not None:
            made["prov:wasGeneratedBy"] = ref(activity_iri)
        nodes.append(
            clean(
                {
                    "@id": activity_iri,
                    "@type": ["prov:Activity", "el:Proposal"],
                    "el:iteration": event.iteration,
                    "prov:wasAssociatedWith": ref(planner_iri),
                    "prov:used": ref(used["@id"]) if used else None,
                    "prov:endedAtTime": when(at),
                }
            )
        )
    predicted = candidate.predicted
    attributed = [ref(planner_iri)]
    if candidate.scored_by:  # a surrogate's prediction ranked it (`Candidate.scored_by`)
        model_iri = iri(campaign_id, "model", candidate.scored_by)
        attributed.append(ref(model_iri))
        nodes.append(
            {
                "@id": model_iri,
                "@type": ["prov:SoftwareAgent", "el:Surrogate"],
                "schema:name": candidate.scored_by,
            }
        )
    nodes.append(
        clean(
            {
                "@id": candidate_iri,
                "@type": ["prov:Entity", "el:Candidate"],
                "schema:identifier": candidate.id,
                "prov:wasGeneratedBy": ref(activity_iri),
                "prov:wasAttributedTo": attributed,
                "el:proposedBy": candidate.planner,
                "el:massFraction": _fractions(candidate.formulation),
                "el:molality": candidate.formulation.molality,
                "el:predicted": (
                    {"schema:value": predicted.mean, "el:std": predicted.std}
                    if predicted is not None
                    else None
                ),
                "el:scoredBy": candidate.scored_by,
            }
        )
    )
    return nodes, planner_iri, missing


def told_values(
    history: CampaignHistory,
    candidate_id: str,
    data_iris: Sequence[str],
    metrics_iri: str | None,
    planner_iri: str | None,
) -> list[Node]:
    """What the planner heard of the cell: interim estimates and the final observation, each
    with the activity that told it."""
    campaign_id, nodes = history.campaign_id, []
    for event, at in history.of(InterimObservation, candidate_id):
        told = iri(campaign_id, "interim", candidate_id, str(event.cycle))
        nodes.append(
            {
                "@id": told,
                "@type": ["prov:Entity", "el:InterimObservation"],
                "el:atCycle": event.cycle,
                "prov:wasDerivedFrom": [ref(d) for d in data_iris],
                "prov:generatedAtTime": when(at),
                "el:value": [
                    {"schema:name": k, "schema:value": v.mean, "el:std": v.std}
                    for k, v in sorted(event.values.items())
                ],
            }
        )
        nodes.append(
            _tell(iri(campaign_id, "tell", candidate_id, str(event.cycle)), told, planner_iri, at)
        )
    observed = history.of(ObservationAdded, candidate_id)
    if observed:
        event, at = observed[-1]
        told = iri(campaign_id, "observation", candidate_id)
        nodes.append(
            clean(
                {
                    "@id": told,
                    "@type": ["prov:Entity", "el:Observation"],
                    "prov:wasDerivedFrom": ref(metrics_iri) if metrics_iri else None,
                    "prov:generatedAtTime": when(at),
                    "el:value": [
                        {"schema:name": k, "schema:value": v}
                        for k, v in sorted(event.observation.values.items())
                    ],
                }
            )
        )
        tell = _tell(iri(campaign_id, "tell", candidate_id), told, planner_iri, None)
        iteration = history.state.iteration_of(candidate_id)
        for done, done_at in history.events:
            if isinstance(done, IterationCompleted) and done.iteration == iteration:
                snapshot = _snapshot(
                    campaign_id, done.planner_state, "event log: iteration_completed.planner_state"
                )
                snapshot["prov:wasGeneratedBy"] = ref(tell["@id"])
                tell["prov:endedAtTime"] = when(done_at)
                tell["el:iteration"] = iteration
                nodes.append(snapshot)
        nodes.append(clean(tell))
    return nodes


def _tell(tell_iri: str, told: str, planner_iri: str | None, at: datetime | None) -> Node:
    return clean(
        {
            "@id": tell_iri,
            "@type": ["prov:Activity", "el:TellPlanner"],
            "prov:used": ref(told),
            "prov:wasAssociatedWith": ref(planner_iri) if planner_iri else None,
            "prov:endedAtTime": when(at),
        }
    )
