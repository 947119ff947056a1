"""Molecules: SMILES -> RDKit conformer -> GFN2-xTB (tblite) energy, vertical IP/EA, HOMO/LUMO
and redox-potential estimates vs Li/Li+.

Method:

- geometry: RDKit ETKDGv3 embedding (fixed seed) and an MMFF94 (or UFF) pre-optimisation;
  optionally a GFN2-xTB optimisation with ASE BFGS;
- electronic structure: GFN2-xTB, C. Bannwarth, S. Ehlert, S. Grimme, J. Chem. Theory Comput. 15
  (2019) 1652, doi:10.1021/acs.jctc.8b01176, through tblite (https://github.com/tblite/tblite);
- vertical IP and EA by ΔSCF at the neutral geometry: IP = E(q+1) − E(q), EA = E(q) − E(q−1),
  each state at its lowest spin (uhf = number of unpaired electrons, 0 or 1);
- potentials vs Li/Li+: E = IP/e − 1.40 V (oxidation) and E = EA/e − 1.40 V (reduction), where
  1.40 V is the absolute potential of Li/Li+ from the absolute SHE potential 4.44 V
  (S. Trasatti, Pure Appl. Chem. 58 (1986) 955, doi:10.1351/pac198658070955) and
  E°(Li+/Li) = −3.04 V vs SHE. Gas-phase GFN2 ΔSCF IPs are several eV too high for this to be
  useful raw, so the oxidation potential is calibrated linearly against the approximate
  experimental values in `REFERENCE_OXIDATION` (see `docs/oracle.md` for the fit and its
  leave-one-out error). The reduction potential is *not* calibrated: it is a raw descriptor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from ase import Atoms
from pydantic import BaseModel, ConfigDict, Field
from rdkit import Chem
from rdkit.Chem import rdDistGeom, rdForceFieldHelpers
from rdkit.rdBase import DisableLog

from electroloop.errors import SimulationError
from electroloop.simulations.oracle import CalculationFailed

BOHR = 0.529177210903
"""Å per bohr (CODATA 2018)."""

HARTREE = 27.211386245988
"""eV per hartree (CODATA 2018)."""

LI_ABSOLUTE_POTENTIAL = 1.40
"""V: absolute potential of Li/Li+ = 4.44 V (absolute SHE, Trasatti 1986) − 3.04 V."""


class XtbParameters(BaseModel):
    """What to run for a molecule; every field enters the cache key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str = Field(default="GFN2-xTB", pattern="^GFN[12]-xTB$")
    accuracy: float = Field(default=1.0, gt=0)
    max_iterations: int = Field(default=250, ge=1)
    electronic_temperature: float = Field(default=300.0, gt=0, description="K")
    seed: int = Field(default=42, description="ETKDG random seed")
    force_field: str = Field(default="MMFF", pattern="^(MMFF|UFF)$")
    optimize: bool = Field(default=False, description="GFN-xTB BFGS optimisation before ΔSCF")
    fmax: float = Field(default=0.05, gt=0, description="eV/Å, BFGS force threshold")
    steps: int = Field(default=200, ge=1, description="BFGS step limit")


class ElectronicState(BaseModel):
    """One single point: total energy and frontier orbitals, eV."""

    model_config = ConfigDict(frozen=True)

    charge: int
    uhf: int
    energy: float
    homo: float
    lumo: float


class MoleculeResult(BaseModel):
    """All the oracle computes for one molecule; energies in eV, potentials in V vs Li/Li+."""

    model_config = ConfigDict(frozen=True)

    smiles: str
    inchikey: str
    numbers: tuple[int, ...]
    positions: tuple[tuple[float, float, float], ...] = Field(description="Å, `n x 3`")
    charge: int
    energy: float
    homo: float
    lumo: float
    ip: float = Field(description="vertical ionisation potential by ΔSCF, eV")
    ea: float = Field(description="vertical electron affinity by ΔSCF, eV")
    oxidation_potential: float = Field(description="calibrated, V vs Li/Li+")
    reduction_potential: float = Field(description="uncalibrated EA/e − 1.40, V vs Li/Li+")
    method: str


class ReferencePotential(BaseModel):
    """An experimental anodic limit of a solvent, V vs Li/Li+."""

    model_config = ConfigDict(frozen=True)

    name: str
    smiles: str
    oxidation_potential: float
    source: str


_UE_1994 = (
    "approximate; M. Ue, K. Ida, S. Mori, J. Electrochem. Soc. 141 (1994) 2989, "
    "(glassy carbon, 0.65 M Et4NBF4), as compiled by K. Xu, Chem. Rev. "
    "104 (2004) 4303, doi:10.1021/cr030203g, Table 1; not re-checked against the primary table"
)

REFERENCE_OXIDATION: tuple[ReferencePotential, ...] = (
    ReferencePotential(name="EC", smiles="O=C1OCCO1", oxidation_potential=6.2, source=_UE_1994),
    ReferencePotential(name="PC", smiles="CC1COC(=O)O1", oxidation_potential=6.6, source=_UE_1994),
    ReferencePotential(name="DMC", smiles="COC(=O)OC", oxidation_potential=6.7, source=_UE_1994),
    ReferencePotential(name="DEC", smiles="CCOC(=O)OCC", oxidation_potential=6.7, source=_UE_1994),
    ReferencePotential(name="EMC", smiles="CCOC(=O)OC", oxidation_potential=6.7, source=_UE_1994),
    ReferencePotential(name="DME", smiles="COCCOC", oxidation_potential=5.1, source=_UE_1994),
    ReferencePotential(name="THF", smiles="C1CCOC1", oxidation_potential=5.2, source=_UE_1994),
)
"""Approximate experimental anodic limits, V vs Li/Li+. Anodic limits depend on electrode, salt
and cut-off current by several tenths of a volt; treat each value as ±0.3 V at best."""


class Calibration(BaseModel):
    """E_ox = slope · (IP/e − 1.40 V) + intercept, with its fit errors (V)."""

    model_config = ConfigDict(frozen=True)

    slope: float
    intercept: float
    mae: float
    rmse: float
    loo_mae: float
    loo_rmse: float
    baseline_loo_mae: float = Field(description="leave-one-out MAE of predicting the mean")


SHIPPED_CALIBRATION = Calibration(
    slope=0.6399,
    intercept=-2.3459,
    mae=0.4142,
    rmse=0.4739,
    loo_mae=0.5989,
    loo_rmse=0.6884,
    baseline_loo_mae=0.6810,
)
"""`fit_calibration` of `REFERENCE_OXIDATION` with `XtbParameters()` (GFN2, MMFF geometries);
`tests/unit/simulations/test_oracle_molecules.py` checks that a refit reproduces it."""


def canonical(smiles: str) -> Chem.Mol:
    """Parse SMILES; raise `SimulationError` naming the input if RDKit rejects it."""
    DisableLog("rdApp.*")  # RDKit logs parse errors to stderr; we raise instead
    mol = Chem.MolFromSmiles(smiles) if smiles.strip() else None
    if mol is None:
        raise SimulationError(f"invalid SMILES {smiles!r}: RDKit cannot parse it")
    return mol


def inchikey(smiles: str) -> str:
    """Standard InChIKey of the molecule (the cache's identity of a molecule)."""
    return str(Chem.MolToInchiKey(canonical(smiles)))


def embed(smiles: str, params: XtbParameters | None = None) -> Atoms:
    """One ETKDGv3 conformer with hydrogens, pre-optimised by MMFF94 (or UFF); fixed seed."""
    params = params or XtbParameters()
    mol = Chem.AddHs(canonical(smiles))
    options = rdDistGeom.ETKDGv3()
    options.randomSeed = params.seed  # type: ignore[assignment]  # rdkit's stub is wrong
    if rdDistGeom.EmbedMolecule(mol, options) != 0:
        raise SimulationError(f"RDKit could not embed a conformer for {smiles!r}")
    if params.force_field == "MMFF" and rdForceFieldHelpers.MMFFHasAllMoleculeParams(mol):
        rdForceFieldHelpers.MMFFOptimizeMolecule(mol, maxIters=2000)
    else:
        rdForceFieldHelpers.UFFOptimizeMolecule(mol, maxIters=2000)
    numbers = [atom.GetAtomicNum() for atom in mol.GetAtoms()]
    return Atoms(numbers=numbers, positions=mol.GetConformer().GetPositions())


def _electrons(atoms: Atoms, charge: int) -> int:
    return int(atoms.numbers.sum()) - charge


def single_point(atoms: Atoms, charge: int, params: XtbParameters | None = None) -> ElectronicState:
    """GFN-xTB single point at the lowest spin of `charge`: energy, HOMO and LUMO (eV).

    HOMO/LUMO come from `tblite.interface` because the ASE calculator does not expose orbitals.
    """
    from tblite.exceptions import TBLiteRuntimeError
    from tblite.interface import Calculator

    params = params or XtbParameters()
    uhf = _electrons(atoms, charge) % 2
    calc = Calculator(params.method, atoms.numbers, atoms.positions / BOHR, charge=charge, uhf=uhf)
    calc.set("verbosity", 0)
    calc.set("accuracy", params.accuracy)
    calc.set("max-iter", params.max_iterations)
    calc.set("temperature", params.electronic_temperature * 3.166808578545117e-06)  # K -> Eh
    try:
        res = calc.singlepoint()
    except TBLiteRuntimeError as exc:
        raise CalculationFailed(
            f"{params.method} failed for {atoms.get_chemical_formula()} charge {charge:+d} "
            f"uhf {uhf}: {exc}"
        ) from exc
    eps = np.asarray(res.get("orbital-energies")) * HARTREE
    occ = np.asarray(res.get("orbital-occupations"))
    # Open shells come back as one set of orbitals with occupations summed over spin (0..2).
    occupied, empty = eps[occ > 0.5], eps[occ < 0.5]
    return ElectronicState(
        charge=charge,
        uhf=uhf,
        energy=float(res.get("energy")) * HARTREE,
        homo=float(occupied.max()),
        lumo=float(empty.min()),
    )


def optimize(atoms: Atoms, charge: int = 0, params: XtbParameters | None = None) -> Atoms:
    """GFN-xTB geometry optimisation with ASE BFGS (fmax, steps from `params`); a copy."""
    from ase.optimize import BFGS
    from tblite.ase import TBLite
    from tblite.exceptions import TBLiteRuntimeError

    params = params or XtbParameters()
    relaxed = atoms.copy()
    relaxed.calc = TBLite(
        method=params.method,
        charge=charge,
        multiplicity=_electrons(atoms, charge) % 2 + 1,
        accuracy=params.accuracy,
        max_iterations=params.max_iterations,
        electronic_temperature=params.electronic_temperature,
        verbosity=0,
    )
    try:
        opt = BFGS(relaxed, logfile=None)
        converged = opt.run(fmax=params.fmax, steps=params.steps)
    except TBLiteRuntimeError as exc:
        raise CalculationFailed(f"{params.method} optimisation failed: {exc}") from exc
    if not converged:
        raise CalculationFailed(
            f"{params.method} BFGS did not reach fmax {params.fmax} eV/Å in {params.steps} steps"
        )
    relaxed.calc = None
    return relaxed


def oxidation_potential(ip: float, calibration: Calibration = SHIPPED_CALIBRATION) -> float:
    """Calibrated anodic limit, V vs Li/Li+, from a vertical GFN2 ΔSCF IP in eV."""
    return calibration.slope * (ip - LI_ABSOLUTE_POTENTIAL) + calibration.intercept


def reduction_potential(ea: float) -> float:
    """Uncalibrated reduction potential EA/e − 1.40 V vs Li/Li+ (a ranking descriptor only)."""
    return ea - LI_ABSOLUTE_POTENTIAL


def evaluate(smiles: str, params: XtbParameters | None = None) -> MoleculeResult:
    """Conformer, optional optimisation, three single points (q, q+1, q−1) and the estimates."""
    params = params or XtbParameters()
    mol = canonical(smiles)
    charge = Chem.GetFormalCharge(mol)
    atoms = embed(smiles, params)
    if params.optimize:
        atoms = optimize(atoms, charge, params)
    neutral = single_point(atoms, charge, params)
    cation = single_point(atoms, charge + 1, params)
    anion = single_point(atoms, charge - 1, params)
    ip = cation.energy - neutral.energy
    ea = neutral.energy - anion.energy
    return MoleculeResult(
        smiles=Chem.MolToSmiles(mol),
        inchikey=str(Chem.MolToInchiKey(mol)),
        numbers=tuple(int(z) for z in atoms.numbers),
        positions=tuple((float(x), float(y), float(z)) for x, y, z in atoms.positions),
        charge=charge,
        energy=neutral.energy,
        homo=neutral.homo,
        lumo=neutral.lumo,
        ip=ip,
        ea=ea,
        oxidation_potential=oxidation_potential(ip),
        reduction_potential=reduction_potential(ea),
        method=params.method,
    )


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def fit_calibration(
    ips: Sequence[float], references: Sequence[ReferencePotential] = REFERENCE_OXIDATION
) -> Calibration:
    """Least-squares line E_ox = slope·(IP − 1.40) + intercept, with in-sample and
    leave-one-out errors; `ips` (eV) are in the order of `references`."""
    if len(ips) != len(references) or len(ips) < 3:
        raise SimulationError(
            f"calibration needs one IP per reference and at least 3; got {len(ips)} IPs "
            f"for {len(references)} references"
        )
    x = np.asarray(ips, dtype=float) - LI_ABSOLUTE_POTENTIAL
    y = np.array([r.oxidation_potential for r in references])
    slope, intercept = _fit(x, y)
    residual = slope * x + intercept - y
    loo, baseline = [], []
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        s, c = _fit(x[keep], y[keep])
        loo.append(s * x[i] + c - y[i])
        baseline.append(y[keep].mean() - y[i])
    loo_arr = np.asarray(loo)
    return Calibration(
        slope=slope,
        intercept=intercept,
        mae=float(np.abs(residual).mean()),
        rmse=float(math.sqrt((residual**2).mean())),
        loo_mae=float(np.abs(loo_arr).mean()),
        loo_rmse=float(math.sqrt((loo_arr**2).mean())),
        baseline_loo_mae=float(np.abs(baseline).mean()),
    )


def calibrate(params: XtbParameters | None = None) -> Calibration:
    """Recompute the ΔSCF IPs of `REFERENCE_OXIDATION` and refit the calibration."""
    ips = [evaluate(r.smiles, params).ip for r in REFERENCE_OXIDATION]
    return fit_calibration(ips)
