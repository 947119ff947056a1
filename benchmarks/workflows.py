"""`make bench`: what crash-safety costs: a lease's acquire, renew and check, the planner
snapshot stored with every proposal, and rebuilding the planner when a campaign resumes.

Prints a Markdown section for BENCHMARKS.md; medians over repeats measured in this one run.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.orchestrator.events import CandidatesProposed
from electroloop.orchestrator.leases import LeaseBook, LeaseKeeper
from electroloop.settings import Settings
from electroloop.workflows.build import assemble, build_planner


def median_ms(action: Callable[[], object], repeats: int) -> float:
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        durations.append(1000 * (time.perf_counter() - started))
    return statistics.median(durations)


def lease_costs(path: Path, repeats: int) -> dict[str, float]:
    """Milliseconds per lease operation on the campaign store's SQLite file."""
    resources = [f"TCPIP::10.0.0.{i}::4001::SOCKET" for i in range(6)]
    with LeaseBook(path) as book:

        def acquire_release() -> None:
            for acquired in book.acquire_all(resources, "bench", 30.0):
                book.release(acquired.lease)

        lease = book.acquire("TCPIP::10.0.0.9::4001::SOCKET", "bench", 30.0).lease
        costs = {
            "acquire_all + release, 6 instruments": median_ms(acquire_release, repeats),
            "renew one lease": median_ms(lambda: book.renew(lease, 30.0), repeats),
        }
        book.release(lease)
        with LeaseKeeper.acquire(book, resources, "bench", 30.0) as keeper:
            costs["check 6 leases before a trial"] = median_ms(keeper.check, repeats)
    return costs


def snapshot_costs(home: Path, budget: int) -> dict[str, float]:
    """Run an Ax campaign; time its planner snapshot and the rebuild a resume does."""
    spec = default_campaign().model_copy(update={"budget": budget, "name": "bench-snapshot"})
    settings = Settings(home=home)
    started = time.perf_counter()
    with assemble(spec, settings, "bench", []) as assembly:
        loop = assembly.campaign
        state = loop.run()
        wall = time.perf_counter() - started
        planner = loop.planner
        state_ms = median_ms(planner.state, 5)
        events = loop.store.events("bench")
        rebuild_ms = median_ms(lambda: build_planner(spec, loop.store, state)[0], 5)
    proposals = [e for e in events if isinstance(e, CandidatesProposed)]
    snapshot_kb = [len(json.dumps(e.planner_state)) / 1000 for e in proposals]
    return {
        "wall": wall,
        "trials": len(state.observations),
        "state_ms": state_ms,
        "rebuild_ms": rebuild_ms,
        "last_snapshot_kb": snapshot_kb[-1],
        "all_snapshots_kb": 2 * sum(snapshot_kb),  # one with each proposal and each tell
        "log_kb": settings.store_path.stat().st_size / 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=200, help="lease operations (200)")
    parser.add_argument("--budget", type=int, default=24, help="Ax campaign trials (24)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        leases = lease_costs(Path(home) / "campaigns.sqlite", args.repeats)
    with tempfile.TemporaryDirectory() as home:
        snap = snapshot_costs(Path(home), args.budget)
    print("## Workflows: leases, planner snapshots, resume (issue 7)\n")
    print(
        f"`python benchmarks/workflows.py --repeats {args.repeats} --budget {args.budget}`; "
        f"{platform.machine()}, Python {platform.python_version()}.\n"
    )
    print("| what | median |")
    print("|---|---|")
    for what, ms in leases.items():
        print(f"| lease: {what}, median of {args.repeats} | {ms:.2f} ms |")
    print(
        f"| Ax planner `state()` after {snap['trials']:.0f} trials (stored with every proposal "
        f"and tell), median of 5 | {snap['state_ms']:.0f} ms |"
    )
    print(
        f"| resume: rebuild the Ax planner from the log's last snapshot, median of 5 "
        f"| {snap['rebuild_ms']:.0f} ms |"
    )
    print(
        f"\nThe {snap['trials']:.0f}-trial Ax campaign took {snap['wall']:.1f} s without Prefect. "
        f"Its last snapshot is {snap['last_snapshot_kb']:.0f} kB; all snapshots together are "
        f"about {snap['all_snapshots_kb']:.0f} kB of the {snap['log_kb']:.0f} kB event log "
        "(they grow with the square of the trials; MLflow's `events.jsonl` leaves them out)."
    )


if __name__ == "__main__":
    main()
