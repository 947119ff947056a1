"""The initial design grows with the dimension and shrinks with data already measured."""

from __future__ import annotations

import pytest

from electroloop.planners.initial_design import initial_design_size


@pytest.mark.parametrize(
    ("dimension", "known", "size"),
    [(1, 0, 5), (2, 0, 5), (4, 0, 5), (7, 0, 8), (7, 2, 6), (4, 9, 0)],
)
def test_d_plus_one_at_least_five_less_what_is_known(dimension: int, known: int, size: int) -> None:
    assert initial_design_size(dimension, known) == size
    assert initial_design_size(2, minimum=3) == 3


def test_a_meaningless_dimension_is_refused() -> None:
    with pytest.raises(ValueError, match="dimension 0"):
        initial_design_size(0)
