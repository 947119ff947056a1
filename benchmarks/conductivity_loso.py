"""Leave-one-source-out errors of the simulator's conductivity physics over every held-out row.

Run: `PYTHONPATH=src .venv/bin/python benchmarks/conductivity_loso.py [--fast] [shared/data]`.
Each CALiSol-23 source with LiPF6 in carbonates is held out in turn, the physics is refitted on
the other sources (any LiPF6 row) and asked for every held-out row: rows it refuses are counted,
not dropped. Old physics = `physics` @1 (Landesfeind tier + Casteel–Amis tier 2); new = @2.
`--fast` scores LiPF6 in EC/EMC/DMC only (the demo's chemistry; about a minute).
Prints a Markdown section (with the command and machine) to stdout.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

from electroloop.simulations.calisol import CalisolPoint, load_calisol
from electroloop.simulations.conductivity_fitters import (
    LEGACY,
    electrolyte_fitter,
    physics_fitter,
    tiered_fitter,
)
from electroloop.simulations.conductivity_loso import (
    BANDS,
    Fitter,
    LosoReport,
    lipf6_in_carbonates,
    loso,
)

MODELS: list[tuple[str, Fitter]] = [
    (
        "old physics (@1: Landesfeind tier + Casteel–Amis), refusing as the simulator",
        tiered_fitter(**LEGACY),
    ),
    ("old physics, refused rows forced through tier 2", tiered_fitter(force=True, **LEGACY)),
    (
        "new physics (@2: Kohlrausch–Casteel–Amis, one model), refusing as the simulator",
        physics_fitter(),
    ),
    ("new physics, refused rows forced", physics_fitter(force=True)),
    ("CALiSol model @1 alone, every row computed", electrolyte_fitter(**LEGACY)),
]


def _cell(value: float, signed: bool = False) -> str:
    return "–" if value != value else (f"{value:+.2f}" if signed else f"{value:.2f}")


def _row(name: str, r: LosoReport) -> str:
    o = r.overall
    bands = " | ".join(
        f"{_cell(s.bias, True)} / {_cell(s.mae)} ({s.scored}/{s.n})" for s in r.by_band.values()
    )
    return (
        f"| {name} | {o.n} | {o.refused} | {o.extrapolated} | {_cell(o.mae)} | "
        f"{_cell(o.bias, True)} | {bands} |"
    )


def _table(
    title: str, scored: list[CalisolPoint], pool: list[CalisolPoint]
) -> dict[str, LosoReport]:
    print(f"### {title}\n")
    bands = " | ".join(f"bias / MAE (scored/rows), {name} mol/kg" for name, _, _ in BANDS)
    print(f"| model | rows held out | refused | extrapolated | MAE mS/cm | bias | {bands} |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    reports = {}
    for name, fitter in MODELS:
        reports[name] = loso(name, fitter, scored, pool)
        print(_row(name, reports[name]), flush=True)
    print()
    return reports


def _per_source(old: LosoReport, new: LosoReport) -> None:
    print(
        "| held-out source | rows | old refused | old MAE / bias | new refused | new MAE / bias |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for doi, a in old.by_source.items():
        b = new.by_source[doi]
        print(
            f"| {doi} | {a.n} | {a.refused} | {_cell(a.mae)} / {_cell(a.bias, True)} | "
            f"{b.refused} | {_cell(b.mae)} / {_cell(b.bias, True)} |"
        )
    print()


def main() -> None:
    """Print the section."""
    args = [a for a in sys.argv[1:] if a != "--fast"]
    fast = "--fast" in sys.argv[1:]
    root = Path(args[0]) if args else Path(__file__).resolve().parents[2] / "shared" / "data"
    data = load_calisol(root / "calisol23")
    pool = [p for p in data.points if p.salt == "LiPF6"]
    carbonates = lipf6_in_carbonates(pool)
    demo = [p for p in carbonates if p.solvents <= {"EC", "EMC", "DMC"}]
    start = time.perf_counter()
    print("## Conductivity physics, leave-one-source-out over every held-out row (issue 20)\n")
    print(
        "Bias = mean(model − measured), mS/cm. A refused row has no value (outside the domain "
        "plus dosing margin); forced rows are computed anyway and flagged as extrapolated.\n"
    )
    scopes = [("LiPF6 in EC/EMC/DMC (the demo's chemistry)", demo)]
    if not fast:
        scopes.append(("LiPF6 in any carbonates (EC, PC, DMC, EMC, DEC, FEC)", carbonates))
    for title, scored in scopes:
        reports = _table(title, scored, pool)
        names = [name for name, _ in MODELS]
        _per_source(reports[names[0]], reports[names[2]])
    seconds = time.perf_counter() - start
    command = "PYTHONPATH=src .venv/bin/python benchmarks/conductivity_loso.py" + (
        " --fast" if fast else ""
    )
    print(
        f"Command: `{command}`; {seconds:.0f} s on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}."
    )


if __name__ == "__main__":
    main()
