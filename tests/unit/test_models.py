"""Value objects refuse invalid chemistry and arithmetic before anything moves."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import ValidationError

from electroloop.models import Candidate, Design, Formulation, Salt, SearchSpace, Solvent

LIPF6 = "[Li+].F[P-](F)(F)(F)(F)F"


def space(ec: tuple[float, float] = (0.1, 0.6)) -> SearchSpace:
    return SearchSpace(
        solvents=(
            Solvent(name="EC", smiles="C1COC(=O)O1", min_fraction=ec[0], max_fraction=ec[1]),
            Solvent(name="DMC", smiles="COC(=O)OC"),
        ),
        salt=Salt(name="LiPF6", smiles=LIPF6, min_molality=0.5, max_molality=2.0),
        temperature=25.0,
    )


def test_salt_molar_mass_comes_from_smiles() -> None:
    salt = Salt(name="LiPF6", smiles=LIPF6, min_molality=0.5, max_molality=2.0)
    assert salt.molar_mass == pytest.approx(151.905, abs=0.01)


def test_invalid_smiles_is_named() -> None:
    with pytest.raises(ValidationError, match="'C1CC' is not a valid SMILES"):
        Solvent(name="X", smiles="C1CC")


def test_fractions_must_sum_to_one() -> None:
    with pytest.raises(ValidationError, match="sum to 0.9"):
        Formulation(fractions={"EC": 0.4, "DMC": 0.5}, salt="LiPF6", molality=1.0, temperature=25.0)


def test_negative_fraction_rejected() -> None:
    with pytest.raises(ValidationError, match="fraction of EC is -0.1"):
        Formulation(
            fractions={"EC": -0.1, "DMC": 1.1}, salt="LiPF6", molality=1.0, temperature=25.0
        )


def test_infeasible_bounds_rejected() -> None:
    with pytest.raises(ValidationError, match="cannot sum to 1"):
        SearchSpace(
            solvents=(
                Solvent(name="EC", smiles="C1COC(=O)O1", max_fraction=0.3),
                Solvent(name="DMC", smiles="COC(=O)OC", max_fraction=0.3),
            ),
            salt=Salt(name="LiPF6", smiles=LIPF6, min_molality=0.5, max_molality=2.0),
            temperature=25.0,
        )


def test_check_names_field_and_allowed_range() -> None:
    inside = Formulation(
        fractions={"EC": 0.3, "DMC": 0.7}, salt="LiPF6", molality=1.0, temperature=25.0
    )
    space().check(inside)
    outside = inside.model_copy(update={"fractions": {"EC": 0.7, "DMC": 0.3}})
    with pytest.raises(ValueError, match=r"fraction of EC is 0.7; allowed: 0.1..0.6"):
        space().check(outside)
    too_salty = inside.model_copy(update={"molality": 2.5})
    with pytest.raises(ValueError, match=r"molality is 2.5; allowed: 0.5..2.0 mol/kg"):
        space().check(too_salty)


def test_models_are_frozen() -> None:
    f = Formulation(fractions={"EC": 0.3, "DMC": 0.7}, salt="LiPF6", molality=1.0, temperature=25.0)
    with pytest.raises(ValidationError):
        f.molality = 2.0  # type: ignore[misc]


def rich_space(**extra: object) -> SearchSpace:
    base = space().model_dump()
    base["solvents"] = [*base["solvents"], {"name": "PC", "smiles": "CC1COC(=O)O1"}]
    return SearchSpace.model_validate(base | extra)


def test_linear_constraint_strings_parse_and_refuse_equalities() -> None:
    s = rich_space(linear_constraints=["EC + 0.5 * PC <= 0.6", "2DMC - EC >= -1e-1"])
    first, second = s.linear_constraints
    # coefficients and bounds are parsed from the strings, not computed: compared exactly
    assert first.terms == {"EC": 1.0, "PC": 0.5} and first.op == "<=" and first.bound == 0.6
    assert second.terms == {"DMC": 2.0, "EC": -1.0} and second.bound == -0.1
    with pytest.raises(ValidationError, match="'=' is not allowed"):
        rich_space(linear_constraints=["EC = 0.3"])
    with pytest.raises(ValidationError, match=r"names \['XX'\]; allowed"):
        rich_space(linear_constraints=["EC + XX <= 0.6"])


def test_check_enforces_max_components_parameters_and_constraints() -> None:
    s = rich_space(
        max_components=2,
        parameters=[
            {"kind": "range", "name": "stir", "low": 1, "high": 10, "integer": True},
            {"kind": "choice", "name": "additive", "choices": ["none", "FEC"]},
        ],
        linear_constraints=["EC + PC <= 0.5"],
    )
    good = Formulation(
        fractions={"EC": 0.3, "DMC": 0.7, "PC": 0.0},
        salt="LiPF6",
        molality=1.0,
        temperature=25.0,
        extras={"stir": 3, "additive": "FEC"},
    )
    s.check(good)
    three = good.model_copy(update={"fractions": {"EC": 0.3, "DMC": 0.6, "PC": 0.1}})
    with pytest.raises(ValueError, match="allowed: at most 2"):
        s.check(three)
    heavy = good.model_copy(update={"fractions": {"EC": 0.6, "DMC": 0.0, "PC": 0.4}})
    with pytest.raises(ValueError, match="EC"):
        s.check(heavy)
    with pytest.raises(ValueError, match="stir is 3.5; allowed: a whole number"):
        s.check(good.model_copy(update={"extras": {"stir": 3.5, "additive": "FEC"}}))
    with pytest.raises(ValueError, match=r"additive is 'VC'; allowed: one of \['none', 'FEC'\]"):
        s.check(good.model_copy(update={"extras": {"stir": 3, "additive": "VC"}}))


def test_max_components_must_admit_the_required_solvents() -> None:
    base = rich_space().model_dump()
    base["solvents"][2]["min_fraction"] = 0.05  # PC is now required, as EC is
    with pytest.raises(ValidationError, match="allowed: max_components >= 2"):
        SearchSpace.model_validate(base | {"max_components": 1})
    with pytest.raises(ValidationError, match="clash"):
        rich_space(parameters=[{"kind": "range", "name": "molality", "low": 0, "high": 1}])


def test_feasibility_and_the_reference_point_come_from_thresholds_and_floors() -> None:
    from electroloop.models import Goal, Objective, OutcomeConstraint

    goal = Goal(
        objectives=(Objective(name="conductivity"), Objective(name="cost", direction="minimize")),
        outcome_constraints=(
            OutcomeConstraint(metric="conductivity", op=">=", bound=8.0),
            OutcomeConstraint(metric="conductivity", op="<=", bound=20.0),  # a cap: no reference
            OutcomeConstraint(metric="cost", op="<=", bound=6.0),
        ),
    )
    # picked from the given bounds and thresholds, not computed
    assert goal.reference_point() == {"conductivity": 8.0, "cost": 6.0}
    assert goal.feasible({"conductivity": 9.0, "cost": 5.0})
    assert not goal.feasible({"conductivity": 21.0, "cost": 5.0})
    assert not goal.feasible({"conductivity": 9.0})  # a missing metric is not a pass
    no_floor = Goal(objectives=(Objective(name="conductivity"), Objective(name="viscosity")))
    assert no_floor.reference_point() is None
    with_threshold = Goal(
        objectives=(
            Objective(name="conductivity", threshold=5.0),
            Objective(name="cost", direction="minimize"),
        ),
        outcome_constraints=(OutcomeConstraint(metric="cost", op="<=", bound=7.0),),
    )
    assert with_threshold.reference_point() == {"conductivity": 5.0, "cost": 7.0}


class Electrode(Design):
    """A design of another kind, as an electrode kind would bring (test-only)."""

    type: Literal["electrode"] = "electrode"
    porosity: float


def test_a_candidates_design_keeps_its_class_through_json() -> None:
    f = Formulation(fractions={"EC": 0.3, "DMC": 0.7}, salt="LiPF6", molality=1.0, temperature=25)
    old_style = Candidate(id="t0000", formulation=f, planner="mine")  # a plug-in's keyword
    assert old_style.design is f and old_style.formulation is f
    again = Candidate.model_validate_json(old_style.model_dump_json())
    assert again == old_style and type(again.design) is Formulation
    logged_before_designs = old_style.model_dump(mode="json")
    logged_before_designs["formulation"] = logged_before_designs.pop("design")
    del logged_before_designs["formulation"]["type"]
    assert Candidate.model_validate(logged_before_designs) == old_style
    electrode = Candidate(id="e0", design=Electrode(porosity=0.3), planner="x")
    text = electrode.model_dump_json()
    with pytest.raises(
        ValidationError, match="design type 'electrode'; allowed: \\['formulation', 'point'\\]"
    ):
        Candidate.model_validate_json(text)  # nobody said electrodes exist
    known = {"designs": {"electrode": Electrode}}
    assert Candidate.model_validate_json(text, context=known) == electrode
    with pytest.raises(AttributeError, match="candidate e0's design is a electrode"):
        electrode.formulation  # noqa: B018
