"""`make bench`: the example cycling campaign (8 cells, 100 cycles each) as a technician runs it.

Runs ``electroloop run examples/campaigns/cycling.toml`` in a fresh process and home (its own
temporary Prefect server, the detached simulated cycler), then reads the event log: wall time,
when the planner first heard a cell's interim result against when the first cell finished,
records stored, which generation node made each proposal, the run's CPU time, and what the
loop's re-summary of a whole cell after each completed cycle costs at the test's end. Prints a
Markdown report.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from electroloop.instruments.cycler import CycleRecord
from electroloop.kinds.cycling.loop import cell_phase_data
from electroloop.kinds.cycling.records import CellRecordStore
from electroloop.kinds.cycling.summary import summarize
from electroloop.orchestrator.events import (
    CandidatesProposed,
    CellFinished,
    CellState,
    InterimObservation,
)
from electroloop.orchestrator.store import CampaignStore
from electroloop.workflows.cycler_service import stop_cycler

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "campaigns" / "cycling.toml"


def run(home: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "electroloop.cli", "--home", str(home), "run", str(EXAMPLE)],
        check=True,
        capture_output=True,
        text=True,
        env=os.environ | {"ELECTROLOOP_HOME": str(home)},
    )
    return time.perf_counter() - started


def cpu_seconds() -> float:
    """User + system CPU of the waited-for children so far (the run and its Prefect server)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def resummary_seconds(records: CellRecordStore, campaign_id: str, cell: CellState) -> float:
    """Median of 5: read a cell's records and summarise them, as the loop does after a cycle."""
    times = []
    for _ in range(5):
        started = time.perf_counter()
        summarize(cell_phase_data(records, campaign_id, cell))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def instrument_hours(records: list[tuple[str, CycleRecord]]) -> float:
    """Hours a cell spent cycling: each phase's last record time (phases restart at 0)."""
    ends: dict[str, float] = {}
    for phase, record in records:
        ends[phase] = max(ends.get(phase, 0.0), record.time)
    return sum(ends.values()) / 3600.0


def report(home: Path, wall: float, cpu: float) -> str:
    store_path = home / "campaigns.sqlite"
    with CampaignStore(store_path) as store:
        (campaign_id,) = store.campaign_ids()
        events = store.events(campaign_id)
        times = [t for _, t in store.timeline(campaign_id)]
        state = store.state(campaign_id)
    start = times[0]

    def at(kind: type) -> list[float]:
        return [
            (t - start).total_seconds()
            for e, t in zip(events, times, strict=True)
            if isinstance(e, kind)
        ]

    with CellRecordStore(store_path) as records:
        per_cell = [records.records(campaign_id, c.assembled.cell_id) for c in state.cells.values()]
        resummary = statistics.median(
            resummary_seconds(records, campaign_id, c) for c in state.cells.values()
        )
    stored = sum(len(cell) for cell in per_cell)
    hours = statistics.median(instrument_hours(cell) for cell in per_cell)
    proposals = [e for e in events if isinstance(e, CandidatesProposed)]
    predicted = [sum(c.predicted is not None for c in p.candidates) for p in proposals]
    retention = sorted(o.values["retention"] for o in state.observations.values())
    early = sum(1 for c in state.cells.values() if c.finished is not None and c.finished.early)
    lines = [
        f"Measured {datetime.now():%Y-%m-%d} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; command: `python benchmarks/cycling.py`.",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| cells (budget), channels | {len(state.cells)}, 8 |",
        f"| wall time of `electroloop run examples/campaigns/cycling.toml` | {wall:.1f} s |",
        f"| first interim result to the planner | {min(at(InterimObservation)):.1f} s |",
        f"| first cell finished | {min(at(CellFinished)):.1f} s |",
        f"| interim results told | {len(at(InterimObservation))} |",
        f"| second batch proposed | {at(CandidatesProposed)[1]:.1f} s, {predicted[1]} of "
        f"{len(proposals[1].candidates)} by the GP (fitted on interim data only) |",
        f"| cycler records stored (once each) | {stored} |",
        f"| instrument time per cell (median; test time of its phases) | {hours:.0f} h |",
        f"| CPU time of the run (user + system, with its Prefect server) | {cpu:.1f} s |",
        f"| re-summary of a whole cell at its end (read + summarise; median) | "
        f"{resummary * 1000:.0f} ms |",
        f"| cells stopped early | {early} |",
        f"| retention at cycle 100, min / max | {retention[0]:.4f} / {retention[-1]:.4f} |",
        f"| failures | {len(state.failures)} |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "runs"
        try:
            cpu = cpu_seconds()
            wall = run(home)
            print(report(home, wall, cpu_seconds() - cpu))
        finally:
            stop_cycler(home)


if __name__ == "__main__":
    main()
