"""Three-phase electrode volumes from design parameters, measured with TauFactor."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from electroloop.errors import SimulationError
from electroloop.simulations.microstructure import (
    AM,
    CBD,
    PORE,
    ElectrodeDesign,
    generate,
    measure,
)

SIZE = 48
VOXEL = 0.5  # µm
VOXEL_FRACTION = 1 / SIZE**3
"""Each phase holds its volume fraction to the voxel: the rounding of its voxel count."""


@pytest.fixture(scope="module")
def measured() -> dict[tuple[float, float], object]:
    """(porosity, adhesion) -> measured microstructure, AM share 0.9, one seed."""
    return {
        (porosity, adhesion): measure(
            generate(ElectrodeDesign(porosity, 0.9, adhesion), SIZE, seed=3), VOXEL
        )
        for porosity in (0.3, 0.5)
        for adhesion in (0.0, 1.0)
    }


@pytest.mark.parametrize(("porosity", "am_share"), [(0.3, 0.9), (0.45, 0.95), (0.6, 0.8)])
def test_phase_fractions_follow_the_design(porosity: float, am_share: float) -> None:
    volume = generate(ElectrodeDesign(porosity, am_share), SIZE, seed=1)
    assert volume.shape == (SIZE,) * 3 and set(np.unique(volume)) == {PORE, AM, CBD}
    solid = 1 - porosity
    assert np.mean(volume == PORE) == pytest.approx(porosity, abs=2 * VOXEL_FRACTION)
    assert np.mean(volume == AM) == pytest.approx(solid * am_share, abs=VOXEL_FRACTION)
    assert np.mean(volume == CBD) == pytest.approx(solid * (1 - am_share), abs=VOXEL_FRACTION)


def clustering(volume: np.ndarray, phase: int) -> float:
    """Share of a phase's voxels whose +x neighbour is of the same phase: its fraction if it
    were scattered voxel by voxel, near 1 for blobs much wider than a voxel."""
    here, right = volume[:-1] == phase, volume[1:] == phase
    return float(np.sum(here & right) / np.sum(here))


def test_free_binder_forms_blobs_whose_width_does_not_grow_with_the_cube() -> None:
    # A convergence study compares cubes of several sizes of one material: its CBD blobs must
    # be as wide in a 64³ cube as in a 32³ one (porespy's `blobs` ties their width to the cube).
    design = ElectrodeDesign(0.4, 0.85, cbd_adhesion=0.0, particle_radius=4)
    small, large = (
        statistics.fmean(clustering(generate(design, size, seed=s), CBD) for s in range(3))
        for size in (32, 64)
    )
    scattered = (1 - 0.4) * (1 - 0.85) / (1 - (1 - 0.4) * 0.85)  # CBD's share of the free space
    assert small > 2 * scattered  # blobs, not speckle
    assert large == pytest.approx(small, abs=0.05)


def test_a_seed_repeats_a_volume_and_another_seed_does_not() -> None:
    design = ElectrodeDesign(0.4, 0.9)
    first, again, other = (generate(design, 32, seed=s) for s in (5, 5, 6))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_adhesive_binder_covers_the_particles_and_hides_their_surface(measured) -> None:
    for porosity in (0.3, 0.5):
        loose, film = measured[(porosity, 0.0)], measured[(porosity, 1.0)]
        assert film.cbd_coverage > loose.cbd_coverage
        assert film.surface_area < loose.surface_area


def test_more_pore_is_less_tortuous_and_the_solid_conducts_less(measured) -> None:
    for adhesion in (0.0, 1.0):
        dense, open_ = measured[(0.3, adhesion)], measured[(0.5, adhesion)]
        assert 1.0 < open_.tortuosity < dense.tortuosity
        assert open_.conductivity < dense.conductivity


def test_effective_conductivity_stays_within_the_wiener_bounds(measured) -> None:
    # Wiener (1912): a mixture conducts at most as its phases in parallel, Σ φ_i σ_i, and at
    # least as in series (0 here: the pore does not conduct electrons).
    for m in measured.values():
        upper = m.fractions["am"] * 0.18 + m.fractions["cbd"] * 100.0  # `measure`'s defaults
        assert 0.0 < m.conductivity < upper


@pytest.mark.parametrize(
    ("design", "field"),
    [
        (lambda: ElectrodeDesign(0.05, 0.9), "porosity is 0.05; allowed: 0.15..0.7"),
        (lambda: ElectrodeDesign(0.3, 1.2), "am_share is 1.2; allowed"),
        (lambda: ElectrodeDesign(0.3, 0.9, cbd_adhesion=float("nan")), "cbd_adhesion"),
        (lambda: ElectrodeDesign(0.3, 0.9, particle_radius=0), "particle_radius"),
    ],
)
def test_a_design_out_of_range_is_refused_naming_the_field(design, field: str) -> None:
    with pytest.raises(SimulationError, match=field):
        design()


def test_a_volume_with_unknown_labels_or_size_is_refused() -> None:
    with pytest.raises(SimulationError, match="labels 0 \\(pore\\), 1 \\(AM\\), 2 \\(CBD\\)"):
        measure(np.full((16, 16, 16), 3, dtype=np.uint8), VOXEL)
    with pytest.raises(SimulationError, match="size is 8"):
        generate(ElectrodeDesign(0.3, 0.9), size=8)


def test_more_cubes_narrow_the_interval_and_the_count_needed_meets_the_target() -> None:
    from scipy.stats import t as student

    from electroloop.simulations.microstructure import convergence

    design = ElectrodeDesign(0.35, 0.9, particle_radius=3)
    (few,) = convergence(design, sizes=(24,), count=3, seed=2)
    (many,) = convergence(design, sizes=(24,), count=8, seed=2)  # the same 3 cubes, and 5 more
    assert set(many.metrics) == {"tortuosity", "conductivity", "surface_area"}
    for name, spread in many.metrics.items():
        assert spread.relative_half_width < few.metrics[name].relative_half_width
    for row in (few, many):
        for spread in row.metrics.values():
            n = spread.cubes_needed

            def half(k: int, spread=spread) -> float:
                return student.ppf(0.975, k - 1) * spread.std / k**0.5

            assert half(n) <= 0.01 * spread.mean < half(n - 1)  # the fewest that reach ±1 %
        assert row.cubes_needed == max(s.cubes_needed for s in row.metrics.values())


@pytest.mark.parametrize(
    ("count", "target", "field"), [(2, 0.01, "count is 2"), (5, 0.0, "target")]
)
def test_a_convergence_study_out_of_range_is_refused(count: int, target: float, field: str) -> None:
    from electroloop.simulations.microstructure import convergence

    with pytest.raises(SimulationError, match=field):
        convergence(ElectrodeDesign(0.35, 0.9), sizes=(16,), count=count, target=target)


def test_the_converge_command_prints_the_table_and_the_cheapest_volume(capsys) -> None:
    from electroloop.cli import main

    assert main(["electrode", "converge", "--sizes", "16,24", "--count", "3"]) == 0
    out = capsys.readouterr().out
    rows = [
        line for line in out.splitlines() if line.startswith("| 16³") or line.startswith("| 24³")
    ]
    assert len(rows) == 6  # three metrics per size
    assert "for ±1 % at 95 % on every metric:" in out
    assert main(["electrode", "converge", "--sizes", "16,big"]) == 2
    assert "--sizes '16,big'" in capsys.readouterr().err


def test_surface_area_is_that_of_the_endless_material_the_cube_is_cut_from() -> None:
    # Layers of AM and pore, k voxels each, normal to x: the endless material has one AM–pore
    # interface per k voxels, 1/(k·voxel) per µm. Over every offset of the cut, the cube's
    # estimate averages to exactly that (dividing faces by the voxel count gave (n-1)/n of it).
    n, k = 24, 3
    estimates = []
    for offset in range(2 * k):
        x = (np.arange(n) + offset) // k % 2
        volume = np.broadcast_to(np.where(x == 0, AM, PORE)[:, None, None], (n, 8, 8))
        estimates.append(measure(np.ascontiguousarray(volume, dtype=np.uint8), VOXEL).surface_area)
    assert statistics.fmean(estimates) == pytest.approx(1 / (k * VOXEL), rel=1e-12)


def test_the_justified_volume_is_the_cheapest_that_agrees_with_the_largest_cube() -> None:
    from electroloop.simulations.microstructure import Convergence, Spread, justified

    def row(size: int, mean: float, needed: int, seconds: float) -> Convergence:
        spread = Spread(mean=mean, std=0.1, relative_half_width=0.02, cubes_needed=needed)
        return Convergence(size, 10, seconds, {"tortuosity": spread})

    biased, fair, large = row(32, 2.0, 100, 0.1), row(48, 2.5, 150, 0.5), row(96, 2.52, 40, 6.0)
    assert justified([biased, fair, large]) is fair  # 32³ is cheapest but 20 % off 96³
    assert justified([fair, large]) is fair  # 75 s against 240 s
    assert justified([large]) is large
