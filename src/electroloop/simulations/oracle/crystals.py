"""Crystals: pymatgen `Structure` <-> ASE `Atoms`; energy, forces, stress and relaxation with an
ASE calculator chosen by a `CalculatorConfig` value, never by code edits.

Calculators:

- ``chgnet``: CHGNet universal potential, B. Deng et al., Nat. Mach. Intell. 5 (2023) 1031,
  doi:10.1038/s42256-023-00716-3; weights ship inside the wheel, so it runs offline. The model
  loads once per process, lazily, on first use.
- ``emt``: ASE's effective-medium theory (K. W. Jacobsen, P. Stoltze, J. K. Nørskov, Surf. Sci.
  366 (1996) 394, doi:10.1016/0039-6028(96)00816-3), a light fallback for Al, Cu, Ag, Au, Ni,
  Pd, Pt (and H, C, N, O); a toy for anything else.
- ``vasp``, ``espresso``, ``gpaw``: DFT through ASE; the lab configures parameters and the command
  (where to run it). Their executables are checked when the calculator is built.

Relaxation: ASE BFGS, with `FrechetCellFilter` when the cell relaxes too
(ASE manual, https://wiki.fysik.dtu.dk/ase/ase/filters.html).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import shlex
import shutil
import warnings
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from electroloop.settings import CalculatorConfig, CalculatorName
from electroloop.simulations.oracle import CalculationFailed, CalculatorUnavailable

EMT_ELEMENTS = frozenset({"Al", "Cu", "Ag", "Au", "Ni", "Pd", "Pt", "H", "C", "N", "O"})
"""Elements with parameters in `ase.calculators.emt`."""


class CrystalResult(BaseModel):
    """Energy (eV), forces (eV/Å, `n x 3`), stress (eV/Å³, Voigt `6`) and the final structure."""

    model_config = ConfigDict(frozen=True)

    structure: dict[str, Any] = Field(description="`Structure.as_dict()` of the final geometry")
    energy: float
    energy_per_atom: float
    forces: tuple[tuple[float, float, float], ...]
    stress: tuple[float, float, float, float, float, float]
    max_force: float
    steps: int = Field(description="optimiser steps; 0 for a single point")
    calculator: CalculatorName

    def final_structure(self) -> Structure:
        """The final geometry as a pymatgen `Structure`."""
        return Structure.from_dict(self.structure)


def to_atoms(structure: Structure) -> Atoms:
    """pymatgen `Structure` -> ASE `Atoms` (periodic, same order of sites)."""
    return AseAtomsAdaptor.get_atoms(structure)


def to_structure(atoms: Atoms) -> Structure:
    """ASE `Atoms` -> pymatgen `Structure`."""
    return AseAtomsAdaptor.get_structure(atoms)


@functools.cache
def _chgnet_model(model_name: str) -> Any:
    """Load CHGNet once per process; it prints its banner to stdout, which we swallow."""
    from chgnet.model import CHGNet

    with contextlib.redirect_stdout(io.StringIO()):
        return CHGNet.load(model_name=model_name, use_device="cpu", verbose=False)


def _require_executable(config: CalculatorConfig) -> str:
    if not config.command:
        raise CalculatorUnavailable(f"calculator {config.name!r} needs a command in its config")
    program = shlex.split(config.command)[0]
    if shutil.which(program) is None:
        raise CalculatorUnavailable(
            f"calculator {config.name!r}: executable {program!r} (from command "
            f"{config.command!r}) is not on PATH"
        )
    return config.command


def build_calculator(config: CalculatorConfig, atoms: Atoms | None = None) -> BaseCalculator:
    """Build the ASE calculator `config` names; raise `CalculatorUnavailable` before running if
    its executable, package or element parameters are missing."""
    if config.name == "chgnet":
        from chgnet.model.dynamics import CHGNetCalculator

        model = _chgnet_model(str(config.parameters.get("model_name", "0.3.0")))
        with contextlib.redirect_stdout(io.StringIO()):
            return CHGNetCalculator(model=model, use_device="cpu", on_isolated_atoms="error")
    if config.name == "emt":
        from ase.calculators.emt import EMT

        if atoms is not None:
            missing = sorted(set(atoms.get_chemical_symbols()) - EMT_ELEMENTS)
            if missing:
                raise CalculatorUnavailable(
                    f"EMT has no parameters for {missing}; it covers {sorted(EMT_ELEMENTS)}"
                )
        return EMT(**config.parameters)
    if config.name == "vasp":
        from ase.calculators.vasp import Vasp

        command = _require_executable(config)
        return Vasp(command=command, directory=config.directory, **config.parameters)
    if config.name == "espresso":
        from ase.calculators.espresso import Espresso, EspressoProfile

        command = _require_executable(config)
        if config.pseudo_dir is None:
            raise CalculatorUnavailable("calculator 'espresso' needs pseudo_dir in its config")
        profile = EspressoProfile(command=command, pseudo_dir=config.pseudo_dir)
        return Espresso(profile=profile, directory=config.directory, **config.parameters)
    try:
        from gpaw import GPAW  # type: ignore[import-not-found]  # optional, not installed here
    except ImportError as exc:
        raise CalculatorUnavailable("calculator 'gpaw' needs the gpaw package") from exc
    return GPAW(directory=config.directory, **config.parameters)  # type: ignore[no-any-return]


def _result(atoms: Atoms, steps: int, config: CalculatorConfig) -> CrystalResult:
    forces = np.asarray(atoms.get_forces())
    stress = np.asarray(atoms.get_stress(voigt=True))
    energy = float(atoms.get_potential_energy())
    return CrystalResult(
        structure=json.loads(to_structure(atoms).to_json()),  # plain JSON types
        energy=energy,
        energy_per_atom=energy / len(atoms),
        forces=tuple((float(x), float(y), float(z)) for x, y, z in forces),
        stress=tuple(float(s) for s in stress),  # type: ignore[arg-type]
        max_force=float(np.linalg.norm(forces, axis=1).max()),
        steps=steps,
        calculator=config.name,
    )


@contextlib.contextmanager
def _quiet_chgnet() -> Any:
    # CHGNet builds a tensor from a grad-tracking scalar (chgnet/model/model.py); torch warns on
    # every call. The warning is about CHGNet's own code path and harmless for inference.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="Converting a tensor with requires_grad=True to a scalar",
            category=UserWarning,
        )
        yield


def single_point(structure: Structure, config: CalculatorConfig | None = None) -> CrystalResult:
    """Energy, forces and stress of `structure` as given."""
    config = config or CalculatorConfig()
    atoms = to_atoms(structure)
    atoms.calc = build_calculator(config, atoms)
    try:
        with _quiet_chgnet():
            return _result(atoms, 0, config)
    except CalculatorUnavailable:
        raise
    except Exception as exc:  # any calculator's failure becomes one typed error
        raise CalculationFailed(f"{config.name} single point failed: {exc}") from exc


def relax(
    structure: Structure,
    config: CalculatorConfig | None = None,
    *,
    fmax: float = 0.05,
    steps: int = 200,
    relax_cell: bool = True,
) -> CrystalResult:
    """Relax positions (and the cell when `relax_cell`) with BFGS to `fmax` eV/Å within `steps`;
    raise `CalculationFailed` if it does not converge."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    config = config or CalculatorConfig()
    atoms = to_atoms(structure)
    atoms.calc = build_calculator(config, atoms)
    target: Any = FrechetCellFilter(atoms) if relax_cell else atoms  # BFGS takes either
    try:
        with _quiet_chgnet():
            optimizer = BFGS(target, logfile=None)
            converged = optimizer.run(fmax=fmax, steps=steps)
            result = _result(atoms, optimizer.nsteps, config)
    except Exception as exc:  # any calculator's failure becomes one typed error
        raise CalculationFailed(f"{config.name} relaxation failed: {exc}") from exc
    if not converged:
        raise CalculationFailed(
            f"{config.name} relaxation did not reach fmax {fmax} eV/Å in {steps} steps"
        )
    return result
