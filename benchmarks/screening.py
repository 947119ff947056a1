"""`python benchmarks/screening.py`: end-to-end throughput of `surrogates.screening.screen` on a
100 000-molecule library (issue 8).

The library is enumerated, not downloaded: carbonates, esters, ethers, sulfones, sulfates,
nitriles, glymes, phosphates, borates and orthoesters built from about 60 side groups, then a
fixed-seed sample. A 5-member ensemble of `MolecularGNN`s is trained for a few epochs on
Crippen MolLogP (Wildman & Crippen, J. Chem. Inf. Comput. Sci. 39 (1999) 868) as a stand-in
label: the benchmark measures throughput, not accuracy. Each timed `screen()` call reads the
file, featurises in worker processes, predicts and scores everything; prints a Markdown section.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

GROUPS = (
    # alkyl, branched and cyclic
    "C", "CC", "CCC", "CCCC", "CCCCC", "C(C)C", "CC(C)C", "C(C)(C)C", "C(C)CC", "CCC(C)C",
    "C1CC1", "CC1CC1", "C1CCC1", "C1CCCC1", "C1CCCCC1",
    # fluorinated
    "CF", "CCF", "CC(F)F", "C(F)(F)F", "CC(F)(F)F", "CCC(F)(F)F", "C(F)(F)C(F)(F)F",
    "CC(F)(F)C(F)(F)F", "C(C)C(F)(F)F", "CC(F)C", "C(F)F",
    # nitriles and ethers
    "C#N", "CC#N", "CCC#N", "CCCC#N", "C(C)C#N", "COC", "CCOC", "CCOCC", "CCOCCOC", "COCC#N",
    "C1CCOC1", "C1COCO1", "CC1COC(=O)O1",
    # unsaturated and aromatic
    "C=C", "CC=C", "C#C", "CC#C", "C(=C)C", "c1ccccc1", "Cc1ccccc1", "c1ccc(F)cc1",
    "c1ccc(C#N)cc1", "c1ccncc1", "c1ccoc1",
    # silyl, sulfonyl, phosphorus-free heteroatoms
    "[Si](C)(C)C", "C[Si](C)(C)C", "CS(C)(=O)=O", "CSC", "CCl", "CBr", "CN(C)C", "CC(=O)C",
    "CC(=O)OC", "COC(=O)OC",
)  # fmt: skip

TWO_SLOT = (
    "O=C(O{})O{}",  # carbonate
    "O=C({})O{}",  # ester
    "O({}){}",  # ether
    "O=S(=O)({}){}",  # sulfone
    "O=S(=O)(O{})O{}",  # sulfate
    "O=S(=O)({})O{}",  # sulfonate
    "O({})CCO{}",  # glyme-like
    "O({})CCOCCO{}",
    "O=C(O{})CC(=O)O{}",  # diester
    "O=C(O{})OCCOC(=O)O{}",  # dicarbonate
    "N#CC({}){}",  # nitrile
    "N#CCC({}){}",
    "O=C({}){}",  # ketone
    "O=CN({}){}",  # formamide
    "O=C9OC({})C({})O9",  # substituted ethylene carbonate
)

THREE_SLOT = (
    "O=P(O{})(O{})O{}",  # phosphate
    "B(O{})(O{})O{}",  # borate
    "C(O{})(O{})O{}",  # orthoformate
)


def library(n: int, seed: int = 0) -> list[str]:
    """`n` distinct SMILES strings (a fixed-seed sample of the enumeration)."""
    pairs = itertools.combinations_with_replacement(GROUPS, 2)
    triples = itertools.combinations_with_replacement(GROUPS, 3)
    two = [template.format(a, b) for a, b in pairs for template in TWO_SLOT]
    three = [template.format(a, b, c) for a, b, c in triples for template in THREE_SLOT]
    everything = sorted(set(two + three))
    if n > len(everything):
        raise SystemExit(f"asked for {n} molecules; the enumeration has {len(everything)}")
    return random.Random(seed).sample(everything, n)


def write_smi(smiles: list[str], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("# enumerated electrolyte-like library, benchmarks/screening.py\n")
        for i, text in enumerate(smiles):
            handle.write(f"{text} mol{i:06d}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--molecules", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--chunk-size", type=int, default=2048)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train", type=int, default=500)
    args = parser.parse_args()

    # Heavy imports here, not at the top: pool workers import this module as their __main__.
    import numpy as np
    import torch
    from rdkit import Chem
    from rdkit.Chem import Crippen

    from electroloop.surrogates.ensemble import DeepEnsemble, TrainConfig
    from electroloop.surrogates.molecular_gnn import MolecularGNN
    from electroloop.surrogates.molecule_graph import encode_many, featurize_many
    from electroloop.surrogates.screening import predict_encoded, screen, write_csv

    load_before = os.getloadavg()
    torch.set_num_threads(1)  # small batches: extra threads only spin against each other
    started = time.perf_counter()
    smiles = library(args.molecules)
    build_s = time.perf_counter() - started

    started = time.perf_counter()
    train_smiles = random.Random(1).sample(smiles, args.train)
    graphs, bad = featurize_many(train_smiles)
    valid = [s for i, s in enumerate(train_smiles) if i not in dict(bad)]
    for graph, text in zip(graphs, valid, strict=True):
        graph.y = torch.tensor([Crippen.MolLogP(Chem.MolFromSmiles(text))], dtype=torch.float32)
    config = TrainConfig(epochs=args.epochs, lr=3e-3, batch_size=32)
    ensemble = DeepEnsemble.fit(MolecularGNN, graphs, config, members=args.members)
    train_s = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "library.smi"
        write_smi(smiles, path)
        seconds = []
        for _ in range(args.repeats):
            result = screen(path, ensemble, chunk_size=args.chunk_size, workers=args.workers)
            seconds.append(result.seconds)
        started = time.perf_counter()
        write_csv(result, Path(scratch) / "ranked.csv")
        csv_s = time.perf_counter() - started

    # The two halves of the work, each alone in this process, for the CPU cost per molecule.
    sample = smiles[: min(10_000, len(smiles))]
    started = time.process_time()
    encoded = encode_many(sample)
    encode_rate = len(sample) / (time.process_time() - started)
    started = time.process_time()
    predict_encoded(ensemble, encoded)
    predict_rate = len(sample) / (time.process_time() - started)

    median = statistics.median(seconds)
    atoms = np.mean([Chem.MolFromSmiles(s).GetNumAtoms() for s in smiles[:2000]])
    best = result.top(1)[0]
    print("## Screening throughput (issue 8)\n")
    command = " ".join(["python", "benchmarks/screening.py", *sys.argv[1:]])
    print(
        f"Command: `{command}`  \n"
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, torch {torch.__version__}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; 1-min load average "
        f"{load_before[0]:.1f} when it started (other processes' work on the same cores)\n"
    )
    print("| step | value |")
    print("|---|---|")
    print(f"| library | {args.molecules} SMILES, {atoms:.1f} heavy atoms on average |")
    print(f"| invalid lines reported | {result.n_invalid} |")
    print(f"| library enumeration | {build_s:.2f} s |")
    print(
        f"| ensemble training ({args.members} × MolecularGNN(64, 3), {len(graphs)} molecules, "
        f"{args.epochs} epochs) | {train_s:.1f} s |"
    )
    print(
        f"| `screen()` end to end, {args.workers} workers, chunks of {args.chunk_size} "
        f"(median of {args.repeats}) | **{median:.1f} s** "
        f"({', '.join(f'{s:.1f}' for s in seconds)}) |"
    )
    print(f"| throughput | **{result.n_read / median:,.0f} molecules/s** |")
    print(
        f"| CPU cost, featurisation alone (1 process, {len(sample)} molecules) | "
        f"{1e6 / encode_rate:.0f} µs/molecule ({encode_rate:,.0f}/s) |"
    )
    print(
        f"| CPU cost, prediction alone ({args.members} members, 1 thread) | "
        f"{1e6 / predict_rate:.0f} µs/molecule ({predict_rate:,.0f}/s) |"
    )
    print(f"| `write_csv` of the ranked result | {csv_s:.2f} s |")
    print(
        f"\nTop molecule (UCB, κ = 1): `{best.smiles}` (predicted MolLogP "
        f"{best.mean:.2f} ± {best.std:.2f})."
    )


if __name__ == "__main__":
    main()
