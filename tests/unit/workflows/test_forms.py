"""The forms a technician fills in the Prefect UI: what they render (the JSON schema Prefect
turns into a form) and how their answers become campaigns and review decisions."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.utilities.callables import parameter_schema
from pydantic import ValidationError

from electroloop.cli import main
from electroloop.errors import CampaignError, ConfigError
from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.kinds.registry import parse_campaign
from electroloop.models import Candidate, Estimate
from electroloop.workflows.approvals import decisions_from, review_description, review_form
from electroloop.workflows.deployments import (
    CampaignForm,
    InlineSpace,
    ScreeningForm,
    SolventRange,
    start_campaign,
)

ROOT = Path(__file__).resolve().parents[3]


def test_the_campaign_form_renders_titles_ranges_defaults_and_choices() -> None:
    schema = parameter_schema(start_campaign).model_dump()
    form = schema["definitions"]["CampaignForm"]["properties"]
    assert {"title": "Budget (trials)", "minimum": 1, "default": 24}.items() <= form[
        "budget"
    ].items()
    assert form["batch_size"]["maximum"] == 16
    assert form["planner"]["enum"] == ["ax", "sobol", "random"]
    assert form["approval_required"]["type"] == "boolean"
    assert "description" in form["lab_file"] and form["lab_file"]["default"] == "simulated"
    solvents = schema["definitions"]["SolventRange"]["properties"]["name"]["enum"]
    assert {"EC", "EMC", "DMC", "PC", "FEC"} <= set(solvents)


def test_a_form_becomes_the_campaign_it_describes(tmp_path: Path) -> None:
    spec = CampaignForm(budget=6, batch_size=3, planner="sobol", name="tech-1").to_spec(ROOT)
    assert (spec.budget, spec.batch_size, spec.planner, spec.name) == (6, 3, "sobol", "tech-1")
    assert spec.solvents == default_campaign().solvents  # dumped and parsed again: copies
    from_file = CampaignForm(campaign_file="examples/campaigns/conductivity_cost.toml")
    assert len(from_file.to_spec(ROOT).objectives) == 2
    inline = CampaignForm(
        search_space=InlineSpace(
            solvents=[
                SolventRange(name="EC", max_fraction=0.5),
                SolventRange(name="PC", max_fraction=0.5),
                SolventRange(name="DMC"),
            ],
            salt="LiBF4",
            max_molality=1.5,
        )
    ).to_spec(ROOT)
    assert [s.name for s in inline.solvents] == ["EC", "PC", "DMC"]
    assert inline.salt.name == "LiBF4" and inline.salt.max_molality == 1.5


def test_bad_form_values_are_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="budget"):
        CampaignForm(budget=0)
    with pytest.raises(ConfigError, match="campaign_file 'nowhere.toml': no such file"):
        CampaignForm(campaign_file="nowhere.toml").to_spec(ROOT)
    with pytest.raises(ConfigError, match="lab_file '../../etc/passwd'; allowed: a path inside"):
        CampaignForm(lab_file="../../etc/passwd").to_spec(ROOT)
    with pytest.raises(ValidationError, match="min_molality must be <= max_molality"):
        CampaignForm(
            search_space=InlineSpace(
                solvents=[SolventRange(name="EC"), SolventRange(name="DMC")],
                min_molality=2.0,
                max_molality=1.0,
            )
        )
    with pytest.raises(ConfigError, match="molecules is empty"):
        ScreeningForm(molecules=" \n ").smiles()
    assert ScreeningForm(molecules="CCO, C1COC(=O)O1\nCOC").smiles() == [
        "CCO",
        "C1COC(=O)O1",
        "COC",
    ]


def batch() -> list[Candidate]:
    spec = default_campaign()
    f = spec.space.solvents
    formulation = {
        "fractions": {f[0].name: 0.3, f[1].name: 0.3, f[2].name: 0.4},
        "salt": "LiPF6",
        "molality": 1.2,
        "temperature": 25.0,
    }
    return [
        Candidate.model_validate(
            {"id": f"t000{i}", "formulation": formulation, "planner": "ax"}
            | ({"predicted": Estimate(mean=11.5, std=0.4)} if i == 0 else {})
        )
        for i in range(2)
    ]


def test_the_review_form_is_prefilled_with_the_proposal_and_bounded_by_the_space() -> None:
    space = default_campaign().space
    form = review_form(space, batch())
    schema = form.model_json_schema()
    assert set(schema["properties"]) == {"t0000", "t0001", "stop_campaign"}
    assert "predicted 11.50 ± 0.40" in schema["properties"]["t0000"]["title"]
    answer = form()  # what the technician sees before touching anything
    assert answer.t0000.action == "approve"
    assert answer.t0000.EC == pytest.approx(0.3, abs=5e-5)  # prefilled rounded to 4 decimals
    section = schema["$defs"][schema["properties"]["t0001"]["$ref"].split("/")[-1]]
    assert section["properties"]["EC"]["maximum"] == 0.6  # the campaign's bound
    assert "11.50 ± 0.40" in review_description("conductivity", batch())


def test_edits_are_rescaled_to_sum_to_one_and_rejections_keep_their_reason() -> None:
    space = default_campaign().space
    form = review_form(space, batch())
    answer = form.model_validate(
        {
            "t0000": {"action": "reject", "reason": "cloudy", "EC": 0.3, "EMC": 0.3, "DMC": 0.4},
            "t0001": {"action": "edit", "EC": 0.5, "EMC": 0.25, "DMC": 0.5, "molality": 1.5},
        }
    )
    decisions = decisions_from(space, batch(), answer)
    assert decisions["t0000"].action == "reject" and decisions["t0000"].reason == "cloudy"
    edited = decisions["t0001"].formulation
    # 0.5 / (0.5 + 0.25 + 0.5): the rescaling's closed form, rounding only
    assert edited is not None and edited.fractions["EC"] == pytest.approx(0.4, rel=1e-12)
    assert edited.molality == 1.5
    data = default_campaign().model_dump(mode="json")
    data["solvents"][0]["min_fraction"] = 0.0  # every solvent may now be left out
    open_space = parse_campaign(data, "test").space
    zero = review_form(open_space, batch()).model_validate(
        {"t0001": {"action": "edit", "EC": 0.0, "EMC": 0.0, "DMC": 0.0}}
    )
    with pytest.raises(CampaignError, match="t0001: the edited fractions sum to 0"):
        decisions_from(open_space, batch(), zero)


def test_resume_names_unknown_campaigns_and_serve_needs_a_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert main(["--home", str(tmp_path), "resume", "nope"]) == 2
    assert "campaign_id 'nope' is not in" in capsys.readouterr().err
    assert main(["--home", str(tmp_path), "serve"]) == 2
    assert "start one with `electroloop up`" in capsys.readouterr().err


def test_a_cycling_campaign_file_keeps_its_cells_under_the_forms_overrides() -> None:
    form = CampaignForm(campaign_file="examples/campaigns/cycling.toml", budget=12, batch_size=4)
    spec = form.to_spec(ROOT)
    assert spec.cycling is not None and spec.cycling.cycles == 100
    assert spec.goal.primary.name == "retention"
    assert (spec.budget, spec.batch_size) == (12, 4)
