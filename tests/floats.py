"""How the tests compare floats: a computed float always with a tolerance that says why.

- A float the code under test *computes* (arithmetic, a physics model, a fit, an optimiser, a random
  draw) is compared with `pytest.approx` or `assert_close`, and the tolerance names the precision
  that matters: an instrument's resolution, the rounding of a reproduced closed form
  (`rel=1e-12`), an optimiser's stopping rule.
- Two runs of one computation (same seed, a resumed planner against a fresh one, a pool of workers
  against a serial loop, a cache against a recomputation) are compared with
  `assert_close(..., **SAME_COMPUTATION)`: only the order of the floating-point operations, and so
  the last bits, may differ between them.
- A float that is only *copied* (a literal parsed from a campaign file or an instrument's reply,
  stored and read back, picked from given values) is compared with `==`: there the last bit is the
  behaviour under test, since a store or parser that changed it would lose data.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

SAME_COMPUTATION: dict[str, float] = {"rel": 1e-12, "abs": 1e-15}
"""Tolerance between two runs of one computation: a few ulps of reordered arithmetic."""


def assert_close(
    actual: Any, expected: Any, *, rel: float, abs: float, path: str = "value"
) -> None:
    """Assert two nested values are equal, floats within `rel` or `abs`, all else exactly.

    Walks dataclasses, pydantic models, mappings, lists, tuples, numpy arrays and torch tensors,
    and names the first difference by its path (`[2].formulation.fractions['EC']`).
    """
    if _is_float(actual) or _is_float(expected):
        if _both_nan(actual, expected):
            return
        if actual != pytest.approx(expected, rel=rel, abs=abs):
            raise AssertionError(f"{path}: {actual!r} != {expected!r} within rel={rel}, abs={abs}")
        return
    if _is_array(actual) or _is_array(expected):
        got, want = _as_array(actual), _as_array(expected)
        if got.shape != want.shape:
            raise AssertionError(f"{path}: shape {got.shape} != {want.shape}")
        if got.dtype.kind in "fc" or want.dtype.kind in "fc":
            if not np.allclose(got, want, rtol=rel, atol=abs, equal_nan=True):
                worst = int(np.argmax(np.abs(got - want)))
                raise AssertionError(
                    f"{path}: arrays differ beyond rel={rel}, abs={abs}; at flat index {worst}: "
                    f"{got.ravel()[worst]!r} != {want.ravel()[worst]!r}"
                )
        elif not np.array_equal(got, want):
            raise AssertionError(f"{path}: {got!r} != {want!r}")
        return
    if type(actual) is not type(expected):
        raise AssertionError(f"{path}: {type(actual).__name__} != {type(expected).__name__}")
    fields = _field_names(actual)
    if fields is not None:
        for name in fields:
            a, e = getattr(actual, name), getattr(expected, name)
            assert_close(a, e, rel=rel, abs=abs, path=f"{path}.{name}")
    elif isinstance(actual, Mapping):
        if set(actual) != set(expected):
            raise AssertionError(
                f"{path}: keys {sorted(map(str, actual))} != {sorted(map(str, expected))}"
            )
        for key in actual:
            assert_close(actual[key], expected[key], rel=rel, abs=abs, path=f"{path}[{key!r}]")
    elif isinstance(actual, list | tuple):
        if len(actual) != len(expected):
            raise AssertionError(f"{path}: length {len(actual)} != {len(expected)}")
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_close(a, e, rel=rel, abs=abs, path=f"{path}[{i}]")
    elif actual != expected:
        raise AssertionError(f"{path}: {actual!r} != {expected!r}")


def _field_names(value: Any) -> list[str] | None:
    """The fields of a dataclass or pydantic model, or None for anything else."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [field.name for field in dataclasses.fields(value)]
    if hasattr(type(value), "model_fields"):
        return list(type(value).model_fields)
    return None


def _both_nan(a: Any, b: Any) -> bool:
    return _is_float(a) and _is_float(b) and math.isnan(a) and math.isnan(b)


def _is_float(value: Any) -> bool:
    return isinstance(value, float | np.floating)


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) or type(value).__module__.startswith("torch")


def _as_array(value: Any) -> np.ndarray:
    if type(value).__module__.startswith("torch"):
        return value.detach().cpu().numpy()
    return np.asarray(value)
