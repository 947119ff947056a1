"""Per-trial wall time with the simulated PreciseFlex arm moving the vials vs the simulated bench
moving them, same campaign, same run.

Both labs are `examples/labs/lab.arm.toml`; the bench's is that file without its ``[arm]``
section, so the mover is the only difference. A trial is `Campaign.run_trial` (vial to the
balance, dosing, check standard when due, vial to the meter, reading, vial back to its slot,
every fact in the event log; no Prefect, no MLflow). Prints a Markdown section for
BENCHMARKS.md with the machine and the command.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.kinds.registry import parse_campaign
from electroloop.settings import Settings
from electroloop.workflows.build import assemble

LAB = Path(__file__).resolve().parents[1] / "examples" / "labs" / "lab.arm.toml"


def trial_seconds(lab: Path, home: Path, trials: int, name: str) -> list[float]:
    """Wall seconds of each of `trials` trials of a Sobol conductivity campaign in `lab`."""
    data: dict[str, Any] = default_campaign().model_dump(mode="json")
    data |= {"name": name, "planner": "sobol", "budget": trials, "batch_size": 4, "lab": str(lab)}
    spec = parse_campaign(data, "benchmark")
    durations: list[float] = []
    with assemble(spec, Settings(home=home), name, []) as assembly:
        loop = assembly.campaign
        loop.start()
        while len(durations) < trials:
            for candidate in loop.propose():
                started = time.perf_counter()
                record = loop.run_trial(candidate)
                durations.append(time.perf_counter() - started)
                assert record.failure is None, record.failure
    return durations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=8, help="trials per mover (default 8)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        data = tomllib.loads(LAB.read_text("utf-8"))
        data.pop("arm")
        data["name"] = "simulated bench (no arm)"
        bench_lab = home / "lab.bench.toml"
        bench_lab.write_text(tomli_w.dumps(data), "utf-8")
        bench = trial_seconds(bench_lab, home, args.trials, "bench-mover")
        arm = trial_seconds(LAB, home, args.trials, "arm-mover")
    bench_median, arm_median = statistics.median(bench), statistics.median(arm)
    print("## Per-trial time: simulated PreciseFlex arm vs simulated bench as vial mover\n")
    print(f"Same campaign (Sobol, {args.trials} trials each), same run; lab speedup 600x.\n")
    print("| vial mover | median s/trial | min | max |")
    print("|---|---|---|---|")
    for label, times in (("simulated bench", bench), ("PreciseFlex arm simulator", arm)):
        median = statistics.median(times)
        print(f"| {label} | {median:.3f} | {min(times):.3f} | {max(times):.3f} |")
    print(f"\nRatio arm / bench: {arm_median / bench_median:.2f}x.\n")
    print(
        f"Command: `.venv/bin/python benchmarks/arm_trial.py --trials {args.trials}`; "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform(terse=True)}."
    )


if __name__ == "__main__":
    main()
