"""Results cached by content, so nothing is computed twice.

Key = SHA-256 of the JSON of (subject, method, method parameters, package versions), where the
subject is the InChIKey of a molecule or `structure_hash` of a crystal. Rows live in a SQLite
file the caller names; each row stores the result as JSON. Failures propagate as typed errors
and leave no row behind.

`structure_hash` is a plain canonical form, independent of `StructureMatcher`: the lattice matrix
rounded to `decimals` Å, and the sites sorted by (species, fractional coordinates wrapped into
[0, 1) and rounded to `decimals`). It is invariant to site order and to lattice translations
of a site, not to a change of cell setting, supercells or symmetry operations: two settings of
the same crystal get two keys (and are computed twice), never one key for two crystals.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel
from pymatgen.core import Structure

from electroloop.simulations.oracle import crystals, molecules

Result = TypeVar("Result", bound=BaseModel)

MOLECULE_PACKAGES = ("electroloop", "tblite", "rdkit", "ase")
CRYSTAL_PACKAGES = ("electroloop", "chgnet", "torch", "ase", "pymatgen-core")


def package_versions(packages: Iterable[str]) -> dict[str, str]:
    """Installed version of each distribution (``"absent"`` when not installed)."""
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def structure_hash(structure: Structure, decimals: int = 4) -> str:
    """SHA-256 of the canonical form described in the module docstring."""
    lattice = np.round(structure.lattice.matrix, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    frac = np.round(np.mod(structure.frac_coords, 1.0), decimals)
    frac = np.round(np.mod(frac, 1.0), decimals) + 0.0  # 0.99999 rounds to 1.0 -> wrap to 0.0
    sites = sorted(
        (site.species.formula, tuple(float(c) for c in coords))
        for site, coords in zip(structure, frac, strict=True)
    )
    canonical = {"lattice": lattice.tolist(), "sites": sites}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def cache_key(
    subject: str, method: str, parameters: dict[str, Any], versions: dict[str, str]
) -> str:
    """SHA-256 of the sorted JSON of the four parts."""
    payload = {"subject": subject, "method": method, "parameters": parameters, "versions": versions}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class ResultCache:
    """JSON rows in a SQLite file, keyed by `cache_key`; one connection per call."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = self._connect()
        try:
            with db:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS results ("
                    "key TEXT PRIMARY KEY, subject TEXT NOT NULL, method TEXT NOT NULL, "
                    "payload TEXT NOT NULL, created TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
                )
        finally:
            db.close()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path)

    def get(self, key: str) -> str | None:
        """The stored JSON for `key`, or None."""
        db = self._connect()
        try:
            row = db.execute("SELECT payload FROM results WHERE key = ?", (key,)).fetchone()
        finally:
            db.close()
        return None if row is None else str(row[0])

    def put(self, key: str, subject: str, method: str, payload: str) -> None:
        """Store one result (replacing an older row with the same key)."""
        db = self._connect()
        try:
            with db:
                db.execute(
                    "INSERT OR REPLACE INTO results (key, subject, method, payload) "
                    "VALUES (?, ?, ?, ?)",
                    (key, subject, method, payload),
                )
        finally:
            db.close()

    def __len__(self) -> int:
        db = self._connect()
        try:
            return int(db.execute("SELECT COUNT(*) FROM results").fetchone()[0])
        finally:
            db.close()

    def get_or_compute(
        self,
        *,
        subject: str,
        method: str,
        parameters: dict[str, Any],
        versions: dict[str, str],
        result_type: type[Result],
        compute: Callable[[], Result],
    ) -> Result:
        """The cached result for the key, else `compute()` stored then returned.

        An exception from `compute` propagates unchanged and nothing is stored.
        """
        key = cache_key(subject, method, parameters, versions)
        stored = self.get(key)
        if stored is not None:
            return result_type.model_validate_json(stored)
        result = compute()
        self.put(key, subject, method, result.model_dump_json())
        return result


def molecule(
    cache: ResultCache,
    smiles: str,
    params: molecules.XtbParameters | None = None,
    compute: Callable[[str, molecules.XtbParameters], molecules.MoleculeResult] | None = None,
) -> molecules.MoleculeResult:
    """`molecules.evaluate` through the cache, keyed by InChIKey + parameters + versions."""
    params = params or molecules.XtbParameters()
    run = compute or molecules.evaluate
    return cache.get_or_compute(
        subject=molecules.inchikey(smiles),
        method=f"molecule/{params.method}",
        parameters=params.model_dump(),
        versions=package_versions(MOLECULE_PACKAGES),
        result_type=molecules.MoleculeResult,
        compute=lambda: run(smiles, params),
    )


def crystal(
    cache: ResultCache,
    structure: Structure,
    config: crystals.CalculatorConfig | None = None,
    *,
    relax: bool = False,
    fmax: float = 0.05,
    steps: int = 200,
    relax_cell: bool = True,
) -> crystals.CrystalResult:
    """`crystals.single_point` or `crystals.relax` through the cache, keyed by structure hash +
    calculator config + relaxation settings + versions."""
    config = config or crystals.CalculatorConfig()
    settings = {"relax": relax, "fmax": fmax, "steps": steps, "relax_cell": relax_cell}

    def run() -> crystals.CrystalResult:
        if relax:
            return crystals.relax(structure, config, fmax=fmax, steps=steps, relax_cell=relax_cell)
        return crystals.single_point(structure, config)

    return cache.get_or_compute(
        subject=structure_hash(structure),
        method=f"crystal/{config.name}",
        parameters={"config": config.model_dump(), **settings},
        versions=package_versions(CRYSTAL_PACKAGES),
        result_type=crystals.CrystalResult,
        compute=run,
    )
