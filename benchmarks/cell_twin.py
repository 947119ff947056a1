"""Speed of the PyBaMM cell twin: seconds per simulated cycle (SPMe vs DFN) and a cache hit.

Prints a Markdown section for BENCHMARKS.md; medians over repeats measured in this one run.
Each repeat uses a fresh `CellTwin` and a slightly different conductivity so nothing is cached.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import pybamm

from electroloop.simulations.cell_twin import CellTwin, Electrolyte, cycling, rate_test

FORMULATION = {"EC": 0.3, "EMC": 0.68, "VC": 0.02}


def seconds_per_cycle(model: str, cycles: int, repeats: int, c_rate: float) -> float:
    """Median wall seconds per cycle of an uncached `cycling(cycles, c_rate)` run."""
    per_cycle = []
    for i in range(repeats):
        twin = CellTwin(model=model)  # type: ignore[arg-type]
        electrolyte = Electrolyte(FORMULATION, conductivity=9.0 + 0.01 * i)
        start = time.perf_counter()
        twin.run(cycling(cycles, c_rate), electrolyte)
        per_cycle.append((time.perf_counter() - start) / cycles)
    return statistics.median(per_cycle)


def cache_seconds(folder: Path, repeats: int) -> tuple[float, float]:
    """(memory hit, disk hit) median wall seconds for a 4-discharge rate test."""
    electrolyte = Electrolyte(FORMULATION, conductivity=9.0)
    twin = CellTwin(cache_dir=folder)
    twin.run(rate_test(), electrolyte)
    memory, disk = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        twin.run(rate_test(), electrolyte)
        memory.append(time.perf_counter() - start)
        other = CellTwin(cache_dir=folder)
        start = time.perf_counter()
        other.run(rate_test(), electrolyte)
        disk.append(time.perf_counter() - start)
        assert other.solves == 0
    return statistics.median(memory), statistics.median(disk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    CellTwin().run(cycling(1, 1.0), Electrolyte(FORMULATION, conductivity=8.0))  # warm imports
    rows = []
    for model in ("SPMe", "DFN"):
        for c_rate in (0.5, 1.0):
            s = seconds_per_cycle(model, args.cycles, args.repeats, c_rate)
            rows.append(f"| {model} | {c_rate:g}C | {args.cycles} | {s:.3f} |")
    with tempfile.TemporaryDirectory() as folder:
        memory, disk = cache_seconds(Path(folder), args.repeats)
    print("## Cell twin (PyBaMM OKane2022: SEI + lithium plating)\n")
    print(
        f"PyBaMM {pybamm.__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}; median of {args.repeats} uncached runs, wall time including "
        "model build (`benchmarks/cell_twin.py`).\n"
    )
    print("| model | C-rate | cycles per run | seconds per simulated cycle |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    print(
        f"\nCache hit (rate test, 4 cycles): memory {memory * 1e3:.3f} ms, "
        f"disk JSON {disk * 1e3:.2f} ms."
    )


if __name__ == "__main__":
    main()
