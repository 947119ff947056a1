"""The forms a technician fills in the Prefect UI: what they render (the JSON schema Prefect
turns into a form) and how their answers become campaigns and review decisions."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools.validation import ValidationError as SchemaError
from prefect.utilities.schema_tools.validation import validate
from pydantic import ValidationError

from electroloop.cli import main
from electroloop.errors import CampaignError, ConfigError
from electroloop.kinds.cycling.form import CyclingForm
from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.kinds.electrolyte.form import ElectrolyteForm, InlineSpace, SolventRange
from electroloop.kinds.registry import parse_campaign
from electroloop.models import Candidate, Estimate
from electroloop.workflows.approvals import decisions_from, review_description, review_form
from electroloop.workflows.deployments import (
    EMBEDDED,
    FROM_FILE,
    CampaignForm,
    ScreeningForm,
    campaign_choices,
    deployments,
    start_campaign,
)

ROOT = Path(__file__).resolve().parents[3]
CYCLING = "examples/campaigns/cycling.toml"
PLUG_IN = "examples/campaigns/local_search.toml"  # written by `project` below


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with the example planner and a campaign file that names it."""
    (tmp_path / "examples" / "planners").mkdir(parents=True)
    shutil.copy(ROOT / "examples/planners/my_planner.py", tmp_path / "examples/planners")
    conductivity = (ROOT / "examples/campaigns/conductivity.toml").read_text(encoding="utf-8")
    campaign = tmp_path / PLUG_IN
    campaign.parent.mkdir(parents=True)
    campaign.write_text(
        conductivity.replace(
            'planner = "ax"', 'planner = "../planners/my_planner.py:LocalSearchPlanner"'
        ).replace("budget = 24", "budget = 10"),
        encoding="utf-8",
    )
    return tmp_path


def registered_form(root: Path) -> dict[str, Any]:
    """The start-campaign deployment's parameter schema as `serve` registers it from `root`."""
    campaign = next(d for d in deployments(root) if d.flow_name == "start-campaign")
    return campaign._parameter_openapi_schema.model_dump()


def test_the_campaign_form_renders_titles_ranges_defaults_and_choices() -> None:
    schema = parameter_schema(start_campaign).model_dump()
    form = schema["definitions"]["CampaignForm"]["properties"]
    # optional overrides: one plain number box, empty by default (the campaign file's value)
    budget = form["budget"]
    assert {"title": "Budget (trials)", "type": "integer", "minimum": 1}.items() <= budget.items()
    assert "default" not in budget and "anyOf" not in budget
    assert "empty: the campaign file's budget" in budget["description"]
    assert form["batch_size"]["maximum"] == 16 and "default" not in form["batch_size"]
    assert "default" not in form["seed"] and "campaign file's" in form["seed"]["description"]
    assert form["planner"]["enum"] == [FROM_FILE, "ax", "transfer", "sobol", "random"]
    assert form["planner"]["default"] == FROM_FILE == "from the campaign file"
    assert form["approval_required"]["type"] == "boolean"
    assert "campaign file's lab" in form["lab_file"]["description"]
    assert form["lab_file"]["default"] == ""
    solvents = schema["definitions"]["SolventRange"]["properties"]["name"]["enum"]
    assert {"EC", "EMC", "DMC", "PC", "FEC"} <= set(solvents)


def test_the_campaign_files_of_the_project_folder_are_offered_as_a_choice(project: Path) -> None:
    examples = sorted((ROOT / "examples/campaigns").rglob("*.toml"))
    assert CYCLING in campaign_choices(ROOT)
    assert "examples/campaigns/electrode/case3_energy_cell.toml" in campaign_choices(ROOT)
    assert campaign_choices(ROOT) == [
        EMBEDDED,
        *(p.relative_to(ROOT).as_posix() for p in examples),
    ]
    assert campaign_choices(project) == [EMBEDDED, PLUG_IN]
    assert campaign_choices(project / "empty") == [EMBEDDED]  # no examples/campaigns there
    # registered as a drop-down ('Choose', shown first) or any path typed under 'Other file'
    field = registered_form(ROOT)["definitions"]["CampaignForm"]["properties"]["campaign_file"]
    choose, other = field["anyOf"]
    assert (choose["title"], choose["enum"]) == ("Choose", campaign_choices(ROOT))
    assert (other["title"], other["type"]) == ("Other file", "string")
    assert field["default"] == EMBEDDED and field["title"] == "Campaign file"
    assert "examples/campaigns/" in field["description"]
    for choice in campaign_choices(ROOT):  # every offered choice is a valid campaign
        assert CampaignForm(campaign_file=choice).to_spec(ROOT).budget >= 1


def test_an_untouched_form_keeps_the_campaign_files_values(project: Path) -> None:
    cycling = CampaignForm(campaign_file=CYCLING).to_spec(ROOT)
    assert (cycling.budget, cycling.batch_size, cycling.seed, cycling.planner) == (8, 4, 11, "ax")
    assert cycling.name == "cycling-demo" and cycling.cycling is not None
    plug_in = CampaignForm(campaign_file=PLUG_IN).to_spec(project)
    planner = f"{(project / 'examples/planners/my_planner.py').resolve()}:LocalSearchPlanner"
    assert plug_in.planner == planner  # the file's plug-in planner survives, found from anywhere
    assert plug_in.budget == 10
    demo = CampaignForm().to_spec(ROOT)
    assert demo == default_campaign().model_copy(update={"lab": "simulated"})
    # what the Prefect UI sends for an untouched form: the empty boxes as null
    sent = CampaignForm.model_validate(
        {"campaign_file": CYCLING, "planner": FROM_FILE, "budget": None, "seed": None}
    )
    assert sent.to_spec(ROOT).budget == 8


def test_the_campaign_files_lab_is_kept_unless_the_form_names_one(project: Path) -> None:
    shutil.copytree(ROOT / "examples/labs", project / "examples/labs")
    campaign = project / "examples/campaigns/on_bench.toml"
    text = (ROOT / "examples/campaigns/conductivity.toml").read_text(encoding="utf-8")
    campaign.write_text(
        text.replace('lab = "simulated"', 'lab = "../labs/lab.sim.toml"'), encoding="utf-8"
    )
    chosen = "examples/campaigns/on_bench.toml"
    bench = (project / "examples/labs/lab.sim.toml").resolve()
    assert CampaignForm(campaign_file=chosen).to_spec(project).lab == str(bench)
    assert CampaignForm(campaign_file=chosen, lab_file="simulated").to_spec(project).lab == (
        "simulated"
    )


def test_filled_fields_override_the_campaign_file(project: Path) -> None:
    form = CampaignForm(campaign_file=CYCLING, planner="sobol", budget=12, batch_size=2, seed=3)
    spec = form.to_spec(ROOT)
    assert (spec.budget, spec.batch_size, spec.seed, spec.planner) == (12, 2, 3, "sobol")
    assert spec.cycling is not None  # the rest is still the file's
    only_budget = CampaignForm(campaign_file=PLUG_IN, budget=4).to_spec(project)
    assert only_budget.budget == 4 and only_budget.planner.endswith(
        "my_planner.py:LocalSearchPlanner"
    )
    assert CampaignForm(campaign_file=PLUG_IN, planner="random").to_spec(project).planner == (
        "random"
    )


def test_each_kind_brings_its_section_of_the_form() -> None:
    schema = parameter_schema(start_campaign).model_dump()
    form = schema["definitions"]["CampaignForm"]["properties"]
    assert {"electrolyte", "cycling"} <= form.keys()
    cells = schema["definitions"]["CyclingForm"]["properties"]
    # the bounds and words of CyclingSpec's own fields, one plain box starting empty
    assert {"minimum": 3, "maximum": 5000, "type": "integer"}.items() <= cells["cycles"].items()
    assert "default" not in cells["cycles"] and "campaign file's" in cells["cycles"]["description"]
    assert cells["capacity_floor"]["exclusiveMaximum"] == 1.0
    cycled = CampaignForm(campaign_file=CYCLING, cycling=CyclingForm(cycles=60, c_rate=0.5))
    spec = cycled.to_spec(ROOT)
    assert spec.cycling is not None and (spec.cycling.cycles, spec.cycling.c_rate) == (60, 0.5)
    with pytest.raises(ConfigError, match=r"checkpoints \[10, 25, 50\]; allowed: .* 3\.\.39"):
        CampaignForm(campaign_file=CYCLING, cycling=CyclingForm(cycles=40)).to_spec(ROOT)
    untouched = CampaignForm(campaign_file=CYCLING).to_spec(ROOT).cycling
    assert untouched is not None and spec.cycling.formation_cycles == untouched.formation_cycles
    with pytest.raises(ConfigError, match="cycling.cycles: only a cycling campaign file has cells"):
        CampaignForm(cycling=CyclingForm(cycles=40)).to_spec(ROOT)  # the demo: conductivity
    with pytest.raises(ValidationError, match="cycles"):
        CyclingForm(cycles=2)


def test_the_server_checks_the_registered_form_before_a_run_is_created() -> None:
    """Prefect's server validates a run's parameters against the registered schema: an empty
    box (null) is accepted, an out-of-range value is refused naming the field."""
    schema = registered_form(ROOT)

    def check(**campaign: object) -> None:
        validate({"campaign": campaign}, schema, raise_on_error=True)

    check()
    check(campaign_file=CYCLING, planner=FROM_FILE, budget=None, batch_size=None, seed=None)
    check(campaign_file="campaigns/mine.toml", budget=3)  # 'Other file': to_spec checks it
    with pytest.raises(SchemaError, match="'campaign.budget'.*less than the minimum of 1"):
        check(budget=0)
    with pytest.raises(SchemaError, match="'campaign.batch_size'"):
        check(batch_size=17)
    with pytest.raises(SchemaError, match="'campaign.cycling.cycles'"):
        check(cycling={"cycles": 2})
    with pytest.raises(SchemaError, match="'campaign.planner'"):
        check(planner="bogus")
    with pytest.raises(SchemaError, match="'campaign.campaign_file'"):
        check(campaign_file="")


def test_a_form_becomes_the_campaign_it_describes(tmp_path: Path) -> None:
    spec = CampaignForm(budget=6, batch_size=3, planner="sobol", name="tech-1").to_spec(ROOT)
    assert (spec.budget, spec.batch_size, spec.planner, spec.name) == (6, 3, "sobol", "tech-1")
    assert spec.solvents == default_campaign().solvents  # dumped and parsed again: copies
    from_file = CampaignForm(campaign_file="examples/campaigns/conductivity_cost.toml")
    assert len(from_file.to_spec(ROOT).objectives) == 2
    inline = CampaignForm(
        electrolyte=ElectrolyteForm(
            search_space=InlineSpace(
                solvents=[
                    SolventRange(name="EC", max_fraction=0.5),
                    SolventRange(name="PC", max_fraction=0.5),
                    SolventRange(name="DMC"),
                ],
                salt="LiBF4",
                max_molality=1.5,
            )
        )
    ).to_spec(ROOT)
    assert [s.name for s in inline.solvents] == ["EC", "PC", "DMC"]
    assert inline.salt.name == "LiBF4" and inline.salt.max_molality == 1.5


def test_bad_form_values_are_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="budget"):
        CampaignForm(budget=0)
    with pytest.raises(ValidationError, match="batch_size"):
        CampaignForm(batch_size=17)
    with pytest.raises(ValidationError, match="seed"):
        CampaignForm(seed=-1)
    with pytest.raises(ValidationError, match="planner\n  Input should be 'from the campaign"):
        CampaignForm(planner="my_planner")  # plug-ins come from campaign files
    with pytest.raises(ConfigError, match="campaign_file 'nowhere.toml': no such file"):
        CampaignForm(campaign_file="nowhere.toml").to_spec(ROOT)
    with pytest.raises(ConfigError, match="campaign_file '../../etc/hosts'; allowed: a path"):
        CampaignForm(campaign_file="../../etc/hosts").to_spec(ROOT)
    lab = "examples/labs/lab.sim.toml"  # not a campaign
    with pytest.raises(ConfigError, match=f"(?s)campaign_file '{lab}': .*budget: required"):
        CampaignForm(campaign_file=lab).to_spec(ROOT)
    # an override that does not fit the file's other values: both named, with the file
    too_big = r"(?s)form \(examples/campaigns/cycling.toml\).*batch_size 16 exceeds budget 8"
    with pytest.raises(ConfigError, match=too_big):
        CampaignForm(campaign_file=CYCLING, batch_size=16).to_spec(ROOT)
    with pytest.raises(ConfigError, match="lab_file '../../etc/passwd'; allowed: a path inside"):
        CampaignForm(lab_file="../../etc/passwd").to_spec(ROOT)
    with pytest.raises(ValidationError, match="min_molality must be <= max_molality"):
        CampaignForm(
            electrolyte=ElectrolyteForm(
                search_space=InlineSpace(
                    solvents=[SolventRange(name="EC"), SolventRange(name="DMC")],
                    min_molality=2.0,
                    max_molality=1.0,
                )
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
    edited = decisions["t0001"].design  # the edited formulation
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
