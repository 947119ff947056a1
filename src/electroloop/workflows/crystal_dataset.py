"""Substitution crystals labelled by the crystal oracle: training data for the crystal surrogate.

Three parent prototypes are built in code with `Structure.from_spacegroup`; every candidate is a
parent with its sites re-decorated (Li↔Na on the alkali sites, Fe/Mn/Co/Ni on the transition-metal
sites, F↔Cl or O↔S on the anion sites, including ordered mixtures), its lattice scaled by the
change in Shannon ionic radii, and then one of a few small strains applied. Each is labelled
with the oracle's energy per atom (`crystals.single_point`, CHGNet by default), through the
oracle's content cache when a cache file is given. Generation and labelling are deterministic.

This combines the oracle (`simulations`) with the surrogate's graphs (`surrogates`), so it lives
in `workflows`. EMT is not a fallback here: it has no parameters for Li, Na, F, Cl, S, P, Mn,
Fe or Co, and `CalculatorUnavailable` propagates rather than labelling with something else.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field
from pymatgen.core import Lattice, Species, Structure
from torch_geometric.data import Data

from electroloop.errors import ConfigError
from electroloop.models import FrozenModel
from electroloop.settings import CalculatorConfig
from electroloop.simulations.oracle import cache as oracle_cache
from electroloop.simulations.oracle import crystals
from electroloop.surrogates.crystal_graph import crystal_graph

Decoration = tuple[tuple[str, tuple[str, ...]], ...]
"""Per parent element, the elements its sites get, in site order (one entry = all sites)."""


@dataclass(frozen=True)
class Prototype:
    """A parent crystal and, per parent element, the (oxidation state, Shannon coordination)
    its role implies; substituents on those sites take the same role."""

    name: str
    structure: Structure
    roles: dict[str, tuple[int, str]]
    decorations: tuple[Decoration, ...] = field(repr=False)


def rocksalt() -> Structure:
    """LiF, Fm-3m, conventional cell (8 sites), a = 4.03 Å (experiment)."""
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(4.03), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def layered() -> Structure:
    """LiCoO2, α-NaFeO2 type (R-3m, hexagonal setting, 12 sites): Li 3a, Co 3b, O 6c with
    z(O) = 0.24 (Co-O 1.93 Å, Li-O 2.09 Å); a = 2.816, c = 14.05 Å, the usual room-temperature
    values (e.g. J. Akimoto, Y. Gotoh, Y. Oosawa, J. Solid State Chem. 141 (1998) 298)."""
    return Structure.from_spacegroup(
        "R-3m",
        Lattice.hexagonal(2.816, 14.05),
        ["Li", "Co", "O"],
        [[0, 0, 0], [0, 0, 0.5], [0, 0, 0.24]],
    )


def olivine() -> Structure:
    """LiFePO4, olivine (Pnma, 28 sites), a, b, c = 10.33, 6.01, 4.69 Å; positions as tabulated
    for triphylite (A. K. Padhi, K. S. Nanjundaswamy, J. B. Goodenough, J. Electrochem. Soc.
    144 (1997) 1188, and later refinements): Li 4a, Fe, P, O1, O2 4c, O3 8d."""
    return Structure.from_spacegroup(
        "Pnma",
        Lattice.orthorhombic(10.33, 6.01, 4.69),
        ["Li", "Fe", "P", "O", "O", "O"],
        [
            [0, 0, 0],
            [0.282, 0.25, 0.975],
            [0.095, 0.25, 0.418],
            [0.097, 0.25, 0.743],
            [0.457, 0.25, 0.206],
            [0.166, 0.046, 0.285],
        ],
    )


def _decorations(**choices: Sequence[tuple[str, ...]]) -> tuple[Decoration, ...]:
    """Every combination of the per-element choices, in a fixed order."""
    names = sorted(choices)
    return tuple(
        tuple(zip(names, combo, strict=True))
        for combo in itertools.product(*(choices[n] for n in names))
    )


ALKALI = (("Li",), ("Na",))
TRANSITION_METALS = (("Fe",), ("Mn",), ("Co",), ("Ni",))


def prototypes() -> tuple[Prototype, ...]:
    """The three parents and their substitutions (63 compositions in all)."""
    return (
        Prototype(
            "rocksalt",
            rocksalt(),
            {"Li": (1, "VI"), "F": (-1, "VI")},
            _decorations(
                Li=(
                    *ALKALI,
                    ("Li", "Li", "Li", "Na"),
                    ("Li", "Li", "Na", "Na"),
                    ("Li",) + ("Na",) * 3,
                ),
                F=(("F",), ("Cl",), ("F", "F", "Cl", "Cl")),
            ),
        ),
        Prototype(
            "layered",
            layered(),
            {"Li": (1, "VI"), "Co": (3, "VI"), "O": (-2, "VI")},
            _decorations(
                Li=ALKALI,
                Co=(
                    *TRANSITION_METALS,
                    ("Ni", "Mn", "Co"),  # NMC111-like, one metal per layer
                    ("Ni", "Ni", "Mn"),
                    ("Ni", "Ni", "Co"),
                    ("Mn", "Mn", "Fe"),
                    ("Ni", "Co", "Fe"),
                ),
                O=(("O",), ("S",)),
            ),
        ),
        Prototype(
            "olivine",
            olivine(),
            {"Li": (1, "VI"), "Fe": (2, "VI"), "P": (5, "IV"), "O": (-2, "VI")},
            _decorations(
                Li=ALKALI,
                Fe=(*TRANSITION_METALS, ("Fe", "Fe", "Mn", "Mn"), ("Mn", "Mn", "Co", "Co")),
            ),
        ),
    )


STRAINS: dict[str, tuple[float, float, float, float, float, float]] = {
    "none": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "compress2": (-0.02, -0.02, -0.02, 0.0, 0.0, 0.0),
    "expand2": (0.02, 0.02, 0.02, 0.0, 0.0, 0.0),
    "uniaxial3": (0.03, 0.0, 0.0, 0.0, 0.0, 0.0),
    "shear2": (0.0, 0.0, 0.0, 0.0, 0.0, 0.02),
}
"""Small strains, Voigt order (xx, yy, zz, yz, xz, xy) with tensor (not engineering) shears."""


def shannon_radius(symbol: str, oxidation: int, coordination: str) -> float:
    """Shannon ionic radius (Å; R. D. Shannon, Acta Cryst. A32 (1976) 751, via pymatgen),
    high spin where the table distinguishes spin states."""
    species = Species(symbol, oxidation)
    try:
        return float(species.get_shannon_radius(cn=coordination, spin="", radius_type="ionic"))
    except KeyError:
        return float(
            species.get_shannon_radius(cn=coordination, spin="High Spin", radius_type="ionic")
        )


@dataclass(frozen=True)
class Candidate:
    """One generated structure and how it was made."""

    structure: Structure
    prototype: str
    decoration: Decoration
    strain: str

    @property
    def formula(self) -> str:
        return self.structure.composition.reduced_formula

    @property
    def group(self) -> str:
        """Prototype and composition: the unit a split keeps together."""
        return f"{self.prototype}:{self.formula}"


def decorate(prototype: Prototype, decoration: Decoration, strain: str = "none") -> Structure:
    """Substitute the parent's sites, scale its lattice by Σ r(new) / Σ r(parent) over all
    sites (Shannon radii of each site's role), then apply the named strain."""
    if strain not in STRAINS:
        raise ConfigError(f"strain is {strain!r}; allowed: {sorted(STRAINS)}")
    parent = prototype.structure
    species = [site.specie.symbol for site in parent]
    new = list(species)
    for element, choice in decoration:
        sites = [i for i, s in enumerate(species) if s == element]
        if not sites or len(sites) % len(choice):
            raise ConfigError(
                f"{prototype.name}: {len(choice)} substituents do not tile the "
                f"{len(sites)} {element} sites"
            )
        for k, i in enumerate(sites):
            new[i] = choice[k % len(choice)]
    role = [prototype.roles[s] for s in species]
    old_r = sum(shannon_radius(s, *r) for s, r in zip(species, role, strict=True))
    new_r = sum(shannon_radius(s, *r) for s, r in zip(new, role, strict=True))
    xx, yy, zz, yz, xz, xy = STRAINS[strain]
    deformation = np.eye(3) + np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    matrix = parent.lattice.matrix * (new_r / old_r) @ deformation.T
    return Structure(Lattice(matrix), new, parent.frac_coords)


def generate(
    prototype_names: Iterable[str] | None = None,
    strains: Iterable[str] = tuple(STRAINS),
    max_per_prototype: int | None = None,
) -> list[Candidate]:
    """Every decoration x strain of the named prototypes (all by default), in a fixed order;
    `max_per_prototype` keeps the first decorations of each (a small, deterministic subset)."""
    available = {p.name: p for p in prototypes()}
    names = list(prototype_names) if prototype_names is not None else list(available)
    unknown = sorted(set(names) - set(available))
    if unknown:
        raise ConfigError(f"unknown prototypes {unknown}; allowed: {sorted(available)}")
    strains = list(strains)
    out = []
    for name in names:
        proto = available[name]
        for decoration in proto.decorations[:max_per_prototype]:
            for strain in strains:
                out.append(Candidate(decorate(proto, decoration, strain), name, decoration, strain))
    return out


class Provenance(FrozenModel):
    """Which calculator, with which parameters and package versions, made a label."""

    calculator: str
    parameters: dict[str, Any] = Field(description="`CalculatorConfig.parameters` as used")
    versions: dict[str, str] = Field(description="electroloop, chgnet, torch, ase, pymatgen")


@dataclass(frozen=True)
class CrystalRecord:
    """A generated structure with its oracle energy per atom (eV/atom) and where that came from."""

    candidate: Candidate
    energy_per_atom: float
    provenance: Provenance

    @property
    def structure(self) -> Structure:
        return self.candidate.structure


def label(
    candidates: Sequence[Candidate],
    config: CalculatorConfig | None = None,
    cache_path: Path | None = None,
) -> list[CrystalRecord]:
    """Single-point energy per atom of each candidate with the crystal oracle (CHGNet unless
    `config` says otherwise), through the oracle's cache at `cache_path` when given."""
    config = config or CalculatorConfig()
    store = oracle_cache.ResultCache(cache_path) if cache_path is not None else None
    provenance = Provenance(
        calculator=config.name,
        parameters=dict(config.parameters),
        versions=oracle_cache.package_versions(oracle_cache.CRYSTAL_PACKAGES),
    )
    records = []
    for candidate in candidates:
        if store is None:
            result = crystals.single_point(candidate.structure, config)
        else:
            result = oracle_cache.crystal(store, candidate.structure, config)
        records.append(CrystalRecord(candidate, result.energy_per_atom, provenance))
    return records


def to_graphs(records: Sequence[CrystalRecord], **graph_options: Any) -> list[Data]:
    """Crystal graphs with `y` = energy per atom (shape `1`), for the crystal surrogate."""
    graphs = []
    for record in records:
        graph = crystal_graph(record.structure, **graph_options)
        graph.y = torch.tensor([record.energy_per_atom], dtype=torch.float32)
        graphs.append(graph)
    return graphs


def split_by_group(
    records: Sequence[CrystalRecord], test_fraction: float = 0.2, seed: int = 0
) -> tuple[list[CrystalRecord], list[CrystalRecord]]:
    """Random train/test split of whole groups (prototype + composition), so every test
    structure has a composition the training set never saw."""
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction is {test_fraction}; allowed: 0 < f < 1")
    groups = sorted({r.candidate.group for r in records})
    random.Random(seed).shuffle(groups)
    test_groups = set(groups[: max(1, round(test_fraction * len(groups)))])
    train = [r for r in records if r.candidate.group not in test_groups]
    test = [r for r in records if r.candidate.group in test_groups]
    return train, test
