"""Quantum-chemistry and interatomic-potential oracle: molecules by GFN2-xTB, crystals by CHGNet,
EMT or a lab-configured ASE DFT calculator, results cached by content.

Modules: `molecules` (SMILES -> energy, IP/EA, HOMO/LUMO, redox potentials vs Li/Li+),
`crystals` (pymatgen `Structure` -> energy, forces, stress, relaxation), `cache` (SQLite rows
keyed by InChIKey / structure hash + method + parameters + package versions).

Errors follow ASE's split (`CalculatorSetupError` before running, `CalculationFailed` during).
"""

from __future__ import annotations

from electroloop.errors import SimulationError


class OracleError(SimulationError):
    """An oracle calculation could not be set up or did not produce a result."""


class CalculatorUnavailable(OracleError):
    """The requested calculator cannot be built here (missing executable, package or elements);
    nothing has run yet."""


class CalculationFailed(OracleError):
    """The calculation ran but failed (e.g. SCF not converged); nothing is cached."""


__all__ = ["CalculationFailed", "CalculatorUnavailable", "OracleError"]
