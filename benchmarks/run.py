"""`make bench`: the demo's wall time, per-trial orchestration overhead and Ax `ask` latency.

Prints a Markdown report (paste it into BENCHMARKS.md with the machine it ran on). Every number
is a median over repeats measured in this one run, so ratios between them are meaningful.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from electroloop.models import Observation
from electroloop.orchestrator.campaign import default_campaign, parse_campaign
from electroloop.orchestrator.store import CampaignStore
from electroloop.settings import Settings
from electroloop.simulations.conductivity import conductivity


def demo_wall_time(home: Path) -> tuple[float, str]:
    """Seconds for `electroloop demo` in a fresh process and home, and its last lines."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "electroloop.cli", "--home", str(home), "demo"],
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - started, "\n".join(out.stdout.strip().splitlines()[-8:])


def instrument_seconds_per_trial(home: Path, trials: int = 8) -> float:
    """Median seconds one trial spends in the instruments alone (dose + measure, no Prefect)."""
    from electroloop.workflows.build import assemble

    spec = parse_campaign(
        default_campaign().model_dump(mode="json")
        | {"planner": "sobol", "budget": trials, "name": "bench-instruments"}
    )
    durations = []
    with assemble(spec, Settings(home=home), "bench-instruments", []) as assembly:
        loop = assembly.campaign
        loop.start()
        for candidate in loop.propose() + loop.propose():
            started = time.perf_counter()
            loop.experiment.prepare(candidate)
            loop.experiment.measure(candidate)
            durations.append(time.perf_counter() - started)
    return statistics.median(durations)


def flow_seconds_per_trial(home: Path, trials: int = 24) -> float:
    """Seconds per trial inside the full Prefect + MLflow + store loop (Sobol, no BO)."""
    from electroloop.workflows.flows import conductivity_campaign

    spec = parse_campaign(
        default_campaign().model_dump(mode="json")
        | {"planner": "sobol", "budget": trials, "name": "bench-flow"}
    )
    summary = conductivity_campaign(spec)
    with CampaignStore(Settings(home=home).store_path) as store:
        stamps = [
            at
            for kind, at in store.timeline(summary.campaign_id)
            if kind in ("candidates_proposed", "iteration_completed")
        ]
    return (stamps[-1] - stamps[0]).total_seconds() / trials


def ax_ask_latency(completed: list[int], repeats: int = 3) -> dict[int, float]:
    """Median seconds of AxPlanner.ask(4) after `n` completed trials, on the simulator's σ."""
    from electroloop.planners.ax_planner import AxPlanner

    spec = default_campaign()
    smiles = {s.name: s.canonical_smiles for s in spec.solvents}
    salt = spec.salt.canonical_smiles
    result: dict[int, list[float]] = {n: [] for n in completed}
    for repeat in range(repeats):
        planner = AxPlanner(spec.space, spec.objective, seed=repeat)
        told = 0
        while told < max(completed):
            started = time.perf_counter()
            batch = planner.ask(4)
            elapsed = time.perf_counter() - started
            if told in result:
                result[told].append(elapsed)
            planner.tell(
                [
                    Observation(
                        candidate_id=c.id,
                        formulation=c.formulation,
                        values={
                            "conductivity": conductivity(
                                {smiles[k]: v for k, v in c.formulation.fractions.items()},
                                salt,
                                c.formulation.molality,
                                c.formulation.temperature,
                            )
                        },
                    )
                    for c in batch
                ]
            )
            told += len(batch)
    return {n: statistics.median(v) for n, v in result.items() if v}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.setdefault("PREFECT_HOME", str(root / "prefect"))
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        os.environ["ELECTROLOOP_HOME"] = str(root / "flow")
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, {datetime.now():%Y-%m-%d}"
        )
        if not args.skip_demo:
            seconds, tail = demo_wall_time(root / "demo")
            print(f"\n`electroloop demo` wall time: {seconds:.1f} s\n```\n{tail}\n```")
        instrument = instrument_seconds_per_trial(root / "instruments")
        loop = flow_seconds_per_trial(root / "flow")
        print(
            f"\nper trial: instruments {instrument:.3f} s; full loop {loop:.3f} s; "
            f"orchestration overhead {loop - instrument:.3f} s"
        )
        latency = ax_ask_latency([0, 8, 12, 16, 20])
        print("\n| completed trials | Ax ask(4) median [s] |\n|---|---|")
        for n, seconds in latency.items():
            print(f"| {n} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
