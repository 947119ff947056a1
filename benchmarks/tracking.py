"""`make bench`: what recording costs per trial in MLflow (SQLite file vs `mlflow server`), how long
`electroloop compare` takes, and the hypervolume's cost per trial.

Prints a Markdown section for BENCHMARKS.md. Trials are real: a Sobol campaign on the simulated
lab is run once, and its records are replayed into a tracker on each backend.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.orchestrator.closed_loop import TrialRecord
from electroloop.orchestrator.hypervolume import hypervolume
from electroloop.settings import Settings
from electroloop.workflows.build import assemble, simulator_oracle
from electroloop.workflows.compare import compare
from electroloop.workflows.mlflow_server import MlflowServer
from electroloop.workflows.tracking import MlflowTracker

os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def real_trials(home: Path, trials: int) -> list[TrialRecord]:
    """Records of a Sobol campaign on the simulated lab (transcripts and all)."""
    spec = default_campaign().model_copy(update={"planner": "sobol", "budget": trials})
    records: list[TrialRecord] = []
    oracle = simulator_oracle(spec)
    with assemble(spec, Settings(home=home), "bench-trials", [records.append], oracle) as lab:
        lab.campaign.run()
    return records


def seconds_per_trial(
    uri: str, home: Path, records: list[TrialRecord], campaigns: int
) -> list[float]:
    """Time `tracker(record)` for every record, in `campaigns` campaign runs."""
    spec = default_campaign().model_copy(update={"planner": "sobol", "budget": len(records)})
    durations = []
    for i in range(campaigns):
        tracker = MlflowTracker(
            uri, home / "mlartifacts", spec.model_copy(update={"seed": i}), f"bench-{i}"
        )
        for record in records:
            started = time.perf_counter()
            tracker(record)
            durations.append(time.perf_counter() - started)
        tracker.finish(
            status="FINISHED",
            trials=len(records),
            failures=0,
            true_optimum=None,
            planner_state=None,
            events=[],
            plots=[],
            summary={},
        )
    return durations


def compare_seconds(uri: str, out: Path, repeats: int = 3) -> float:
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        compare(uri, [], None, out)
        durations.append(time.perf_counter() - started)
    return statistics.median(durations)


def hypervolume_seconds(points: int, objectives: int, repeats: int = 5) -> float:
    """Median seconds for the hypervolume of `points` non-dominated points (the worst case)."""
    rng = np.random.default_rng(0)
    front = np.abs(rng.normal(size=(points, objectives)))
    front /= np.linalg.norm(front, axis=1, keepdims=True)  # on a sphere: all non-dominated
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        hypervolume(front, np.zeros(objectives))
        durations.append(time.perf_counter() - started)
    return statistics.median(durations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=24, help="trials per campaign (24)")
    parser.add_argument("--campaigns", type=int, default=3, help="campaigns per backend (3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        records = real_trials(root / "lab", args.trials)
        sqlite_uri = f"sqlite:///{root / 'local' / 'mlflow.db'}"
        (root / "local").mkdir()
        local = seconds_per_trial(sqlite_uri, root / "local", records, args.campaigns)
        local_compare = compare_seconds(sqlite_uri, root / "cmp-local")
        started = time.perf_counter()
        with MlflowServer(f"sqlite:///{root / 'server.db'}", root / "artifacts") as server:
            startup = time.perf_counter() - started
            remote = seconds_per_trial(server.url, root / "remote", records, args.campaigns)
            remote_compare = compare_seconds(server.url, root / "cmp-remote")
    n = len(local)
    print("## MLflow recording and comparison (issue 4)\n")
    print(
        f"`{Path(__file__).name} --trials {args.trials} --campaigns {args.campaigns}`; "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}.\n"
    )
    print("| what | SQLite file | `mlflow server` (1 worker, loopback) |")
    print("|---|---|---|")
    print(
        "| record one trial (nested run, every instrument's transcript, trial.json, "
        f"metrics), median of {n} "
        f"| {statistics.median(local):.3f} s | {statistics.median(remote):.3f} s |"
    )
    print(
        f"| `compare` of {args.campaigns} campaigns x {args.trials} trials, median of 3 "
        f"| {local_compare:.2f} s | {remote_compare:.2f} s |"
    )
    print(f"| server start (to `/health`) | - | {startup:.1f} s |\n")
    print("| hypervolume of n non-dominated points | m = 2 | m = 3 | m = 4 |")
    print("|---|---|---|---|")
    for points in (100, 300):
        cells = " | ".join(f"{1000 * hypervolume_seconds(points, m):.2f} ms" for m in (2, 3, 4))
        print(f"| n = {points} | {cells} |")


if __name__ == "__main__":
    main()
