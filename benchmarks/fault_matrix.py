"""The fault matrix: every dosing instrument × every fault a simulator can throw, one short
campaign each on the simulated lab (the closed loop without Prefect), and what came of it.

A fault is handled when nothing hangs or crashes, every observation has its measurement, no
candidate was dosed twice, and the campaign noticed: a faulted trial failed for a named reason,
or (an instrument that keeps failing the same way) the campaign stopped itself with
`CampaignHalted`, resumable; a lost answer or link may instead be recovered by the driver (a
reconnect, a retry), and late answers inside the timeout need only patience. A fault nobody
noticed (a drift inside every tolerance) is not handled. The meter's drift is caught by its check
standard (`kinds.electrolyte.check_standard`).
Prints a Markdown table for BENCHMARKS.md. `python benchmarks/fault_matrix.py` (about 5 min on
2 cores).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from electroloop.errors import CampaignHalted, ElectroloopError
from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.kinds.registry import parse_campaign
from electroloop.orchestrator.events import DosingRecorded
from electroloop.settings import Settings, default_lab_text
from electroloop.workflows.build import assemble

ROLES = {"balance": 25, "pumps": 25, "meter": 5}
"""Instrument role -> commands before its fault fires (the meter answers two per trial)."""
FAULTS = ("silent", "disconnect", "error", "garbage", "stuck_busy", "drift", "slow")


def one(role: str, fault: str, budget: int, root: Path) -> dict[str, object]:
    """Run one campaign with `fault` injected into `role` after a few commands."""
    home = root / f"{role}-{fault}"
    home.mkdir(parents=True)
    lab = home / "lab.toml"
    lab.write_text(
        default_lab_text() + f'\n[[{role}.faults]]\nfault = "{fault}"\nafter = {ROLES[role]}\n',
        encoding="utf-8",
    )
    data = default_campaign().model_dump(mode="json")
    data |= {"planner": "sobol", "budget": budget, "batch_size": 4, "lab": str(lab)}
    spec = parse_campaign(data, f"{role} {fault}")
    started = time.perf_counter()
    outcome = "completed"
    try:
        with assemble(spec, Settings(home=home), "matrix", []) as assembly:
            try:
                assembly.campaign.run()
            except CampaignHalted:
                outcome = "halted (resumable)"
            state = assembly.campaign.state
            events = assembly.campaign.store.events("matrix")
    except ElectroloopError as exc:
        return {"role": role, "fault": fault, "outcome": f"refused: {exc}"[:120], "ok": False}
    dosed = Counter(e.record.candidate_id for e in events if isinstance(e, DosingRecorded))
    unmeasured = [c for c in state.observations if c not in state.measurements]
    reasons = sorted({r.split(":")[0] for r in state.failures.values()})
    intact = not unmeasured and all(n == 1 for n in dosed.values())
    recovered = fault in ("silent", "disconnect", "slow")  # a retry, a reconnect, patience
    noticed = bool(state.failures) or outcome != "completed" or recovered
    return {
        "role": role,
        "fault": fault,
        "outcome": outcome,
        "observed": len(state.observations),
        "failed": len(state.failures),
        "reasons": ", ".join(reasons) or "-",
        "seconds": time.perf_counter() - started,
        "ok": intact and noticed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=int, default=8)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, Python {platform.python_version()}, "
        f"{datetime.now():%Y-%m-%d}; budget {args.budget} per campaign\n"
    )
    print("| instrument | fault | outcome | observed | failed | failure reasons | s | handled |")
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for role in ROLES:
            for fault in FAULTS:
                row = one(role, fault, args.budget, Path(tmp))
                rows.append(row)
                print(
                    f"| {row['role']} | {row['fault']} | {row['outcome']} "
                    f"| {row.get('observed', '-')} | {row.get('failed', '-')} "
                    f"| {row.get('reasons', '-')} | {row.get('seconds', 0.0):.1f} "
                    f"| {'yes' if row['ok'] else 'NO'} |",
                    flush=True,
                )
    handled = sum(1 for r in rows if r["ok"])
    print(f"\n{handled} of {len(rows)} instrument × fault cases handled")


if __name__ == "__main__":
    main()
