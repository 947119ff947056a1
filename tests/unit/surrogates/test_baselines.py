"""Tabular baselines on real CALiSol-23 LiPF6 data: tuned on training sources, honest intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from electroloop.simulations.calisol import load_calisol
from electroloop.surrogates.baselines import (
    GRID,
    GaussianProcessBaseline,
    GradientBoostingBaseline,
    log_targets,
)
from electroloop.surrogates.calibration import regression_report
from electroloop.surrogates.mixture import MixtureRecord
from electroloop.workflows.calisol_records import SALT_SMILES, to_records

HELD_OUT = "10.1021/JE020219O"


@pytest.fixture(scope="module")
def split(shared_data: Path) -> tuple[list[MixtureRecord], list[MixtureRecord]]:
    points = load_calisol(shared_data / "calisol23").points
    lipf6 = [r for r in to_records(points).records if r.salt_smiles == SALT_SMILES["LiPF6"]]
    rng = np.random.default_rng(0)
    train = [r for r in lipf6 if r.group != HELD_OUT]
    test = [r for r in lipf6 if r.group == HELD_OUT]
    train = [train[i] for i in sorted(rng.choice(len(train), 1000, replace=False))]
    test = [test[i] for i in sorted(rng.choice(len(test), 300, replace=False))]
    return train, test


def constant_mae(train: list[MixtureRecord], test: list[MixtureRecord]) -> float:
    y = np.array([r.target for r in test], dtype=float)
    return float(np.mean(np.abs(y - np.mean([r.target for r in train]))))


def test_gradient_boosting_is_tuned_on_training_sources_and_beats_the_mean(
    split: tuple[list[MixtureRecord], list[MixtureRecord]],
) -> None:
    train, test = split
    model = GradientBoostingBaseline.fit(train)
    assert model.params in [dict(p) for p in GRID]  # picked from the grid: copied values
    prediction = model.predict(test)
    y = np.array([r.target for r in test], dtype=float)
    report = regression_report(y, prediction.mean, prediction.std)
    assert report.mae < 0.25 * constant_mae(train, test)
    q = model.quantiles(train)
    inside = (q[:, 0] <= log_targets(train)) & (log_targets(train) <= q[:, 2])
    assert inside.mean() >= 0.8  # a 5–95 % interval, in sample


def test_gaussian_process_beats_the_mean(
    split: tuple[list[MixtureRecord], list[MixtureRecord]],
) -> None:
    train, test = split
    model = GaussianProcessBaseline.fit(train, max_points=200)
    prediction = model.predict(test)
    y = np.array([r.target for r in test], dtype=float)
    assert np.all(prediction.std > 0.0)
    assert regression_report(y, prediction.mean, prediction.std).mae < 0.5 * constant_mae(
        train, test
    )
