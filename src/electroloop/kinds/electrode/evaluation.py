"""One electrode design through the twin: its cubes, their TauFactor metrics, the 4680 cell's
discharge, and each metric's mean with its standard error over the cubes.

Each design is drawn as `MicrostructureSettings.realisations` independent cubes (seeds from the
campaign's seed and the cube's index, so the same design always gets the same cubes) and each
cube is measured. Up to `DISCHARGE_GROUPS` cubes, each is discharged on its own; more cubes are
pooled into that many groups, and each group's mean electrode is discharged (batch means: the
many cubes a convergence study asks for cost a few cell solves, and a group of many cubes is
closer to the whole electrode than one small cube is). A metric's standard error is the
groups' sample standard deviation over √groups. That spread, told to the planner as noise
(`Observation.errors`), is what makes an uncertain design worth drawing again instead of
trusting one draw.

Results are cached by content (`ContentCache`): the key of a cube is everything it is made
from (design, cube settings, seed, the generator's and solvers' versions), the key of a
discharge is the measured properties and the condition; nothing is computed twice.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from electroloop.kinds.electrode.campaign import DischargeCondition, MicrostructureSettings
from electroloop.simulations.electrode_cell import (
    CELL_MODEL,
    Discharge,
    ElectrodeProperties,
    PowerNotDeliverable,
    discharge,
)
from electroloop.simulations.microstructure import (
    ElectrodeDesign,
    Microstructure,
    generate,
    measure,
)

TWIN_VERSION = "electrode-twin@3"
"""Part of every cache key: bump when the generator, the metrics or the cell model change."""
RESOLUTION = 1e-4
"""Relative floor of a standard error: identical cubes still differ by the solvers' tolerances
(TauFactor converges to 1e-4 by default), and a zero error would make the planner's noise model
singular."""
DISCHARGE_GROUPS = 4
"""Most cell solves per design: more cubes than this are pooled into this many groups."""
METRIC_FIELDS = {"mah_per_g_am": "mah_per_g_am", "wh_per_kg": "wh_per_kg", "wh_per_l": "wh_per_l"}
"""Campaign metric -> `Discharge` field."""


@functools.cache
def twin_versions() -> dict[str, str]:
    """What a twin result depends on besides its inputs: the packages' and models' versions."""
    from importlib.metadata import version

    return {p: version(p) for p in ("porespy", "taufactor", "pyamg", "pybamm")} | {
        "twin": TWIN_VERSION,
        "cell": CELL_MODEL,
    }


class ContentCache:
    """JSON results under the SHA-256 of their inputs: in memory, and in `folder` if given."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self._memory: dict[str, Any] = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(kind: str, inputs: Mapping[str, Any]) -> str:
        text = json.dumps({"kind": kind, **inputs}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def get_or_compute(
        self, kind: str, inputs: Mapping[str, Any], compute: Callable[[], Any]
    ) -> Any:
        """The cached result for `inputs`, or `compute()`'s, stored before it is returned."""
        found = self._lookup(kind, inputs)
        if found is not _MISSING:
            return found
        result = compute()
        self._store(kind, inputs, result)
        return result

    def get_or_compute_all(
        self,
        kind: str,
        inputs: Sequence[Mapping[str, Any]],
        compute: Callable[[Mapping[str, Any]], Any],
        executor: Executor | None = None,
    ) -> list[Any]:
        """`get_or_compute` for many inputs: what is not cached is computed by `compute(inputs)`
        (a pure function), on `executor` one task each if given (a Dask cluster), else here.
        The cache stays with the caller; workers get only what it lacks."""
        results = [self._lookup(kind, x) for x in inputs]
        missing = [i for i, r in enumerate(results) if r is _MISSING]
        todo = [inputs[i] for i in missing]
        computed = list(executor.map(compute, todo)) if executor else [compute(x) for x in todo]
        for i, result in zip(missing, computed, strict=True):
            self._store(kind, inputs[i], result)
            results[i] = result
        return results

    def _path(self, kind: str, key: str) -> Path | None:
        return self.folder / f"{kind}-{key[:32]}.json" if self.folder is not None else None

    def _lookup(self, kind: str, inputs: Mapping[str, Any]) -> Any:
        """The stored result, counted as a hit, or `_MISSING` (counted as a miss)."""
        key = self.key(kind, inputs)
        path = self._path(kind, key)
        if key in self._memory:
            self.hits += 1
            return self._memory[key]
        if path is not None and path.exists():
            self.hits += 1
            result = json.loads(path.read_text("utf-8"))["result"]
            self._memory[key] = result
            return result
        self.misses += 1
        return _MISSING

    def _store(self, kind: str, inputs: Mapping[str, Any], result: Any) -> None:
        key = self.key(kind, inputs)
        self._memory[key] = result
        path = self._path(kind, key)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".part")
            partial.write_text(json.dumps({"inputs": inputs, "result": result}), "utf-8")
            partial.replace(path)  # a crash mid-write leaves no half entry


_MISSING = object()


Overrides = Mapping[str, float] | Callable[[ElectrodeProperties], Mapping[str, float]]
"""Cell-model parameters a calibration fitted: PyBaMM name -> value, or a function giving them
for a cube's properties (a fitted contact resistance holds the built design's foils)."""


@dataclass(frozen=True)
class Evaluation:
    """A design's metrics (mean over its cubes), their standard errors, and each cube's
    microstructure and properties (for the trial's artifacts)."""

    values: dict[str, float]
    errors: dict[str, float]
    cubes: list[Microstructure]
    properties: list[ElectrodeProperties]


def realisation_seed(seed: int, index: int) -> int:
    """The seed of a design's `index`-th cube in a campaign seeded `seed`."""
    return (seed * 1_000_003 + index * 7919) % (2**31 - 1)


def electrode_design(values: Mapping[str, float], micro: MicrostructureSettings) -> ElectrodeDesign:
    """The generator's design for a campaign design (its mass loading is the cell's business)."""
    return ElectrodeDesign(
        porosity=values["porosity"],
        am_share=values["am_share"],
        cbd_adhesion=values["cbd_adhesion"],
        particle_radius=micro.particle_radius,
    )


def cube_inputs(
    design: ElectrodeDesign, micro: MicrostructureSettings, seed: int
) -> dict[str, Any]:
    """What one cube of `design` depends on: its cache key and all `measured_cube` needs."""
    return {
        "design": asdict(design),
        "size": micro.size,
        "voxel_size": micro.voxel_size,
        "seed": seed,
        "versions": dict(twin_versions()),
    }


def measured_cube(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """One cube generated and measured (`cube_inputs`): a pure function, so it may run on any
    worker of a cluster and give what it gives here."""
    design = ElectrodeDesign(**inputs["design"])
    return asdict(measure(generate(design, inputs["size"], inputs["seed"]), inputs["voxel_size"]))


def properties_of(
    cube: Microstructure, mass_loading: float, micro: MicrostructureSettings
) -> ElectrodeProperties:
    """What the cell model needs of a measured cube: the AM–pore surface (1/µm → 1/m; CBD-
    covered AM faces are not counted), the pore tortuosity, the solid's conductivity, and the
    particles' radius (voxels × voxel size)."""
    return ElectrodeProperties(
        porosity=cube.fractions["pore"],
        am_fraction=cube.fractions["am"],
        tortuosity=cube.tortuosity,
        surface_area=cube.surface_area * 1e6,
        conductivity=cube.conductivity,
        mass_loading=mass_loading,
        particle_radius=micro.particle_radius * micro.voxel_size * 1e-6,
    )


def cell_discharge(
    props: ElectrodeProperties,
    condition: DischargeCondition,
    cache: ContentCache,
    overrides: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """The 4680 cell's discharge with this electrode (cached by content), with the twin's
    parameters `overrides` (a calibration's fit) if given. A power the design cannot deliver
    gives zero energy and capacity: the cell reaches its cut-off at once."""
    inputs = {
        "properties": asdict(props),
        "condition": condition.model_dump(),
        "overrides": dict(sorted((overrides or {}).items())),
        "versions": dict(twin_versions()),
    }

    def compute() -> dict[str, float]:
        try:
            result: Discharge = discharge(
                props, power_w=condition.power_w, c_rate=condition.c_rate, overrides=overrides
            )
        except PowerNotDeliverable:
            return {name: 0.0 for name in METRIC_FIELDS}
        return {name: float(getattr(result, field)) for name, field in METRIC_FIELDS.items()}

    return dict(cache.get_or_compute("discharge", inputs, compute))


def evaluate(
    values: Mapping[str, float],
    micro: MicrostructureSettings,
    condition: DischargeCondition,
    seed: int,
    cache: ContentCache,
    overrides: Overrides | None = None,
    executor: Executor | None = None,
) -> Evaluation:
    """A design (every parameter by name, ranged and fixed) through the twin (with the cell
    model's parameters `overrides`, once a calibration fitted them: the same for every cube,
    or a function of each cube's properties). The cubes not cached are solved on `executor`
    (one task per cube) if given."""
    design = electrode_design(values, micro)
    seeds = [realisation_seed(seed, i) for i in range(micro.realisations)]
    cubes = [
        Microstructure(**cube)
        for cube in cache.get_or_compute_all(
            "cube", [cube_inputs(design, micro, s) for s in seeds], measured_cube, executor
        )
    ]
    properties = [properties_of(c, values["mass_loading"], micro) for c in cubes]
    groups = min(len(properties), DISCHARGE_GROUPS)
    electrodes = [mean_properties(properties[g::groups]) for g in range(groups)]
    runs = [
        cell_discharge(p, condition, cache, overrides(p) if callable(overrides) else overrides)
        for p in electrodes
    ]
    means = {m: statistics.fmean(r[m] for r in runs) for m in METRIC_FIELDS}
    errors = {
        m: max(
            statistics.stdev([r[m] for r in runs]) / math.sqrt(len(runs)),
            RESOLUTION * abs(means[m]),
            1e-9,
        )
        for m in METRIC_FIELDS
    }
    return Evaluation(values=means, errors=errors, cubes=cubes, properties=properties)


def mean_properties(cubes: Sequence[ElectrodeProperties]) -> ElectrodeProperties:
    """The electrode its cubes describe on average (what a built electrode of the design is)."""
    if len(cubes) == 1:
        return cubes[0]
    return ElectrodeProperties(
        **{name: statistics.fmean(getattr(c, name) for c in cubes) for name in asdict(cubes[0])}
    )


def middle_slice(design: ElectrodeDesign, micro: MicrostructureSettings, seed: int) -> np.ndarray:
    """The middle x-slice of a design's first cube (phase labels), for its trial's picture."""
    return generate(design, micro.size, realisation_seed(seed, 0))[micro.size // 2]
