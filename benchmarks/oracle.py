"""`python benchmarks/oracle.py`: seconds per molecule of the GFN2-xTB oracle (single point and
ΔSCF IP/EA) on common electrolyte solvents, and seconds per crystal relaxation with CHGNet / EMT.

Prints a Markdown section; medians over `--repeats` runs measured in this one process. The first
CHGNet call (model load) is reported on its own. Run with OMP_NUM_THREADS=1 on a shared machine:
tblite's OpenMP threads spin when a core is busy and single points then take seconds, not ms.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

from pymatgen.core import Lattice, Structure

from electroloop.simulations.oracle import crystals, molecules

SOLVENTS = {
    "EC": "O=C1OCCO1",
    "PC": "CC1COC(=O)O1",
    "DMC": "COC(=O)OC",
    "EMC": "CCOC(=O)OC",
    "DEC": "CCOC(=O)OCC",
    "FEC": "O=C1OCC(F)O1",
    "VC": "O=C1OC=CO1",
    "DME": "COCCOC",
    "DOL": "C1COCO1",
    "THF": "C1CCOC1",
    "GBL": "O=C1CCCO1",
    "ACN": "CC#N",
}


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Median wall seconds of `run()` over `repeats` calls."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def molecule_rows(repeats: int) -> list[str]:
    rows = []
    params = molecules.XtbParameters()
    for name, smiles in SOLVENTS.items():
        atoms = molecules.embed(smiles, params)
        embed = median_seconds(lambda s=smiles: molecules.embed(s, params), repeats)
        sp = median_seconds(lambda a=atoms: molecules.single_point(a, 0, params), repeats)
        full = median_seconds(lambda s=smiles: molecules.evaluate(s, params), repeats)
        r = molecules.evaluate(smiles, params)
        rows.append(
            f"| {name} | {len(atoms)} | {embed * 1e3:.1f} | {sp * 1e3:.1f} | {full * 1e3:.1f} | "
            f"{r.ip:.2f} | {r.ea:.2f} | {r.oxidation_potential:.2f} |"
        )
    return rows


def optimisation_seconds() -> tuple[float, float]:
    """GFN2 BFGS (fmax 0.05) on EC, then on DEC: wall seconds each."""
    params = molecules.XtbParameters(optimize=True)
    out = []
    for smiles in ("O=C1OCCO1", "CCOC(=O)OCC"):
        started = time.perf_counter()
        molecules.evaluate(smiles, params)
        out.append(time.perf_counter() - started)
    return out[0], out[1]


def crystal_rows() -> list[str]:
    lif = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(4.3), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    si = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.6), ["Si"], [[0, 0, 0]])
    cu = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.7), ["Cu"], [[0, 0, 0]])
    chgnet = crystals.CalculatorConfig(name="chgnet")
    emt = crystals.CalculatorConfig(name="emt")
    started = time.perf_counter()
    crystals.build_calculator(chgnet)
    rows = [
        f"| CHGNet model load (once per process) | – | – | {time.perf_counter() - started:.2f} |"
    ]
    cases = [
        ("CHGNet LiF rock salt, primitive", lif.get_primitive_structure(), chgnet),
        ("CHGNet LiF rock salt, conventional", lif, chgnet),
        ("CHGNet Si diamond, conventional", si, chgnet),
        ("EMT Cu fcc, conventional", cu, emt),
        ("EMT Cu fcc, 3x3x3 supercell", cu * (3, 3, 3), emt),
    ]
    for label, structure, config in cases:
        started = time.perf_counter()
        result = crystals.relax(structure, config, fmax=0.02, steps=300)
        seconds = time.perf_counter() - started
        rows.append(f"| {label} | {len(structure)} | {result.steps} | {seconds:.2f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print("## ASE oracle\n")
    print(
        f"{platform.machine()}, Python {platform.python_version()}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
        f"medians of {args.repeats} runs, one process.\n"
    )
    print(
        "| solvent | atoms | RDKit conformer ms | GFN2 single point ms "
        "| full (conformer + 3 single points) ms | IP eV | EA eV | E_ox V vs Li (calibrated) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(molecule_rows(args.repeats)))
    ec, dec = optimisation_seconds()
    print(f"\nGFN2 BFGS optimisation (fmax 0.05 eV/Å) + ΔSCF: EC {ec:.2f} s, DEC {dec:.2f} s.\n")
    print("| crystal relaxation (BFGS + FrechetCellFilter, fmax 0.02) | atoms | steps | s |")
    print("|---|---|---|---|")
    print("\n".join(crystal_rows()))


if __name__ == "__main__":
    main()
