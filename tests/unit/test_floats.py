"""`tests.floats.assert_close`: the comparison the other tests use for computed structures."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from electroloop.models import Formulation
from tests.floats import SAME_COMPUTATION, assert_close


@dataclasses.dataclass(frozen=True)
class Reading:
    label: str
    values: tuple[float, ...]


def _formulation(ec: float) -> Formulation:
    return Formulation(
        fractions={"EC": ec, "DMC": 1.0 - ec}, salt="LiPF6", molality=1.0, temperature=25.0
    )


def test_last_bits_of_nested_floats_pass_and_their_path_is_named_when_they_do_not() -> None:
    ours = [_formulation(0.3), Reading("a", (1.0, 2.0))]
    reordered = [_formulation(0.1 + 0.2), Reading("a", (1.0, 2.0 + 4e-16))]  # 0.1 + 0.2 != 0.3
    assert_close(ours, reordered, **SAME_COMPUTATION)
    with pytest.raises(AssertionError, match=r"\[0\]\.fractions\['EC'\]: 0\.3 != 0\.3003"):
        assert_close(ours, [_formulation(0.3003), ours[1]], rel=1e-6, abs=0.0)
    with pytest.raises(AssertionError, match=r"\[1\]\.label: 'a' != 'b'"):
        assert_close(ours, [ours[0], Reading("b", (1.0, 2.0))], **SAME_COMPUTATION)


def test_anything_but_a_float_must_match_exactly() -> None:
    with pytest.raises(AssertionError, match="length"):
        assert_close([1.0], [1.0, 2.0], **SAME_COMPUTATION)
    with pytest.raises(AssertionError, match="keys"):
        assert_close({"a": 1.0}, {"b": 1.0}, **SAME_COMPUTATION)
    with pytest.raises(AssertionError, match="list != tuple"):
        assert_close([1.0], (1.0,), **SAME_COMPUTATION)
    assert_close({"n": 3, "nan": float("nan")}, {"n": 3, "nan": float("nan")}, rel=0.0, abs=0.0)


def test_arrays_compare_within_the_tolerance_and_by_shape() -> None:
    a = np.linspace(0.0, 1.0, 5)
    assert_close(a, a * (1 + 1e-14), **SAME_COMPUTATION)
    with pytest.raises(AssertionError, match="flat index 4"):
        assert_close(a, a + np.r_[0, 0, 0, 0, 1e-3], rel=1e-6, abs=0.0)
    with pytest.raises(AssertionError, match="shape"):
        assert_close(a, a[:4], **SAME_COMPUTATION)
