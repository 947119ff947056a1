"""The event log is append-only, durable, and its fold is the campaign's state."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal

import psycopg
import pytest
from pydantic import ValidationError

from electroloop.errors import CampaignError
from electroloop.models import Candidate, Design, Formulation, Observation
from electroloop.orchestrator.database import open_database
from electroloop.orchestrator.events import (
    CampaignStarted,
    CandidateFailed,
    CandidatesProposed,
    IterationCompleted,
    ObservationAdded,
)
from electroloop.orchestrator.store import SCHEMAS, CampaignStore


def candidate(i: int) -> Candidate:
    f = Formulation(
        fractions={"EC": 0.3, "DMC": 0.7}, salt="LiPF6", molality=1.0 + i / 10, temperature=25.0
    )
    return Candidate(id=f"t{i:04d}", formulation=f, planner="sobol")


def test_fold_reflects_appended_events_across_reopen(store_target: str | Path) -> None:
    path = store_target
    with CampaignStore(path) as store:
        store.append("c1", CampaignStarted(spec={"name": "c1"}, planner="sobol"))
        store.append("c1", CandidatesProposed(iteration=0, candidates=(candidate(0), candidate(1))))
        store.append(
            "c1",
            ObservationAdded(
                observation=Observation(
                    candidate_id="t0000",
                    formulation=candidate(0).formulation,
                    values={"conductivity": 10.5},
                )
            ),
        )
        store.append("c1", CandidateFailed(candidate_id="t0001", reason="balance overload"))
        store.append("c1", IterationCompleted(iteration=0, planner_state={"drawn": 2}))
    with CampaignStore(path) as store:
        state = store.state("c1")
        assert store.campaign_ids() == ["c1"]
    assert list(state.candidates) == ["t0000", "t0001"]
    assert state.observations["t0000"].values == {"conductivity": 10.5}
    assert state.failures == {"t0001": "balance overload"}
    assert state.pending == []
    assert state.trials_run == 2
    assert state.iterations_completed == 1 and state.planner_state == {"drawn": 2}


REFUSED = (sqlite3.IntegrityError, psycopg.errors.RaiseException)


def test_history_cannot_be_rewritten(store_target: str | Path) -> None:
    with CampaignStore(store_target) as store:
        store.append("c1", CampaignStarted(spec={}, planner="sobol"))
    db = open_database(store_target, SCHEMAS)  # a second writer, behind the store's back
    with pytest.raises(REFUSED, match="append-only"):
        db.execute("UPDATE events SET kind = 'x'")
    with pytest.raises(REFUSED, match="append-only"):
        db.execute("DELETE FROM events")
    if db.dialect == "postgresql":
        with pytest.raises(REFUSED, match="append-only"):
            db.execute("TRUNCATE events")
    db.close()
    with CampaignStore(store_target) as store:
        assert [e.kind for e in store.events("c1")] == ["campaign_started"]


def test_unknown_campaign_is_an_error(store_target: str | Path) -> None:
    with CampaignStore(store_target) as store:
        with pytest.raises(CampaignError, match="'nope' has no events"):
            store.state("nope")


class Electrode(Design):
    """A design of another kind (test-only), as an electrode kind would bring."""

    type: Literal["electrode"] = "electrode"
    porosity: float


def test_a_store_reads_designs_of_the_types_it_is_told_about(store_target: str | Path) -> None:
    path = store_target
    electrode = Candidate(id="e0000", design=Electrode(porosity=0.35), planner="sobol")
    with CampaignStore(path) as store:
        store.append("c1", CandidatesProposed(iteration=0, candidates=(electrode, candidate(1))))
    with CampaignStore(path, designs={"electrode": Electrode}) as store:
        stored = store.state("c1").candidates
    assert stored["e0000"] == electrode and type(stored["e0000"].design) is Electrode
    assert type(stored["t0001"].design) is Formulation  # formulations are always known
    with CampaignStore(path) as store, pytest.raises(ValidationError, match="'electrode'"):
        store.state("c1")  # a store nobody told about electrodes refuses, naming the type
