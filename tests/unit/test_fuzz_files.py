"""Property-based fuzzing of the file parsers a user feeds: campaign and lab files, as bytes and
as TOML values in place of the example files' own. Whatever comes in, the answer is a parsed
file or a `ConfigError` naming what is wrong: never another exception, never a traceback.
(The instrument reply parsers are fuzzed beside their drivers, in tests/unit/instruments/.)"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from electroloop.errors import ConfigError
from electroloop.kinds.registry import load_campaign
from electroloop.settings import load_lab

REPO = Path(__file__).resolve().parents[2]
CAMPAIGN = tomllib.loads((REPO / "examples/campaigns/conductivity.toml").read_text("utf-8"))
LAB = tomllib.loads((REPO / "examples/labs/lab.sim.toml").read_text("utf-8"))
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in a TOML document (tables and arrays of tables)."""
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*prefix, index))
    return found


def _replaced(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copy = tomllib.loads(tomli_w.dumps(document))
    *parents, last = path
    node: Any = copy
    for key in parents:
        node = node[key]
    node[last] = value
    return copy


def _toml(document: dict[str, Any]) -> str | None:
    """The document as TOML text, None where TOML cannot hold a value (None, a NaN key...)."""
    try:
        return tomli_w.dumps(document)
    except (TypeError, ValueError):
        return None


def _read(reader: Any, path: Path, content: str | bytes) -> None:
    """Read the file; only a clean parse or a ConfigError with a message may come out."""
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    try:
        reader(path)
    except ConfigError as error:
        assert str(error).strip()


@pytest.mark.parametrize(
    ("document", "reader"), [(CAMPAIGN, load_campaign), (LAB, load_lab)], ids=["campaign", "lab"]
)
@FUZZ
@given(data=st.data())
def test_any_value_in_any_field_parses_or_is_a_named_error(
    tmp_path: Path, document: dict[str, Any], reader: Any, data: st.DataObject
) -> None:
    path = data.draw(st.sampled_from(_paths(document)))
    value = data.draw(values)
    text = _toml(_replaced(document, path, value))
    if text is not None:
        _read(reader, tmp_path / "file.toml", text)


@FUZZ
@given(content=st.binary(max_size=400))
def test_any_bytes_as_a_campaign_or_lab_file_are_a_named_error(
    tmp_path: Path, content: bytes
) -> None:
    _read(load_campaign, tmp_path / "campaign.toml", content)
    _read(load_lab, tmp_path / "lab.toml", content)


def test_the_fuzzer_reaches_every_field() -> None:
    """The paths drawn from cover nested tables and arrays of tables (solvents)."""
    paths = _paths(CAMPAIGN)
    assert any(len(p) >= 3 for p in paths)
    assert len(paths) >= 10
