"""`python benchmarks/crystal_surrogate.py`: a deep ensemble of CGCNN-class networks learns the
crystal oracle's (CHGNet's) energy per atom of generated substitution crystals (issue 8).

Generates every substitution x strain of the three prototypes in
`electroloop.workflows.crystal_dataset` (315 structures), labels them with CHGNet single points
through the oracle cache (`--cache`; delete it to time labelling from scratch), splits whole
prototype+composition groups 80/20 so test compositions are unseen, trains a 5-member
`DeepEnsemble` of `CrystalGNN` (early stopping on a validation split of training groups) and
prints a Markdown section with accuracy, calibration and two baselines: the training mean, and
ridge regression on element fractions (composition only, no structure).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from electroloop.simulations.oracle.cache import ResultCache
from electroloop.surrogates.calibration import regression_report
from electroloop.surrogates.cgcnn import CrystalGNN
from electroloop.surrogates.ensemble import DeepEnsemble, TrainConfig
from electroloop.workflows.crystal_dataset import (
    CrystalRecord,
    generate,
    label,
    split_by_group,
    to_graphs,
)


def composition_baseline(
    train: Sequence[CrystalRecord], test: Sequence[CrystalRecord], ridge: float = 1e-3
) -> np.ndarray:
    """Ridge regression of energy per atom on element fractions (plus an intercept)."""
    elements = sorted({str(e) for r in [*train, *test] for e in r.structure.composition})

    def features(records: Sequence[CrystalRecord]) -> np.ndarray:
        rows = []
        for r in records:
            fractions = r.structure.composition.fractional_composition
            rows.append([1.0] + [fractions[e] for e in elements])
        return np.array(rows)

    x, y = features(train), np.array([r.energy_per_atom for r in train])
    penalty = ridge * np.eye(x.shape[1])
    penalty[0, 0] = 0.0  # no penalty on the intercept
    weights = np.linalg.solve(x.T @ x + penalty, x.T @ y)
    return features(test) @ weights  # type: ignore[no-any-return]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", type=Path, default=Path("runs/oracle-cache.sqlite"))
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    candidates = generate()
    generate_s = time.perf_counter() - started
    rows_before = len(ResultCache(args.cache))
    started = time.perf_counter()
    records = label(candidates, cache_path=args.cache)
    label_s = time.perf_counter() - started
    computed = len(ResultCache(args.cache)) - rows_before

    train_val, test = split_by_group(records, 0.2, seed=args.seed)
    train, val = split_by_group(train_val, 0.15, seed=args.seed + 1)
    graphs = {name: to_graphs(part) for name, part in (("train", train), ("val", val))}
    test_graphs = to_graphs(test)
    config = TrainConfig(epochs=args.epochs, lr=2e-3, batch_size=16, patience=40, seed=args.seed)
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    ensemble = DeepEnsemble.fit(
        CrystalGNN, graphs["train"], config, members=args.members, val=graphs["val"]
    )
    train_s = time.perf_counter() - started
    epochs = [len(h) for h in ensemble.history]
    prediction = ensemble.predict(test_graphs)
    y = np.array([r.energy_per_atom for r in test])
    report = regression_report(y, prediction.mean, prediction.std)
    constant = np.mean([r.energy_per_atom for r in train_val])
    constant_mae = float(np.mean(np.abs(y - constant)))
    composition_mae = float(np.mean(np.abs(y - composition_baseline(train_val, test))))
    groups = {
        split: len({r.candidate.group for r in part})
        for split, part in (("train", train), ("val", val), ("test", test))
    }

    print("## Crystal surrogate on oracle energies (issue 8)\n")
    print(
        f"Command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} "
        f"{Path(sys.executable).name} benchmarks/crystal_surrogate.py "
        f"--members {args.members} --epochs {args.epochs} --seed {args.seed}`\n"
    )
    print(
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), no GPU.\n"
    )
    print("| quantity | value |")
    print("|---|---|")
    print(
        f"| structures (prototypes x decorations x strains) | {len(records)} "
        f"(3 prototypes, {len({r.candidate.group for r in records})} compositions, "
        f"5 strains) |"
    )
    print(
        f"| split (whole compositions) | train {len(train)} / val {len(val)} / test "
        f"{len(test)} structures; {groups['train']} / {groups['val']} / {groups['test']} "
        "compositions |"
    )
    print(f"| generation time | {generate_s:.2f} s |")
    print(
        f"| labelling time (CHGNet single points incl. model load, {computed} computed, "
        f"{len(records) - computed} from cache) | {label_s:.1f} s "
        f"({label_s / len(records) * 1e3:.0f} ms per structure) |"
    )
    print(
        f"| training time ({args.members} members, epochs run {epochs}, batch 16, "
        f"lr 2e-3, patience 40 on validation NLL) | {train_s:.1f} s |"
    )
    spread = np.mean(
        [
            np.std([r.energy_per_atom for r in records if r.candidate.group == group])
            for group in {r.candidate.group for r in records}
        ]
    )
    print(
        "| energy spread within a composition (mean std over its 5 strains) | "
        f"{spread:.3f} eV/atom |"
    )
    print(
        f"| test energy range / std | {y.min():.2f} .. {y.max():.2f} eV/atom / "
        f"{y.std():.3f} eV/atom |"
    )
    print(f"| **ensemble test MAE** | **{report.mae:.3f} eV/atom** |")
    print(f"| ensemble test RMSE | {report.rmse:.3f} eV/atom |")
    print(f"| ensemble test R² | {report.r2:.3f} |")
    print(f"| coverage of the 90 % interval (ideal 0.90) | {report.coverage90:.2f} |")
    print(f"| mean Gaussian NLL | {report.nll:.2f} |")
    print(f"| mean predicted std | {prediction.std.mean():.3f} eV/atom |")
    print(f"| constant predictor (training mean) MAE | {constant_mae:.3f} eV/atom |")
    print(f"| composition-only ridge on element fractions MAE | {composition_mae:.3f} eV/atom |")


if __name__ == "__main__":
    main()
