"""Leave-one-source-out errors of the electrolyte conductivity model, as a Markdown section.

Run: `.venv/bin/python benchmarks/electrolyte_fit.py [path/to/shared/data]`. Each CALiSol-23
source (DOI) is held out in turn, the model is refitted on the others and scored on the held-out
rows inside the refitted model's validity domain.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

from electroloop.simulations.calisol import load_calisol
from electroloop.simulations.electrolyte import CARBONATES, FORMS, SALTS, T0_GRID, loso
from electroloop.simulations.electrolyte_form import LEGACY_FORM


def main() -> None:
    """Print the section."""
    root = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    data = load_calisol(root / "calisol23")
    start = time.perf_counter()
    print("## Electrolyte conductivity model (CALiSol-23, leave-one-source-out)\n")
    print("| salt | scored rows | form | sources | rows in domain / held out | MAE mS/cm | R² |")
    print("|---|---|---|---:|---:|---:|---:|")
    runs = [(salt, None, "all") for salt in SALTS]
    runs.insert(1, ("LiPF6", CARBONATES, "carbonates"))
    for salt, solvents, label in runs:
        shipped = FORMS.get(salt, LEGACY_FORM)
        forms = [(f"{shipped} + VTF + binary terms (shipped)", {})]
        if salt == "LiPF6":
            forms += [
                ("without binary w_i·w_j terms", {"pairs": False}),
                ("Arrhenius instead of VTF", {"t0_grid": (0.0,)}),
            ]
        for form, kwargs in forms:
            r = loso(data, salt, solvents=solvents, **kwargs)  # type: ignore[arg-type]
            print(
                f"| {salt} | {label} | {form} | {r.n_sources} | {r.n_covered} / {r.n_total} "
                f"| {r.mae:.3f} | {r.r2:.3f} |"
            )
    seconds = time.perf_counter() - start
    print(
        f"\nT₀ grid {T0_GRID} K. Command: `.venv/bin/python benchmarks/electrolyte_fit.py`; "
        f"{seconds:.1f} s on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}."
    )


if __name__ == "__main__":
    main()
