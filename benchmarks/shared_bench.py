"""`make bench`: issue 21's load test, N campaigns at once on one shared bench.

One bench served by `electroloop sim up` in its own process (a PreciseFlex arm, an MT-SICS
balance, a Cavro pump per stock and a conductivity meter: `examples/labs/lab.arm.toml`, its rack
widened to N × budget slots), Prefect and MLflow started by `electroloop up`, and one
orchestrator process running N conductivity-campaign flows at once (threads), each step of a
trial waiting its turn in the lease queue. Measured afterwards, from the lab's lease history and
the event log:

- throughput: trials finished per minute of wall time;
- bench busy: the time some step held the arm (every step needs it) over the span from the
  first grant to the last release;
- lease waits and step latency (ask → release), median and p95, and per campaign, so a
  starved campaign shows (its median wait against everyone's);
- lost or duplicated measurements: every trial of each campaign ended (measured, or failed with
  its reason), none was measured twice, no two holds of one instrument overlapped, and MLflow
  holds exactly one trial run per ended trial.

    python benchmarks/shared_bench.py [--campaigns 8,32] [--budget 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

from tests.integration.served import sim_up  # noqa: E402  the tests' `sim up` process

LAB = REPO / "examples" / "labs" / "lab.arm.toml"
SPEEDUP = 30.0
"""Instrument time runs this much faster than the wall clock. At the lab file's 600 a step (arm
moves, then dosing or a reading) holds the bench for about 30 ms, no longer than the flow's own
bookkeeping around it, so the test would measure Prefect rather than the bench. At 30 a step
holds it for about 0.2 s, and waiting steps look at the queue every 1/30 s
(`ELECTROLOOP_LEASE_POLL`): a real lab's 1 s, in bench time."""
RACK_ORIGINS = ((200.0, -150.0), (200.0, -290.0), (-375.0, -150.0), (-375.0, -290.0))
"""x, y (mm) of slot A1 of racks 1-4: within the PF400's reach, clear of balance and meter."""


def wide_lab(folder: Path, slots: int, speedup: float) -> Path:
    """lab.arm.toml with arm poses taught for `slots` rack slots (racks of 4 × 6, 35 mm pitch),
    its instruments' time `speedup` times faster than the wall clock."""
    from electroloop.samples import RACK_COLUMNS, RACK_ROWS, rack_slot

    if slots > len(RACK_ORIGINS) * len(RACK_ROWS) * RACK_COLUMNS:
        raise SystemExit(f"--campaigns × --budget = {slots} slots: at most 96 (4 racks)")
    lines = []
    for number in range(25, slots + 1):
        slot = rack_slot(number)
        rack, place = int(slot[5 : slot.index(":")]), slot[slot.index(":") + 1 :]
        x0, y0 = RACK_ORIGINS[rack - 1]
        x = x0 + 35.0 * (int(place[1:]) - 1)
        y = y0 + 35.0 * RACK_ROWS.index(place[0])
        lines.append(f'"{slot}" = [{x:.1f}, {y:.1f}, 40.0, 0.0, 90.0, 180.0, 1]')
    path = folder / "lab.wide.toml"
    text = LAB.read_text(encoding="utf-8")
    assert "\nspeedup = 600.0" in text
    text = text.replace("\nspeedup = 600.0", f"\nspeedup = {speedup}", 1)
    path.write_text(text + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def busy_fraction(holds: list) -> float:
    """Time covered by the union of holds over the span from the first grant to the last
    release."""
    spans = sorted((h.granted_at, h.released_at) for h in holds)
    covered, end = 0.0, spans[0][0]
    for start, stop in spans:
        covered += max(0.0, stop - max(start, end))
        end = max(end, stop)
    return covered / (max(s for _, s in spans) - spans[0][0])


def run(campaigns: int, budget: int, speedup: float, folder: Path) -> dict[str, float]:
    """N campaign flows at once in one process on one served bench; the measured figures."""
    from electroloop.workflows.services import ServiceConfig, down, up

    home = folder / f"home-{campaigns}"
    services = up(ServiceConfig(home, prefect_port=0, mlflow_port=0))
    os.environ |= {  # before Prefect is imported: its settings are read then
        "ELECTROLOOP_HOME": str(home),
        "ELECTROLOOP_TRACKING_URI": services.mlflow.url,
        "PREFECT_API_URL": services.prefect.api_url,
        "ELECTROLOOP_LEASE_POLL": str(1.0 / speedup),  # a lab's 1 s poll, in bench time
    }
    from mlflow import MlflowClient

    from electroloop.kinds.electrolyte.campaign import default_campaign
    from electroloop.kinds.registry import design_types, parse_campaign
    from electroloop.orchestrator.lease_queue import LeaseQueue
    from electroloop.orchestrator.leases import LeaseBook
    from electroloop.orchestrator.store import CampaignStore
    from electroloop.settings import Settings
    from electroloop.workflows.flows import CampaignSummary, conductivity_campaign
    from electroloop.workflows.tracking import trial_runs

    summaries: dict[str, CampaignSummary] = {}
    errors: list[BaseException] = []
    try:
        lab_file = wide_lab(folder, campaigns * budget, speedup)
        with sim_up(lab_file, folder / "lab.local.toml") as lab:
            base = default_campaign().model_dump(mode="json")
            base |= {"planner": "sobol", "budget": budget, "batch_size": 1, "lab": str(lab)}

            def campaign(index: int) -> None:
                spec = parse_campaign(base | {"name": f"load-{index}", "seed": index}, "bench")
                try:
                    summaries[f"load-{index:02d}"] = conductivity_campaign(
                        spec, f"load-{index:02d}"
                    )
                except BaseException as error:  # noqa: BLE001  reported below
                    errors.append(error)

            started = time.time()
            threads = [threading.Thread(target=campaign, args=(i,)) for i in range(campaigns)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.time() - started
        if errors:
            raise RuntimeError(f"{len(errors)} campaigns failed; first: {errors[0]!r}")
        settings = Settings()
        with LeaseBook(settings.store) as book:
            holds = LeaseQueue(book).history(since=started)
        with CampaignStore(settings.store, designs=design_types()) as store:
            states = {c: store.state(c) for c in store.campaign_ids()}
        mlflow = MlflowClient(services.mlflow.url)
        lost = duplicated = failed = unrecorded = 0
        reasons: list[str] = []
        for campaign_id, state in states.items():
            ended = set(state.observations) | set(state.failures)  # measured, or failed why
            lost += budget - len(ended)
            failed += len(state.failures)
            reasons += state.failures.values()
            duplicated += sum(len(m) - 1 for m in state.measurements.values())
            summary = summaries[campaign_id]
            runs = trial_runs(mlflow, summary.mlflow_experiment_id, summary.mlflow_run_id)
            tagged = [r.data.tags["electroloop.candidate_id"] for r in runs]
            unrecorded += len(ended ^ set(tagged)) + len(tagged) - len(set(tagged))
    finally:
        down(home)
    overlaps = sum(  # two holds of one instrument at once: must never happen
        1
        for i, a in enumerate(holds)
        for b in holds[i + 1 :]
        if set(a.resources) & set(b.resources) and b.granted_at < a.released_at
    )
    waits = [h.wait for h in holds]
    latency = [h.released_at - h.asked_at for h in holds]
    by_campaign = {}
    for h in holds:
        by_campaign.setdefault(h.holder.split("/")[0], []).append(h.wait)
    worst = max(statistics.median(w) for w in by_campaign.values())
    return {
        "campaigns": campaigns,
        "trials": campaigns * budget,
        "wall": wall,
        "per_minute": 60.0 * campaigns * budget / wall,
        "busy": busy_fraction(holds),
        "wait_median": statistics.median(waits),
        "wait_p95": percentile(waits, 0.95),
        "worst_campaign_median_wait": worst,
        "latency_p95": percentile(latency, 0.95),
        "hold_median": statistics.median(h.released_at - h.granted_at for h in holds),
        "failed": failed,
        "failures": reasons,
        "lost": lost,
        "duplicated": duplicated,
        "overlaps": overlaps,
        "mlflow_mismatch": unrecorded,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaigns", default="8,32", help="comma-separated N")
    parser.add_argument("--budget", type=int, default=3, help="trials per campaign")
    parser.add_argument(
        "--speedup",
        type=float,
        default=SPEEDUP,
        help=f"instrument time over wall time on the bench (default {SPEEDUP:g})",
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # one N, in this process
    args = parser.parse_args()
    if args.one is not None:
        with tempfile.TemporaryDirectory() as folder:
            print(json.dumps(run(args.one, args.budget, args.speedup, Path(folder))), flush=True)
        return
    rows = []
    for n in args.campaigns.split(","):
        # Each N in a process of its own: Prefect reads its server's address once per process.
        command = [sys.executable, __file__, "--one", n, "--budget", str(args.budget)]
        done = subprocess.run(
            [*command, "--speedup", str(args.speedup)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"{n} campaigns failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    print(
        f"\nMachine: {platform.platform()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}. `python benchmarks/shared_bench.py --campaigns "
        f"{args.campaigns} --budget {args.budget} --speedup {args.speedup:g}`\n"
    )
    print(
        "| campaigns | trials | wall | trials/min | bench busy | wait median | wait p95 | "
        "slowest campaign's median wait | step latency p95 | hold median | failed | lost | "
        "duplicated | overlapping holds | MLflow ≠ log |"
    )
    print("|---" * 15 + "|")
    for r in rows:
        print(
            f"| {r['campaigns']} | {r['trials']} | {r['wall']:.0f} s | {r['per_minute']:.1f} | "
            f"{100 * r['busy']:.0f} % | {r['wait_median']:.2f} s | {r['wait_p95']:.2f} s | "
            f"{r['worst_campaign_median_wait']:.2f} s | {r['latency_p95']:.2f} s | "
            f"{r['hold_median']:.2f} s | {r['failed']} | {r['lost']} | {r['duplicated']} | "
            f"{r['overlaps']} | {r['mlflow_mismatch']} |"
        )
    for r in rows:
        for reason in r["failures"]:
            print(f"\nA trial of the {r['campaigns']}-campaign run failed: {reason}")


if __name__ == "__main__":
    main()
