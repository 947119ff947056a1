"""`make bench`: the demo's wall time, per-trial orchestration overhead, Ax `ask` latency, the
arm's per-trial time and the Neware simulator's ingest rate.

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

from instruments import dose_and_measure  # benchmarks/instruments.py, beside this script

from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.kinds.registry import parse_campaign
from electroloop.models import Observation
from electroloop.orchestrator.store import CampaignStore
from electroloop.settings import Settings
from electroloop.simulations.conductivity import conductivity
from electroloop.simulations.optimum import true_value


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
        for number, candidate in enumerate(loop.propose() + loop.propose(), start=1):
            started = time.perf_counter()
            dose_and_measure(assembly, candidate, number)
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
    result: dict[int, list[float]] = {n: [] for n in completed}
    for repeat in range(repeats):
        planner = AxPlanner(spec.space, spec.goal, seed=repeat)
        told = 0
        while told <= max(completed):
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
                        values={"conductivity": true_value(spec.space, c.formulation)},
                    )
                    for c in batch
                ]
            )
            told += len(batch)
    return {n: statistics.median(v) for n, v in result.items() if v}


def ax_constrained_ask_latency(completed: list[int]) -> dict[int, float]:
    """Seconds of Ax get_next_trials(4) with the mixture as a linear constraint (one seed).

    The alternative to `MixtureMap`: EC and EMC free, DMC = 1 − EC − EMC, constraint
    EC + EMC <= 1. Measured here so the ratio to the mapped formulation comes from one run.
    """
    from ax.api import Client, RangeParameterConfig

    spec = default_campaign()
    smiles = {s.name: s.canonical_smiles for s in spec.solvents}
    client = Client(random_seed=0)
    client.configure_experiment(
        name="constrained",
        parameters=[
            RangeParameterConfig(name="EC", bounds=(0.1, 0.6), parameter_type="float"),
            RangeParameterConfig(name="EMC", bounds=(0.0, 0.9), parameter_type="float"),
            RangeParameterConfig(name="molality", bounds=(0.5, 2.0), parameter_type="float"),
        ],
        parameter_constraints=["EC + EMC <= 1.0"],
    )
    client.configure_optimization(objective="conductivity")
    client.configure_generation_strategy(
        initialization_budget=8, allow_exceeding_initialization_budget=True
    )
    result: dict[int, float] = {}
    told = 0
    while told <= max(completed):
        started = time.perf_counter()
        trials = client.get_next_trials(max_trials=4)
        if told in completed:
            result[told] = time.perf_counter() - started
        for index, p in trials.items():
            fractions = {
                smiles["EC"]: p["EC"],
                smiles["EMC"]: p["EMC"],
                smiles["DMC"]: max(0.0, 1.0 - p["EC"] - p["EMC"]),
            }
            value = conductivity(fractions, spec.salt.canonical_smiles, p["molality"], 25.0)
            client.complete_trial(trial_index=index, raw_data={"conductivity": value})
        told += len(trials)
    return result


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
        constrained = ax_constrained_ask_latency([8, 20])
        print(
            "\n| completed trials | AxPlanner ask(4), mixture map, median of 3 [s] "
            "| Ax with sum constraint, 1 run [s] |\n|---|---|---|"
        )
        for n, seconds in latency.items():
            other = f"{constrained[n]:.2f}" if n in constrained else "-"
            print(f"| {n} | {seconds:.2f} | {other} |")
        for script in ("arm_trial.py", "neware_ingest.py"):  # the real bench (issue 18)
            out = subprocess.run(
                [sys.executable, str(Path(__file__).with_name(script))],
                capture_output=True,
                text=True,
                check=True,
            )
            print("\n" + out.stdout.strip())


if __name__ == "__main__":
    main()
