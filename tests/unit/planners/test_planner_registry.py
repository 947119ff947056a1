"""resolve_planner: built-in names, user classes by reference, clear ConfigErrors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from electroloop.errors import ConfigError
from electroloop.models import Goal, Salt, SearchSpace, Solvent
from electroloop.planners import BUILTIN_PLANNERS, RandomPlanner, SobolPlanner, resolve_planner
from electroloop.planners.registry import planner_version, registered_planners

STANDARD = SearchSpace(
    solvents=(
        Solvent(name="EC", smiles="C1COC(=O)O1", min_fraction=0.1, max_fraction=0.6),
        Solvent(name="DMC", smiles="COC(=O)OC"),
    ),
    salt=Salt(name="LiPF6", smiles="[Li+].F[P-](F)(F)(F)(F)F", min_molality=0.5, max_molality=2),
    temperature=25.0,
)


def test_builtins() -> None:
    assert BUILTIN_PLANNERS == ("ax", "ax-stock", "transfer", "sobol", "random")
    assert resolve_planner("transfer").__name__ == "TransferPlanner"
    assert resolve_planner("ax-stock").__name__ == "StockAxPlanner"
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


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "planners"


def test_a_planner_file_relative_to_base_dir() -> None:
    cls = resolve_planner("planners/user_planner.py:MinimalPlanner", base_dir=FIXTURES.parent)
    assert cls.__name__ == "MinimalPlanner"
    assert not hasattr(cls, "mark_abandoned")  # optional
    assert resolve_planner(f"{FIXTURES / 'user_planner.py'}:MinimalPlanner") is cls  # loaded once
    planner = cls(STANDARD, Goal(), 0)
    assert [c.planner for c in planner.ask(2)] == ["minimal", "minimal"]


def test_a_relative_planner_file_defaults_to_the_working_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(FIXTURES)
    assert resolve_planner("user_planner.py:MinimalPlanner").__name__ == "MinimalPlanner"


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        ("no_such_file.py:Planner", "is not a Python file"),
        ("broken_planner.py:Planner", "broken on purpose"),
        ("user_planner.py:NoSuchClass", "has no class 'NoSuchClass'"),
        ("user_planner.py:not_a_class", "has no class 'not_a_class'"),
        ("user_planner.py:NotAPlanner", "lacks ask, tell, mark_failed, state, from_state"),
        ("user_planner.py:WrongConstructor", "cannot be built as WrongConstructor(space, goal"),
    ],
)
def test_bad_planner_files_are_named(ref: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_planner(ref, base_dir=FIXTURES)
    assert repr(ref) in str(info.value)
    assert why in str(info.value)


@pytest.fixture
def installed_planners(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A package 'lab-planners' installed on sys.path the way pip would: a module and a
    dist-info whose entry_points.txt registers planners under 'electroloop.planners'."""
    (tmp_path / "lab_planners_mod.py").write_text(
        "from electroloop.planners.sobol import SobolPlanner\n\n\n"
        "class LabPlanner(SobolPlanner):\n    name = 'lab'\n\n\n"
        "def helper():\n    return None\n"
    )
    (tmp_path / "lab_planners_broken.py").write_text("raise ImportError('no GPU here')\n")
    dist = tmp_path / "lab_planners-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lab-planners\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[electroloop.planners]\n"
        "lab-local = lab_planners_mod:LabPlanner\n"
        "lab-helper = lab_planners_mod:helper\n"
        "lab-broken = lab_planners_broken:Planner\n"
        "sobol = lab_planners_mod:LabPlanner\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("lab_planners_mod", "lab_planners_broken"):
        sys.modules.pop(name, None)


def test_a_planner_registered_under_the_entry_point_group(installed_planners: Path) -> None:
    cls = resolve_planner("lab-local")
    assert cls.__name__ == "LabPlanner" and cls.__module__ == "lab_planners_mod"
    assert registered_planners()["lab-local"] == "lab_planners_mod:LabPlanner"
    assert [c.planner for c in cls(STANDARD, Goal(), 1).ask(2)] == ["lab", "lab"]
    assert resolve_planner("sobol") is SobolPlanner  # built-ins cannot be shadowed


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        ("lab-broken", "cannot load entry point 'lab_planners_broken:Planner'"),
        ("lab-helper", "is not a class"),
        ("lab-remote", "registered: ['lab-broken', 'lab-helper', 'lab-local', 'sobol']"),
    ],
)
def test_bad_entry_points_are_named(installed_planners: Path, ref: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_planner(ref)
    assert repr(ref) in str(info.value)
    assert why in str(info.value)


def test_a_planners_version_is_its_class_settings_and_source(tmp_path: Path) -> None:
    source = (FIXTURES / "user_planner.py").read_text()
    mine = tmp_path / "mine.py"
    mine.write_text(source)
    cls = resolve_planner(f"{mine}:MinimalPlanner")
    version = planner_version(cls, {"seed": 1})
    assert version.startswith(f"{cls.__module__}.MinimalPlanner source ")
    assert planner_version(cls, {"seed": 1}) == version  # nothing changed: the same version
    assert planner_version(cls, {"seed": 2}) != version  # other settings: another model
    mine.write_text(source + "\n# a scientist's edit\n")  # same class, edited file
    assert planner_version(cls, {"seed": 1}) != version
    sobol = planner_version(SobolPlanner, {"seed": 1})
    assert sobol.startswith("electroloop.planners.sobol.SobolPlanner source ")
