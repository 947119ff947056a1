"""Chemical-safety rules: a campaign whose space could make HF, boil a solvent or oxidise it in
a cell is refused before anything moves, naming the rule; only a named person with a reason
overrides one, and the override and the cautions are on record."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from electroloop.cli import main
from electroloop.errors import ConfigError
from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.kinds.electrolyte.safety import RULES, SOLVENT_SAFETY
from electroloop.kinds.registry import load_campaign, parse_campaign
from electroloop.orchestrator.closed_loop import Campaign
from electroloop.orchestrator.events import SafetyChecked
from electroloop.orchestrator.store import CampaignStore
from electroloop.planners import SobolPlanner
from electroloop.simulations.density import SOLVENT_SMILES
from tests.fixtures.kinds.density.experiment import DensityExperiment

REPO = Path(__file__).resolve().parents[4]
WATER = {"name": "water", "smiles": "O", "min_fraction": 0.0, "max_fraction": 0.5}
OVERRIDE = {"rule": "hf-hazard", "by": "Ada Lovelace", "reason": "sealed PTFE reactor, HF scrubber"}


def demo(**changes: Any) -> dict[str, Any]:
    return default_campaign().model_dump(mode="json") | changes


def with_water(salt_smiles: str = "[Li+].F[P-](F)(F)(F)(F)F", **changes: Any) -> dict[str, Any]:
    data = demo(**changes)
    data["solvents"] = [data["solvents"][0], data["solvents"][2], WATER]
    data["salt"] = {**data["salt"], "smiles": salt_smiles}
    return data


def test_water_with_lipf6_is_refused_naming_the_hf_hazard(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"hf-hazard: salt LiPF6 hydrolyses to HF .*'water'"):
        parse_campaign(with_water(), "water.toml")
    # from the command line: refused before the event log or any simulator exists
    path = tmp_path / "water.toml"
    text = (REPO / "examples/campaigns/conductivity.toml").read_text(encoding="utf-8")
    path.write_text(
        text + '\n[[solvents]]\nname = "water"\nsmiles = "O"\nmax_fraction = 0.2\n',
        encoding="utf-8",
    )
    assert main(["--home", str(tmp_path / "home"), "run", str(path)]) != 0
    assert not (tmp_path / "home" / "campaigns.sqlite").exists()


@pytest.mark.parametrize(
    ("salt", "solvent", "refused"),
    [
        ("F[B-](F)(F)F.[Li+]", {"name": "EtOH", "smiles": "CCO"}, True),  # LiBF4 + an alcohol
        ("[Li+].F[P-](F)(F)(F)(F)F", {"name": "MeNH2", "smiles": "CN"}, True),  # an amine
        # LiTFSI: C-F bonds only, hydrolytically stable with water
        ("[Li+].FC(F)(F)S(=O)(=O)[N-]S(=O)(=O)C(F)(F)F", {"name": "water", "smiles": "O"}, False),
        ("[Li+].F[P-](F)(F)(F)(F)F", {"name": "DEC", "smiles": "CCOC(=O)OCC"}, False),  # aprotic
    ],
)
def test_the_hf_rule_needs_both_a_hydrolysable_fluoride_and_a_protic_solvent(
    salt: str, solvent: dict[str, str], refused: bool
) -> None:
    data = demo()
    data["solvents"] = [data["solvents"][0], {**solvent, "min_fraction": 0.0, "max_fraction": 0.5}]
    data["salt"] = {**data["salt"], "smiles": salt}
    if refused:
        with pytest.raises(ConfigError, match="hf-hazard"):
            parse_campaign(data, "test")
    else:
        rules = {h.rule for h in parse_campaign(data, "test").hazards()}
        assert "hf-hazard" not in rules


def test_a_solvent_the_space_rules_out_trips_nothing() -> None:
    data = with_water()
    data["solvents"][2] = {**WATER, "max_fraction": 0.0}
    data["solvents"][0] = {**data["solvents"][0], "min_fraction": 0.0, "max_fraction": 1.0}
    data["solvents"][1] = {**data["solvents"][1], "min_fraction": 0.0, "max_fraction": 1.0}
    assert "hf-hazard" not in {h.rule for h in parse_campaign(data, "test").hazards()}


def test_an_override_needs_a_known_rule_a_name_and_a_reason() -> None:
    with pytest.raises(ConfigError) as info:
        parse_campaign(with_water(safety_overrides=[{"rule": "hf-hazard"}]), "test")
    assert "safety_overrides.0.by: required" in str(info.value)
    assert "safety_overrides.0.reason: required" in str(info.value)
    anonymous = {**OVERRIDE, "by": "  "}
    with pytest.raises(ConfigError, match=r"safety_overrides\.0\.by"):
        parse_campaign(with_water(safety_overrides=[anonymous]), "test")
    with pytest.raises(ConfigError, match=r"safety_overrides\.0\.reason: .*at least 10"):
        parse_campaign(with_water(safety_overrides=[{**OVERRIDE, "reason": "fine"}]), "test")
    with pytest.raises(ConfigError, match=r"unknown rules \['fire'\]; allowed: \['above-flash"):
        parse_campaign(with_water(safety_overrides=[{**OVERRIDE, "rule": "fire"}]), "test")
    spec = parse_campaign(with_water(safety_overrides=[OVERRIDE]), "test")
    assert [o.by for o in spec.safety_overrides] == ["Ada Lovelace"]


def test_temperatures_near_a_boiling_point_are_refused_and_flash_points_cautioned() -> None:
    with pytest.raises(ConfigError, match=r"near-boiling: .*DMC's boiling point 91 °C; allowed"):
        parse_campaign(demo(temperature=75.0), "test")
    cool = parse_campaign(demo(temperature=10.0), "test")
    assert not cool.hazards()  # below every flash point of EC, EMC and DMC
    warm = parse_campaign(demo(temperature=25.0), "test")
    cautions = {(h.rule, h.refuse) for h in warm.hazards()}
    assert cautions == {("above-flash-point", False)}  # DMC 18 °C, EMC 23 °C


def test_cells_charged_beyond_a_solvents_window_are_refused() -> None:
    data = load_campaign(REPO / "examples/campaigns/cycling.toml").model_dump(mode="json")
    dme = {"name": "DME", "smiles": "COCCOC", "min_fraction": 0.0, "max_fraction": 0.3}
    with pytest.raises(ConfigError, match=r"voltage-window: graphite-nmc811 cells charge to 4.2 V"):
        parse_campaign({**data, "solvents": [*data["solvents"], dme]}, "test")
    lfp = {**data, "cycling": {**data["cycling"], "chemistry": "graphite-lfp"}}
    assert "voltage-window" not in {
        h.rule for h in parse_campaign({**lfp, "solvents": [*data["solvents"], dme]}, "t").hazards()
    }  # 3.65 V stays below DME's 4.0 V


def test_overrides_and_cautions_are_recorded_when_the_campaign_starts(tmp_path: Path) -> None:
    spec = parse_campaign(with_water(safety_overrides=[OVERRIDE]), "test")
    with CampaignStore(tmp_path / "campaigns.sqlite") as store:
        planner = SobolPlanner(spec.space, spec.goal, 0)
        Campaign("hf", spec, store, planner, DensityExperiment(spec.space)).start()
        checked = [e for e in store.events("hf") if isinstance(e, SafetyChecked)]
    assert len(checked) == 1 and checked[0].overrides == spec.safety_overrides
    rules = {h["rule"]: h["refuse"] for h in checked[0].hazards}
    assert rules == {"hf-hazard": True, "no-safety-data": False, "above-flash-point": False}


def test_every_rule_and_every_solvent_is_in_docs_safety() -> None:
    text = (REPO / "docs" / "safety.md").read_text(encoding="utf-8")
    for rule in RULES:
        assert re.search(rf"^\| `{re.escape(rule)}` \|", text, re.MULTILINE), rule
    for data in SOLVENT_SAFETY.values():
        assert f"| {data.name} |" in text, data.name
    assert set(SOLVENT_SMILES) <= {d.name for d in SOLVENT_SAFETY.values()}
