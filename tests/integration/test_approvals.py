"""Approval mode against a real Prefect server: the flow pauses before each batch with a typed
form, a technician's answer (sent through Prefect's API, as the UI sends it) rejects, edits or
approves candidates, and a pause nobody answers ends the run before anything is dosed."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.kinds.registry import parse_campaign
from electroloop.orchestrator.events import BatchReviewed, CandidatesProposed, DosingStarted
from electroloop.orchestrator.leases import LeaseBook
from electroloop.orchestrator.store import CampaignStore
from electroloop.settings import Settings


def spec(**overrides: object) -> Any:
    data = default_campaign().model_dump(mode="json")
    data |= {"planner": "sobol", "budget": 3, "batch_size": 2, "name": "approve"} | overrides
    return parse_campaign(data, "test")


def wait_for_pause(flow_run_name: str, timeout: float = 120.0) -> Any:
    """The flow run once it is Paused with its form saved (found by name through the API).

    Prefect's `pause_flow_run` sets the run PAUSED first and saves the form's schema just after;
    an answer sent in between is rejected ("Run input schema not found").
    """
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[flow_run_name]))
            )
            if runs and runs[0].state is not None and runs[0].state.is_paused():
                keyset = runs[0].state.state_details.run_input_keyset or {}
                try:
                    if "schema" in keyset:
                        client.read_flow_run_input(runs[0].id, keyset["schema"])
                    return runs[0]
                except httpx.HTTPStatusError as exc:
                    if exc.response.status_code != 404:
                        raise
            time.sleep(0.5)
    raise AssertionError(f"flow run {flow_run_name} never paused")


def proposals(store_path: Path, campaign_id: str) -> list[Any]:
    with CampaignStore(store_path) as store:
        events = store.events(campaign_id)
    return [c for e in events if isinstance(e, CandidatesProposed) for c in e.candidates]


def section(candidate: Any, **changes: object) -> dict[str, object]:
    answer: dict[str, object] = dict(candidate.formulation.fractions)
    answer |= {"molality": candidate.formulation.molality, "action": "approve", "reason": ""}
    return answer | changes


def test_a_technician_rejects_edits_and_approves_batches_through_the_pause_form(
    prefect_server: str, electroloop_home: Path
) -> None:
    from prefect.flow_runs import resume_flow_run

    from electroloop.workflows.approvals import ApprovalPolicy
    from electroloop.workflows.flows import conductivity_campaign

    policy = ApprovalPolicy(required=True, timeout_minutes=3, poll_seconds=1)
    result: dict[str, Any] = {}
    flow = conductivity_campaign.with_options(flow_run_name="approve-1")
    worker = threading.Thread(
        target=lambda: result.setdefault(
            "state", flow(spec(), "approve-1", policy, return_state=True)
        )
    )
    worker.start()
    store = Settings().store_path
    try:
        run = wait_for_pause("approve-1")
        first = proposals(store, "approve-1")
        assert len(first) == 2
        edited = {"EC": 0.3, "EMC": 0.3, "DMC": 0.5}  # sums to 1.1: rescaled to 1
        resume_flow_run(
            run.id,
            run_input={
                first[0].id: section(first[0], action="reject", reason="cloudy EC bottle"),
                first[1].id: section(first[1], action="edit", molality=1.1, **edited),
                "stop_campaign": False,
            },
        )
        second_run = wait_for_pause("approve-1")
        second = proposals(store, "approve-1")[2:]
        assert len(second) == 2  # the vetoed ones cost no budget: 3 - 1 edit = 2 more
        resume_flow_run(second_run.id, run_input={c.id: section(c) for c in second})
    finally:
        worker.join(timeout=180)
    state = result["state"]
    assert state.is_completed(), state.message
    with CampaignStore(store) as log:
        final = log.state("approve-1")
        events = log.events("approve-1")
    assert final.abandoned[first[0].id].endswith("cloudy EC bottle")
    run_edit = final.observations[f"{first[1].id}-edit"]
    assert run_edit.formulation.fractions["DMC"] == pytest.approx(0.5 / 1.1)
    assert run_edit.formulation.molality == pytest.approx(1.1)
    assert sorted(final.observations) == sorted([f"{first[1].id}-edit", *(c.id for c in second)])
    assert len([e for e in events if isinstance(e, BatchReviewed)]) == 2
    dosed = [e.candidate_id for e in events if isinstance(e, DosingStarted)]
    assert first[0].id not in dosed and first[1].id not in dosed  # never dosed


def test_a_pause_nobody_answers_stops_before_dosing_and_the_campaign_resumes(
    prefect_server: str, electroloop_home: Path
) -> None:
    from electroloop.workflows.approvals import ApprovalPolicy
    from electroloop.workflows.flows import conductivity_campaign, resume_campaign

    policy = ApprovalPolicy(required=True, timeout_minutes=0.05, poll_seconds=1)
    state = conductivity_campaign(spec(budget=2), "unanswered", policy, return_state=True)
    assert state.is_failed()  # Prefect ends the unanswered pause as Failed
    with CampaignStore(Settings().store_path) as log:
        stopped = log.state("unanswered")
    assert len(stopped.candidates) == 2 and not stopped.dosing_started  # nothing moved
    with LeaseBook(Settings().store_path) as book:  # released on failure, not left to expire
        assert not [lease for lease in book.all() if lease.holder.startswith("unanswered/")]
    summary = resume_campaign("unanswered")  # someone is back: run it without approval
    assert summary.finished == "budget spent" and summary.trials == 2
