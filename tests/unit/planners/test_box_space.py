"""Planners over a box of named range parameters (`BoxSpace`), the space of the electrode kind."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from electroloop.models import (
    BoxSpace,
    DesignPoint,
    Goal,
    Objective,
    Observation,
    RangeParameter,
    space_from_json,
)
from electroloop.planners.ax_planner import AxPlanner
from electroloop.planners.cube_map import BoxMap, cube_map, same_design
from electroloop.planners.random import RandomPlanner
from electroloop.planners.sobol import SobolPlanner

BOX = BoxSpace(
    parameters=(
        RangeParameter(name="porosity", low=0.2, high=0.5),
        RangeParameter(name="am_share", low=0.85, high=0.97),
        RangeParameter(name="layers", low=2, high=6, integer=True),
    )
)
GOAL = Goal(objectives=(Objective(name="energy"),))


def test_a_box_names_its_parameters_once_and_checks_designs_by_name_and_range() -> None:
    with pytest.raises(ValidationError, match="unique"):
        BoxSpace(parameters=(RangeParameter(name="a", low=0, high=1),) * 2)
    with pytest.raises(ValueError, match=r"porosity is 0\.6; allowed: 0\.2\.\.0\.5"):
        BOX.check(DesignPoint(values={"porosity": 0.6, "am_share": 0.9, "layers": 3}))
    with pytest.raises(ValueError, match="differ from the space's"):
        BOX.check(DesignPoint(values={"porosity": 0.3}))
    with pytest.raises(ValidationError, match="finite"):
        DesignPoint(values={"porosity": float("nan")})
    assert space_from_json(BOX.model_dump(mode="json")) == BOX


def test_the_box_map_stretches_the_cube_onto_the_bounds_and_back() -> None:
    box = cube_map(BOX)
    assert isinstance(box, BoxMap) and box.dimension == 3
    design = box.to_design([0.0, 1.0, 0.99])
    assert isinstance(design, DesignPoint)
    assert design.values["porosity"] == pytest.approx(0.2, abs=1e-12)
    assert design.values["am_share"] == pytest.approx(0.97, abs=1e-12)
    assert design.values["layers"] == pytest.approx(6.0, abs=1e-12)  # whole numbers only
    middle = box.to_design([0.5, 0.5, 0.5])
    again = box.to_design(box.to_unit(middle))
    assert same_design(middle, again)
    with pytest.raises(ValueError, match="allowed: 3"):
        box.to_design([0.5])


@pytest.mark.parametrize("planner_class", [SobolPlanner, RandomPlanner])
def test_model_free_planners_propose_inside_the_box_and_restore_from_their_state(
    planner_class: type[SobolPlanner] | type[RandomPlanner],
) -> None:
    planner = planner_class(BOX, GOAL, seed=3)
    first = planner.ask(4)
    for candidate in first:
        BOX.check(candidate.design)
    restored = planner_class.from_state(planner.state())
    assert restored.space == BOX
    later, again = planner.ask(2), restored.ask(2)
    assert [c.design for c in later] == [c.design for c in again]


def test_ax_over_a_box_is_told_each_value_with_its_standard_error() -> None:
    planner = AxPlanner(BOX, GOAL, seed=1, initialization_budget=3)
    first = planner.ask(3)
    observations = [
        Observation(
            candidate_id=c.id,
            design=c.design,
            values={"energy": 100.0 * c.design.values["porosity"]},  # type: ignore[attr-defined]
            errors={"energy": 0.5},
        )
        for c in first
    ]
    planner.tell(observations)
    data = planner.state()["data"]
    sent = sorted(tuple(v["energy"]) for v in data.values())
    assert [sem for _, sem in sent] == pytest.approx([0.5] * 3, abs=1e-12)
    expected = sorted(o.values["energy"] for o in observations)
    assert [mean for mean, _ in sent] == pytest.approx(expected, abs=1e-9)
    [model_pick] = planner.ask(1)  # the GP fits with the stated noise
    BOX.check(model_pick.design)
    with pytest.raises(ValidationError, match=">= 0"):
        Observation(candidate_id="x", design=model_pick.design, values={}, errors={"e": -1.0})
