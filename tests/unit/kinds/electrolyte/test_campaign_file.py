"""Campaign files: the example parses, and every mistake is named with what is allowed."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from electroloop.errors import ConfigError
from electroloop.kinds.electrolyte.campaign import default_campaign_text
from electroloop.kinds.registry import load_campaign

EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "campaigns" / "conductivity.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campaign.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_parses_into_the_expected_campaign() -> None:
    spec = load_campaign(EXAMPLE)
    assert [s.name for s in spec.solvents] == ["EC", "EMC", "DMC"]
    assert spec.salt.name == "LiPF6"
    assert spec.temperature == 25.0
    assert (spec.budget, spec.batch_size, spec.planner, spec.lab) == (24, 4, "ax", "simulated")
    assert [(o.name, o.direction) for o in spec.objectives] == [("conductivity", "maximize")]


def test_embedded_default_is_the_example() -> None:
    assert default_campaign_text() == EXAMPLE.read_text(encoding="utf-8")


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("budget = 24", "budget = 24\nbudgte = 30")
    with pytest.raises(ConfigError, match=r"budgte: unknown key \(value 30\)"):
        load_campaign(write(tmp_path, text))


def test_out_of_range_value_names_field_value_and_limit(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("batch_size = 4", "batch_size = 99")
    with pytest.raises(ConfigError) as info:
        load_campaign(write(tmp_path, text))
    assert "batch_size: Input should be less than or equal to 16 (got 99)" in str(info.value)


def test_nested_field_is_located(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("max_molality = 2.0", "max_molality = 9.0")
    with pytest.raises(ConfigError, match=r"salt.max_molality: .*less than or equal to 5"):
        load_campaign(write(tmp_path, text))


def test_unknown_planner_lists_allowed(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace('planner = "ax"', 'planner = "bayes!"')
    with pytest.raises(ConfigError) as info:
        load_campaign(write(tmp_path, text))
    assert "planner: allowed: 'ax', 'transfer', 'ax-stock', 'sobol', 'random'" in str(info.value)
    assert "(got 'bayes!')" in str(info.value)


def test_unknown_lab_lists_allowed(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace('lab = "simulated"', 'lab = "bench-2"')
    with pytest.raises(
        ConfigError, match=r"lab: allowed: 'simulated' or a lab file 'path/to/lab.toml' \(got"
    ):
        load_campaign(write(tmp_path, text))


def test_a_lab_file_is_resolved_next_to_the_campaign(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace('lab = "simulated"', 'lab = "labs/bench.toml"')
    (tmp_path / "sub").mkdir()
    spec = load_campaign(write(tmp_path / "sub", text))
    assert spec.lab == str((tmp_path / "sub" / "labs" / "bench.toml").resolve())


def test_infeasible_mixture_bounds(tmp_path: Path) -> None:
    data = tomllib.loads(EXAMPLE.read_text())
    text = EXAMPLE.read_text().replace("max_fraction = 0.9", "max_fraction = 0.1")
    assert data["solvents"][1]["max_fraction"] == 0.9
    with pytest.raises(ConfigError, match="cannot sum to 1"):
        load_campaign(write(tmp_path, text))


def test_batch_larger_than_budget(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("budget = 24", "budget = 2")
    with pytest.raises(ConfigError, match="batch_size 4 exceeds budget 2"):
        load_campaign(write(tmp_path, text))


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_campaign(write(tmp_path, "name = "))
    with pytest.raises(ConfigError, match="cannot read campaign file"):
        load_campaign(tmp_path / "absent.toml")


def test_missing_required_field(tmp_path: Path) -> None:
    text = "\n".join(
        line for line in EXAMPLE.read_text().splitlines() if not line.startswith("temperature")
    )
    with pytest.raises(ConfigError, match="temperature: required but missing"):
        load_campaign(write(tmp_path, text))


def test_planner_file_is_resolved_next_to_the_campaign(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace('planner = "ax"', 'planner = "planners/mine.py:Mine"')
    spec = load_campaign(write(tmp_path, text))
    assert spec.planner == f"{(tmp_path / 'planners' / 'mine.py').resolve()}:Mine"


def test_several_objectives_need_a_reference_for_each(tmp_path: Path) -> None:
    cost = EXAMPLE.with_name("conductivity_cost.toml").read_text(encoding="utf-8")
    assert load_campaign(EXAMPLE.with_name("conductivity_cost.toml")).goal.reference_point() == {
        "conductivity": 8.0,  # from the outcome constraint conductivity >= 8
        "cost": 8.0,  # its threshold
    }
    text = "\n".join(line for line in cost.splitlines() if not line.startswith("threshold"))
    with pytest.raises(ConfigError) as info:
        load_campaign(write(tmp_path, text))
    message = str(info.value)
    assert "objectives[1] (cost): a campaign with several objectives needs a threshold" in message
    assert "objectives[0]" not in message and "(got {" not in message  # no dump of the file
