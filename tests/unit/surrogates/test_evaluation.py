"""Leave-one-group-out driver: every record is predicted by a model that never saw its group."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest

from electroloop.errors import ConfigError
from electroloop.surrogates.ensemble import Prediction
from electroloop.surrogates.evaluation import group_folds, leave_one_group_out


@dataclass(frozen=True)
class Point:
    group: str
    target: float | None
    kind: str = "a"


@dataclass
class GroupMean:
    """Predicts the training mean; remembers which groups it was trained on."""

    seen: frozenset[str]
    value: float

    def predict(self, records: Sequence[Point], /) -> Prediction:
        for r in records:
            assert r.group not in self.seen  # the held-out group was not in training
        return Prediction(np.full(len(records), self.value), np.ones(len(records)))


def fit(train: Sequence[Point]) -> GroupMean:
    return GroupMean(frozenset(r.group for r in train), float(np.mean([r.target for r in train])))


POINTS = [Point("a", 1.0)] * 5 + [Point("b", 2.0, "b")] * 5 + [Point("c", 3.0), Point("d", 4.0)]


def test_small_groups_are_pooled_into_one_fold() -> None:
    folds = group_folds(POINTS, min_group_size=3)
    assert [f.groups for f in folds] == [("a",), ("b",), ("c", "d")]
    assert sorted(i for f in folds for i in f.test) == list(range(len(POINTS)))


def test_every_point_is_predicted_out_of_group_and_reported_per_key() -> None:
    result = leave_one_group_out(POINTS, fit, min_group_size=3, key=lambda p: p.kind)
    # each prediction is the mean of the other groups' targets: rounding only
    assert result.mean[:5] == pytest.approx(np.mean([2.0] * 5 + [3.0, 4.0]), rel=1e-12)
    assert result.mean[-1] == pytest.approx(np.mean([1.0] * 5 + [2.0] * 5), rel=1e-12)
    assert result.overall.n == len(POINTS)
    assert set(result.by_key) == {"a", "b"} and result.by_key["b"].n == 5
    assert result.fold[-1] == "pooled (2 sources)"


def test_one_group_cannot_be_held_out() -> None:
    with pytest.raises(ConfigError, match="at least 2"):
        leave_one_group_out([Point("a", 1.0)] * 3, fit)
