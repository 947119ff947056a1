"""An electrode design through the twin: noise from its cubes, a content cache, its artifacts."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

from electroloop.kinds.electrode.campaign import DischargeCondition, MicrostructureSettings
from electroloop.kinds.electrode.evaluation import (
    DISCHARGE_GROUPS,
    ContentCache,
    Evaluation,
    cell_discharge,
    evaluate,
    mean_properties,
    properties_of,
)
from electroloop.kinds.electrode.experiment import ElectrodeTwinExperiment
from electroloop.kinds.registry import parse_campaign
from electroloop.models import Candidate, DesignPoint

MICRO = MicrostructureSettings(size=32, particle_radius=4, voxel_size=1.3, realisations=3)
DESIGN = {"porosity": 0.35, "am_share": 0.92, "cbd_adhesion": 0.5, "mass_loading": 20.0}
AT_10_W = DischargeCondition(power_w=10.0)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> tuple[ContentCache, Evaluation]:
    cache = ContentCache(tmp_path_factory.mktemp("cache"))
    return cache, evaluate(DESIGN, MICRO, AT_10_W, seed=7, cache=cache)


def test_each_value_is_the_mean_over_the_cubes_with_their_standard_error(
    evaluated: tuple[ContentCache, Evaluation],
) -> None:
    cache, result = evaluated
    runs = [cell_discharge(p, AT_10_W, cache) for p in result.properties]
    assert len(result.cubes) == 3
    for metric in ("wh_per_kg", "wh_per_l", "mah_per_g_am"):
        per_cube = [r[metric] for r in runs]
        assert result.values[metric] == pytest.approx(statistics.fmean(per_cube), rel=1e-12)
        spread = statistics.stdev(per_cube) / math.sqrt(3)
        assert result.errors[metric] == pytest.approx(
            max(spread, 1e-4 * result.values[metric]), rel=1e-9
        )
    assert len({c.tortuosity for c in result.cubes}) == 3  # three cubes, not one drawn thrice
    for cube in result.cubes:  # each cube holds the design's porosity to a voxel
        assert cube.fractions["pore"] == pytest.approx(0.35, abs=1 / 32**3)


def test_many_cubes_are_pooled_into_a_few_discharges_of_their_mean_electrode(
    tmp_path: Path,
) -> None:
    micro = MICRO.model_copy(
        update={
            "size": 24,
            "particle_radius": 3,
            "voxel_size": 1.74,
            "realisations": 2 * DISCHARGE_GROUPS + 1,
        }
    )
    cache = ContentCache(tmp_path)
    result = evaluate(DESIGN, micro, AT_10_W, seed=3, cache=cache)
    groups = [
        mean_properties(result.properties[g::DISCHARGE_GROUPS]) for g in range(DISCHARGE_GROUPS)
    ]
    assert len({g.tortuosity for g in groups}) == DISCHARGE_GROUPS
    assert cache.misses == micro.realisations + DISCHARGE_GROUPS  # 9 cubes, 4 cell solves
    runs = [cell_discharge(g, AT_10_W, cache) for g in groups]
    assert cache.misses == micro.realisations + DISCHARGE_GROUPS  # ... of these electrodes
    wh = [r["wh_per_l"] for r in runs]
    assert result.values["wh_per_l"] == pytest.approx(statistics.fmean(wh), rel=1e-12)
    assert result.errors["wh_per_l"] == pytest.approx(
        max(statistics.stdev(wh) / math.sqrt(DISCHARGE_GROUPS), 1e-4 * statistics.fmean(wh)),
        rel=1e-9,
    )


def test_nothing_is_computed_twice_and_the_cache_outlives_the_process(
    evaluated: tuple[ContentCache, Evaluation],
) -> None:
    cache, result = evaluated
    misses = cache.misses
    again = evaluate(DESIGN, MICRO, AT_10_W, seed=7, cache=cache)
    assert cache.misses == misses
    fresh = ContentCache(cache.folder)  # another process reading the same folder
    from_disk = evaluate(DESIGN, MICRO, AT_10_W, seed=7, cache=fresh)
    assert fresh.misses == 0 and fresh.hits == 6  # 3 cubes + 3 discharges
    for metric, value in result.values.items():
        assert again.values[metric] == pytest.approx(value, rel=1e-12)
        assert from_disk.values[metric] == pytest.approx(value, rel=1e-12)


def test_a_power_the_design_cannot_deliver_gives_no_energy(
    evaluated: tuple[ContentCache, Evaluation],
) -> None:
    cache, result = evaluated
    props = properties_of(result.cubes[0], 20.0, MICRO)
    values = cell_discharge(props, DischargeCondition(power_w=90_000.0), cache)
    assert values == {"mah_per_g_am": 0.0, "wh_per_kg": 0.0, "wh_per_l": 0.0}


def test_a_trial_writes_its_slice_and_metrics_and_reports_its_noise(tmp_path: Path) -> None:
    spec = parse_campaign(
        {
            "kind": "electrode",
            "name": "unit",
            "budget": 2,
            "batch_size": 1,
            "seed": 7,
            "objectives": [{"name": "wh_per_l"}],
            "design": {"porosity": [0.25, 0.5], "am_share": 0.92, "mass_loading": 20.0},
            "microstructure": MICRO.model_dump(),
        },
        "test",
    )
    experiment = ElectrodeTwinExperiment(spec, ContentCache(), tmp_path)  # type: ignore[arg-type]
    candidate = Candidate(id="t0000", design=DesignPoint(values={"porosity": 0.35}), planner="x")
    outcome = experiment.run(candidate, campaign=None)  # no campaign: no recalibration
    assert set(outcome.errors) == set(outcome.values) == {"mah_per_g_am", "wh_per_kg", "wh_per_l"}
    assert all(e > 0 for e in outcome.errors.values())
    metrics, picture = outcome.artifacts
    saved = json.loads(metrics.read_text("utf-8"))
    assert saved["design"] == DESIGN
    assert saved["values"]["wh_per_l"] == pytest.approx(outcome.values["wh_per_l"], rel=1e-12)
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="porosity is 0.6; allowed: 0.25..0.5"):
        experiment.check(DesignPoint(values={"porosity": 0.6}))


def test_a_recalibrated_twin_scores_the_same_cubes_with_its_fitted_parameters(
    evaluated: tuple[ContentCache, Evaluation],
) -> None:
    from electroloop.simulations.electrode_cell import DischargeRequestError

    cache, result = evaluated
    misses = cache.misses
    resistive = {"Contact resistance [Ohm]": 0.02}  # 20 mΩ more than the foils' few mΩ
    at_200_w = DischargeCondition(power_w=200.0)
    plain = evaluate(DESIGN, MICRO, at_200_w, seed=7, cache=cache)
    fitted = evaluate(DESIGN, MICRO, at_200_w, seed=7, cache=cache, overrides=resistive)
    assert cache.misses == misses + 6  # the cubes came from the cache; 2 × 3 new discharges
    assert fitted.values["wh_per_l"] < 0.95 * plain.values["wh_per_l"]
    with pytest.raises(DischargeRequestError, match=r"overrides \['Not a parameter'\]"):
        evaluate(DESIGN, MICRO, AT_10_W, seed=7, cache=cache, overrides={"Not a parameter": 1.0})
