"""`make bench`: does labelling the most uncertain molecules first beat labelling at random?

Both strategies start from the same random molecules of the built-in solvent-like library,
label GFN2-xTB ionisation potentials through the oracle (cached), retrain a deep ensemble of
`MolecularGNN`s each round and are scored on the same held-out molecules. Prints a Markdown
section for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from electroloop.surrogates.ensemble import TrainConfig
from electroloop.workflows.molecule_library import solvent_like_library
from electroloop.workflows.surrogate_training import train_molecule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=4, help="repeats per strategy (4)")
    parser.add_argument("--members", type=int, default=3, help="ensemble members (3)")
    parser.add_argument("--epochs", type=int, default=40, help="epochs per member (40)")
    args = parser.parse_args()
    library = solvent_like_library()
    test, pool = library[:100], library[100:]
    config = TrainConfig(epochs=args.epochs, lr=3e-3, batch_size=32)
    curves: dict[str, list[list[float]]] = {"uncertainty": [], "random": []}
    counts: list[int] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        for seed in range(args.seeds):
            for strategy in curves:
                _, result = train_molecule(
                    pool,
                    test,
                    "ip",
                    Path(cache) / "oracle.sqlite",
                    members=args.members,
                    config=config,
                    seed=seed,
                    strategy=strategy,  # type: ignore[arg-type]
                )
                counts = [r.labelled for r in result.rounds]
                curves[strategy].append([r.report.mae for r in result.rounds])
    total = time.perf_counter() - started
    print("## Active learning on xTB ionisation potentials (issue 8)\n")
    print(
        f"`python benchmarks/active_learning.py --seeds {args.seeds} --members {args.members} "
        f"--epochs {args.epochs}`; {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; {total:.0f} s.\n"
    )
    print(
        f"Pool {len(pool)} molecules, test {len(test)} (GFN2-xTB IP, eV); test MAE (eV), mean "
        f"of {args.seeds} seeds:\n"
    )
    print("| labelled | " + " | ".join(str(c) for c in counts) + " |")
    print("|---|" + "---|" * len(counts))
    for strategy, runs in curves.items():
        means = [sum(run[i] for run in runs) / len(runs) for i in range(len(counts))]
        print(f"| {strategy} | " + " | ".join(f"{m:.3f}" for m in means) + " |")


if __name__ == "__main__":
    main()
