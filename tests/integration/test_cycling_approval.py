"""With a technician following a cycling campaign, building each cell is a manual step they
confirm in the Prefect UI (the pause form, answered here through the API as the UI sends it)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import tomli_w

from electroloop.kinds.registry import load_campaign
from electroloop.orchestrator.store import CampaignStore
from electroloop.settings import Settings, default_lab_text
from electroloop.workflows.cycler_service import stop_cycler
from tests.integration.test_approvals import section, wait_for_pause

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "campaigns" / "cycling.toml"


def one_cell_campaign(folder: Path) -> Any:
    design = load_campaign(EXAMPLE).model_dump(mode="json", exclude_none=True)
    design |= {"name": "confirm", "budget": 1, "batch_size": 1, "planner": "sobol"}
    design["lab"] = "lab.toml"
    design["cycling"] |= {
        "formation_cycles": 1,
        "formation_c_rate": 1.0,
        "rate_c_rates": [1.0, 2.0],
        "cycles": 6,
        "checkpoints": [3],
        "record_interval": 300.0,
    }
    lab = default_lab_text().replace("cycler_speedup = 10000.0", "cycler_speedup = 20000.0")
    (folder / "lab.toml").write_text(lab, encoding="utf-8")
    (folder / "cycling.toml").write_text(tomli_w.dumps(design), encoding="utf-8")
    return load_campaign(folder / "cycling.toml")


def test_a_technician_confirms_each_cell_before_it_cycles(
    prefect_server: str, electroloop_home: Path, tmp_path: Path
) -> None:
    from prefect.flow_runs import resume_flow_run

    from electroloop.workflows.approvals import ApprovalPolicy
    from electroloop.workflows.flows import conductivity_campaign

    policy = ApprovalPolicy(required=True, timeout_minutes=3, poll_seconds=1)
    spec = one_cell_campaign(tmp_path)
    result: dict[str, Any] = {}
    flow = conductivity_campaign.with_options(flow_run_name="confirm-1")
    worker = threading.Thread(
        target=lambda: result.setdefault(
            "state", flow(spec, "confirm-1", policy, return_state=True)
        )
    )
    worker.start()
    store = Settings().store_path
    try:
        review = wait_for_pause("confirm-1")
        with CampaignStore(store) as log:
            (candidate,) = log.state("confirm-1").candidates.values()
        resume_flow_run(review.id, run_input={candidate.id: section(candidate)})
        build = wait_for_pause("confirm-1")
        with CampaignStore(store) as log:
            before = log.state("confirm-1")
        assert candidate.id in before.measurements and not before.cells  # measured, not built
        resume_flow_run(build.id, run_input={"electrolyte_volume": 35.0, "done": True})
    finally:
        worker.join(timeout=240)
        stop_cycler(electroloop_home)
    state = result["state"]
    assert state.is_completed(), state.message
    with CampaignStore(store) as log:
        final = log.state("confirm-1")
    (step,) = [s for s in final.manual_steps if s.step == f"assemble-{candidate.id}"]
    channel = final.cells[candidate.id].assembled.channel
    # The technician's 35.0 mL, stored and read back: a copy, not computed.
    assert step.response == {"electrolyte_volume": 35.0, "channel": channel}
    assert "retention" in final.observations[candidate.id].values
    # The technician sees the cell's life step by step as task runs of the campaign's flow.
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            )
        )
    names = {t.name for t in tasks}
    cell = candidate.id
    steps = {f"cell-{cell}", f"{cell}-rate-1C", f"{cell}-rate-2C", f"{cell}-cycling", f"{cell}-end"}
    assert steps <= names
    assert any(name.startswith(f"{cell}-cycle-") for name in names)  # the checkpoint at 3
