"""resolve_planner: built-in names, user classes by reference, clear ConfigErrors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from electroloop.errors import ConfigError
from electroloop.planners import BUILTIN_PLANNERS, RandomPlanner, SobolPlanner, resolve_planner


def test_builtins() -> None:
    assert BUILTIN_PLANNERS == ("ax", "sobol", "random")
    assert resolve_planner("sobol") is SobolPlanner
    assert resolve_planner(" random ") is RandomPlanner
    assert resolve_planner("ax").__name__ == "AxPlanner"


def test_choosing_sobol_does_not_import_ax() -> None:
    code = (
        "import sys\n"
        "from electroloop.planners import resolve_planner\n"
        "resolve_planner('sobol'); resolve_planner('random')\n"
        "assert 'ax' not in sys.modules and 'botorch' not in sys.modules, 'ax imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_user_class_by_reference() -> None:
    assert resolve_planner("electroloop.planners.sobol:SobolPlanner") is SobolPlanner


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        ("bayes", "not recognised"),
        ("electroloop.planners.sobol", "not recognised"),
        ("electroloop.planners.sobol:", "not recognised"),
        (":SobolPlanner", "not recognised"),
        ("electroloop.no_such_module:Planner", "cannot import module"),
        ("electroloop.planners.sobol:NoSuchPlanner", "has no class"),
        ("electroloop.planners.mixture:unpack_common_state", "has no class"),
        ("electroloop.models:Formulation", "lacks ask, tell, mark_failed, state, from_state"),
        ("electroloop.planners.mixture:MixtureMap", "lacks ask, tell"),
    ],
)
def test_bad_references_name_the_reference_and_what_is_allowed(ref: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_planner(ref)
    message = str(info.value)
    assert repr(ref.strip()) in message
    assert why in message
