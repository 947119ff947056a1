"""The solid's effective conductivity: TauFactor's equations solved by algebraic multigrid."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from electroloop.errors import SimulationError
from electroloop.simulations.conduction import effective_conductivity
from electroloop.simulations.microstructure import AM, CBD, ElectrodeDesign, generate

PRECISION = 1e-6
"""Relative agreement with closed forms: the CG stops at a 1e-6 relative residual, and the
closed forms below are exact for TauFactor's discretisation, so only the solver's tolerance
separates them (with a margin of 10)."""


def chain(conductivities: list[float]) -> float:
    """TauFactor's result for layers normal to x of the given conductivities: one resistor
    chain, ghost nodes at both faces with the face layer's own conductivity."""
    gaps = [conductivities[0]]
    gaps += [2 / (1 / a + 1 / b) for a, b in itertools.pairwise(conductivities)]
    gaps.append(conductivities[-1])
    return len(gaps) / sum(1 / g for g in gaps)


def test_a_uniform_volume_conducts_as_its_phase() -> None:
    assert effective_conductivity(np.ones((8, 6, 5), np.uint8), {1: 2.5}) == pytest.approx(
        2.5, rel=10 * PRECISION
    )


def test_layers_across_the_current_conduct_in_series_and_along_it_in_parallel() -> None:
    layers = np.ones((10, 6, 6), np.uint8)
    layers[1::3] = 2
    conductivities = {1: 0.18, 2: 100.0}
    expected = chain([conductivities[int(label)] for label in layers[:, 0, 0]])
    assert effective_conductivity(layers, conductivities) == pytest.approx(
        expected, rel=10 * PRECISION
    )
    columns = np.ones((10, 6, 6), np.uint8)
    columns[:, :2] = 2  # a third of the section is the good conductor, end to end
    assert effective_conductivity(columns, conductivities) == pytest.approx(
        (0.18 * 4 + 100.0 * 2) / 6, rel=10 * PRECISION
    )


def test_a_cluster_spanning_no_path_carries_nothing_and_no_path_gives_zero() -> None:
    rod = np.zeros((12, 5, 5), np.uint8)
    rod[:, 2, 2] = 1
    island = rod.copy()
    island[4:8, 0, 0] = 2  # conducts, but joins nothing: a singular block if it were kept
    assert effective_conductivity(island, {1: 1.0, 2: 50.0}) == pytest.approx(
        effective_conductivity(rod, {1: 1.0}), rel=10 * PRECISION
    )
    broken = rod.copy()
    broken[6] = 0
    assert effective_conductivity(broken, {1: 1.0}) == 0.0


def test_an_electrode_cube_agrees_with_taufactors_own_solver() -> None:
    import taufactor

    volume = generate(ElectrodeDesign(0.35, 0.9, 0.5, particle_radius=3), 32, seed=4)
    conductivities = {AM: 0.18, CBD: 100.0}
    reference = taufactor.MultiPhaseSolver(volume.astype(int), cond=conductivities, device="cpu")
    reference.solve(verbose="")
    # TauFactor stops when its layer currents agree to 1 %, and their mean is steadier than
    # that: half a per cent is what its answer is good for.
    assert effective_conductivity(volume, conductivities) == pytest.approx(
        float(np.ravel(reference.D_eff)[0]), rel=5e-3
    )


@pytest.mark.parametrize(
    ("volume", "conductivities", "field"),
    [
        (np.ones((4, 4)), {1: 1.0}, "volume has 2 dimensions; allowed: 3"),
        (np.ones((4, 4, 4)), {1: 0.0}, "conductivities .*allowed: each > 0"),
        (np.ones((4, 4, 4)), {1: float("nan")}, "conductivities"),
    ],
)
def test_bad_input_is_refused_naming_it(volume, conductivities, field: str) -> None:
    with pytest.raises(SimulationError, match=field):
        effective_conductivity(volume, conductivities)
