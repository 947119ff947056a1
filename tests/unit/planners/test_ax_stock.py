"""Off-the-shelf Ax on the same cube: the yardstick of `electroloop bench planners`."""

from __future__ import annotations

import pytest

from electroloop.models import BoxSpace, Goal, Objective, Observation, RangeParameter
from electroloop.planners.ax_stock import StockAxPlanner

BOX = BoxSpace(
    parameters=(
        RangeParameter(name="a", low=0.0, high=2.0),
        RangeParameter(name="b", low=-1.0, high=1.0),
    )
)
GOAL = Goal(objectives=(Objective(name="y"),))


def test_it_starts_at_the_centre_and_survives_a_state_round_trip() -> None:
    planner = StockAxPlanner(BOX, GOAL, seed=4)
    (first,) = planner.ask(1)
    assert first.design.values == pytest.approx({"a": 1.0, "b": 0.0}, abs=1e-9)  # type: ignore[attr-defined]
    for candidate in [first, *planner.ask(2)]:
        y = -((candidate.design.values["a"] - 1.5) ** 2)  # type: ignore[attr-defined]
        planner.tell(
            [Observation(candidate_id=candidate.id, design=candidate.design, values={"y": y})]
        )
    restored = StockAxPlanner.from_state(planner.state())
    assert len(restored.client._experiment.trials) == 3
    (a,), (b,) = planner.ask(1), restored.ask(1)
    assert a.id == b.id == "t0003"
