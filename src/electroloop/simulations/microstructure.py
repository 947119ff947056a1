"""Three-phase electrode volumes from design parameters, and what TauFactor measures in them.

The electrode-design loop of S. J. Cooper's group (A. Kench et al., "A generative deep learning
approach to de novo electrode design", *Matter* 2024) scores electrode designs through voxel
volumes of active material (AM), carbon-binder domain (CBD) and pore. This module makes such
volumes by a documented rule instead of a trained generator:

- AM: overlapping spheres of radius `particle_radius` voxels (`porespy.generators.
  overlapping_spheres`; J. Gostick et al., *J. Open Source Softw.* 4 (2019) 1296), whose
  surface is then moved by less than a voxel so that every cube holds exactly the AM volume
  fraction (1 − porosity) × am_share: porespy meets its porosity only to ±0.01, and a cube's
  tortuosity moved with that spread.
- CBD: the rest of the solid, placed in the non-AM space by a score mixing the distance to the
  AM surface with a smooth random field (white noise under a Gaussian filter of width
  `CBD_BLOB_WIDTH` particle radii, as `porespy.generators.blobs` makes it, but with a width in
  voxels that does not grow with the cube): `cbd_adhesion` = 1 puts it as a film on the
  particles, 0 as free-standing blobs between them — the two CBD morphologies the electrode
  literature contrasts (e.g. F. L. E. Usseglio-Viretta et al., *J. Electrochem. Soc.* 165
  (2018) A3403). The weighting rule and the blob width are this project's.

Metrics (`measure`): the pore phase's tortuosity factor from TauFactor (S. J. Cooper et al.,
*SoftwareX* 5 (2016) 203; `taufactor.Solver`); the solid's effective electronic conductivity
with AM and CBD of different conductivity from TauFactor's multi-phase equations, solved by
algebraic multigrid (`simulations.conduction`); volume fractions and the AM–pore specific
surface area counted from the voxel faces.
"""

from __future__ import annotations

import builtins
import math
import sys
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from electroloop.errors import SimulationError
from electroloop.simulations.conduction import effective_conductivity

__all__ = [
    "AM",
    "CBD",
    "PORE",
    "CONVERGED_METRICS",
    "Convergence",
    "Spread",
    "ElectrodeDesign",
    "Microstructure",
    "convergence",
    "generate",
    "justified",
    "measure",
]

PORE, AM, CBD = 0, 1, 2
"""Phase labels of a volume."""
CBD_BLOB_WIDTH = 0.5
"""Standard deviation of the Gaussian filter that smooths the CBD's random field, in AM particle
radii (this project's choice: blobs about a particle radius across, as carbon-black/binder
agglomerates of a few µm beside 5 µm NMC particles)."""


@dataclass(frozen=True)
class ElectrodeDesign:
    """An electrode's design: pore volume fraction, AM share of the solid volume, how the CBD
    clings to the AM (0 free blobs .. 1 a film), and the AM particles' radius in voxels."""

    porosity: float
    am_share: float
    cbd_adhesion: float = 0.5
    particle_radius: int = 6

    def __post_init__(self) -> None:
        checks = {
            "porosity": (self.porosity, 0.15, 0.7),
            "am_share": (self.am_share, 0.5, 0.99),
            "cbd_adhesion": (self.cbd_adhesion, 0.0, 1.0),
            "particle_radius": (self.particle_radius, 2, 20),
        }
        for name, (value, low, high) in checks.items():
            if not (math.isfinite(value) and low <= value <= high):
                raise SimulationError(f"{name} is {value!r}; allowed: {low}..{high}")


@dataclass(frozen=True)
class Microstructure:
    """What a volume is: phase fractions, the AM–pore surface per volume (1/µm), the share of
    the AM surface the CBD covers, the pore's tortuosity factor along x and the solid's
    effective electronic conductivity along x (S/m)."""

    fractions: dict[str, float]
    surface_area: float
    cbd_coverage: float
    tortuosity: float
    conductivity: float


_PRINT = print
"""Python's own print, saved when this module is imported (see `_porespy`)."""


def _porespy() -> ModuleType:
    """porespy, imported with Python's own `print` in place: at import, numba compiles a
    porespy function that calls `print`, and cannot type the function Prefect puts in its place
    while a flow runs with ``log_prints`` (porespy 3.2.0, numba 0.68.1; the flow test
    `tests/integration/test_electrode_campaign.py` imports it there)."""
    if "porespy" not in sys.modules:
        patched = builtins.print
        builtins.print = _PRINT
        try:
            import porespy  # noqa: F401  cached in sys.modules
        finally:
            builtins.print = patched
    return sys.modules["porespy"]


def generate(design: ElectrodeDesign, size: int = 64, seed: int = 0) -> np.ndarray:
    """A `size`³ volume of phase labels (uint8, `size x size x size`) for `design`, with each
    phase's voxel count exactly its volume fraction's share."""
    from scipy.ndimage import gaussian_filter

    porespy = _porespy()
    if not 16 <= size <= 256:
        raise SimulationError(f"size is {size!r}; allowed: 16..256 voxels")
    shape = [size] * 3
    solid = 1.0 - design.porosity
    am_fraction = solid * design.am_share
    cbd_fraction = solid - am_fraction
    rng = np.random.default_rng(seed)
    spheres = porespy.generators.overlapping_spheres(
        shape, r=design.particle_radius, porosity=1.0 - am_fraction, seed=seed
    )  # porespy: True is the void
    am = _exactly(~spheres, round(am_fraction * spheres.size), rng)
    volume = np.where(am, AM, PORE).astype(np.uint8)
    free = ~am
    distance = _distance_to(am)
    noise = gaussian_filter(rng.random(shape), sigma=CBD_BLOB_WIDTH * design.particle_radius)
    score = design.cbd_adhesion * _ranked(distance[free]) + (1 - design.cbd_adhesion) * _ranked(
        noise[free]
    )
    count = round(cbd_fraction * volume.size)
    chosen = np.argsort(score, kind="stable")[:count]
    labels = volume[free]
    labels[chosen] = CBD
    volume[free] = labels
    return volume


def _exactly(mask: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`mask` with its surface moved so that it holds `count` voxels: voxels are ranked by
    their signed distance to the surface (inside negative), ties in random order, and the
    first `count` kept."""
    signed = np.where(mask, -_distance_to(~mask), _distance_to(mask)).ravel()
    order = np.lexsort((rng.random(signed.size), signed))
    exact = np.zeros(signed.size, dtype=bool)
    exact[order[:count]] = True
    return exact.reshape(mask.shape)


def measure(
    volume: np.ndarray,
    voxel_size: float,
    *,
    am_conductivity: float = 0.18,
    cbd_conductivity: float = 100.0,
) -> Microstructure:
    """TauFactor's and the voxel counts' view of `volume`; `voxel_size` µm, conductivities S/m.

    Defaults: NMC811's 0.18 S/m (C.-H. Chen et al., *J. Electrochem. Soc.* 167 (2020) 080534,
    PyBaMM's Chen2020 "Positive electrode conductivity"); 100 S/m for the carbon-binder domain
    is this project's assumption (carbon-black/PVDF composites span about 10..1000 S/m): state
    your materials'."""
    import taufactor

    if volume.ndim != 3 or not np.isin(volume, (PORE, AM, CBD)).all():
        raise SimulationError("volume: a 3-D array of the labels 0 (pore), 1 (AM), 2 (CBD)")
    if not (math.isfinite(voxel_size) and voxel_size > 0):
        raise SimulationError(f"voxel_size is {voxel_size!r} µm; allowed: > 0")
    fractions = {name: float(np.mean(volume == label)) for name, label in _NAMES.items()}
    am_pore, am_cbd = _faces_per_voxel(volume, AM, PORE), _faces_per_voxel(volume, AM, CBD)
    surface = am_pore / voxel_size
    coverage = am_cbd / (am_pore + am_cbd) if am_pore + am_cbd else 0.0
    pore = taufactor.Solver((volume == PORE).astype(int), device="cpu")
    pore.solve(verbose="")
    conductivity = effective_conductivity(volume, {AM: am_conductivity, CBD: cbd_conductivity})
    return Microstructure(
        fractions=fractions,
        surface_area=float(surface),
        cbd_coverage=float(coverage),
        tortuosity=float(np.ravel(pore.tau)[0]),
        conductivity=conductivity,
    )


_NAMES = {"pore": PORE, "am": AM, "cbd": CBD}


def _distance_to(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance (voxels) of every voxel to the nearest voxel of `mask` (0 in it)."""
    from scipy.ndimage import distance_transform_edt

    return np.asarray(distance_transform_edt(~mask), dtype=float)


def _ranked(values: np.ndarray) -> np.ndarray:
    """`values` as ranks in 0..1 (so distance and noise weigh alike whatever their scales)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=float)
    ranks[order] = np.arange(len(values)) / max(len(values) - 1, 1)
    return ranks


def _faces_per_voxel(volume: np.ndarray, a: int, b: int) -> float:
    """Faces between phases `a` and `b` per voxel, as in the endless material the cube is cut
    from: along each axis the faces counted over the (n − 1) neighbour pairs the cube holds per
    row, scaled to n (dividing by the voxel count instead would lose the faces the cube's
    walls cut, 1/n of them: 1.6 % at 64³)."""
    total = 0.0
    for axis in range(3):
        first = np.take(volume, range(volume.shape[axis] - 1), axis=axis)
        second = np.take(volume, range(1, volume.shape[axis]), axis=axis)
        faces = int(np.sum((first == a) & (second == b)) + np.sum((first == b) & (second == a)))
        total += faces / first.size
    return total


CONVERGED_METRICS = ("tortuosity", "conductivity", "surface_area")
"""The metrics a convergence study follows: those of `Microstructure` that vary between cubes
of a design (its phase fractions are exact) and that the cell model reads."""


@dataclass(frozen=True)
class Spread:
    """One metric over a study's cubes: the mean, the sample standard deviation, the 95 %
    confidence half-width of the mean relative to it, and how many such cubes a ±target
    relative half-width at 95 % needs."""

    mean: float
    std: float
    relative_half_width: float
    cubes_needed: int


@dataclass(frozen=True)
class Convergence:
    """`count` independent cubes of `size`³ voxels: each metric's spread, and the median wall
    seconds a cube took to draw and measure here."""

    size: int
    count: int
    seconds_per_cube: float
    metrics: dict[str, Spread]

    @property
    def cubes_needed(self) -> int:
        """Cubes of this size every metric's target needs."""
        return max(spread.cubes_needed for spread in self.metrics.values())


def spread(values: np.ndarray, target: float) -> Spread:
    """Mean, spread and the Student count for ±`target` (relative) at 95 % of `values`."""
    from scipy.stats import t as student

    count = len(values)
    mean, std = float(values.mean()), float(values.std(ddof=1))
    half = student.ppf(0.975, count - 1) * std / math.sqrt(count)
    needed = 2
    while student.ppf(0.975, needed - 1) * std / math.sqrt(needed) > target * abs(mean):
        needed += 1
    return Spread(mean, std, float(half / abs(mean)), needed)


def convergence(
    design: ElectrodeDesign,
    sizes: tuple[int, ...] = (32, 48, 64),
    count: int = 5,
    *,
    voxel_size: float = 0.5,
    target: float = 0.01,
    seed: int = 0,
) -> list[Convergence]:
    """How the metrics of `design` converge with the cube size and count.

    A metric of one small cube is one draw of a random variable; the mean over n cubes has a
    95 % confidence half-width t(0.975, n−1)·s/√n (Student). Users of TauFactor are told to run
    this before trusting a volume size (S. J. Cooper et al., *SoftwareX* 5 (2016) 203, on the
    representative volume): `Spread.cubes_needed` is the smallest n whose half-width is within
    `target` of the mean, given the spread seen here."""
    import time

    if not 3 <= count <= 100:
        raise SimulationError(f"count is {count!r}; allowed: 3..100 cubes per size")
    if not 0 < target < 1:
        raise SimulationError(f"target is {target!r}; allowed: 0 < target < 1 (relative)")
    found = []
    for size in sizes:
        cubes, seconds = [], []
        for k in range(count):
            started = time.perf_counter()
            cubes.append(measure(generate(design, size, seed=seed + k), voxel_size))
            seconds.append(time.perf_counter() - started)
        metrics = {
            name: spread(np.array([getattr(c, name) for c in cubes]), target)
            for name in CONVERGED_METRICS
        }
        found.append(Convergence(size, count, float(np.median(seconds)), metrics))
    return found


def justified(rows: list[Convergence]) -> Convergence:
    """The study's answer: of the sizes whose every metric's mean agrees with the largest
    size's within their combined 95 % intervals (a smaller cube may be biased: walls cut its
    pores and faces), the one whose `cubes_needed` take the fewest seconds."""
    largest = max(rows, key=lambda r: r.size)

    def agrees(row: Convergence) -> bool:
        for name, spread in row.metrics.items():
            other = largest.metrics[name]
            combined = math.hypot(
                spread.relative_half_width * spread.mean, other.relative_half_width * other.mean
            )
            if abs(spread.mean - other.mean) > combined:
                return False
        return True

    return min((r for r in rows if agrees(r)), key=lambda r: r.cubes_needed * r.seconds_per_cube)
