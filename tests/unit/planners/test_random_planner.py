"""RandomPlanner: valid proposals, stable ids, failures re-queued, exact state round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from electroloop.errors import PlannerError
from electroloop.models import Goal, Observation, SearchSpace
from electroloop.planners import MixtureMap, Planner, RandomPlanner
from tests.floats import SAME_COMPUTATION, assert_close


def _round_trip(planner: RandomPlanner) -> RandomPlanner:
    return RandomPlanner.from_state(json.loads(json.dumps(planner.state())))


def test_is_a_planner(space: SearchSpace, goal: Goal) -> None:
    planner = RandomPlanner(space, goal, seed=0)
    assert isinstance(planner, Planner)
    assert planner.name == "random"


def test_thousands_of_proposals_are_valid_with_unique_sequential_ids(
    space_name: str, spaces: dict[str, SearchSpace], goal: Goal, assert_valid
) -> None:
    space = spaces[space_name]
    planner = RandomPlanner(space, goal, seed=1)
    candidates = [c for n in (1, 3, 996, 1000) for c in planner.ask(n)]
    assert [c.id for c in candidates] == [f"t{i:04d}" for i in range(2000)]
    assert {c.planner for c in candidates} == {"random"}
    assert_valid(space, candidates)


def test_uniform_in_the_cube_from_a_seeded_generator(space: SearchSpace, goal: Goal) -> None:
    expected = np.random.Generator(np.random.PCG64(5)).random((4, 3))
    mixture = MixtureMap(space)
    got = RandomPlanner(space, goal, seed=5).ask(4)
    assert_close(  # the planner's draws and map, repeated here: the same computation
        [c.formulation for c in got],
        [mixture.to_formulation(u.tolist()) for u in expected],
        **SAME_COMPUTATION,
    )


def test_state_round_trip_continues_the_identical_stream(space: SearchSpace, goal: Goal) -> None:
    one = RandomPlanner(space, goal, seed=2)
    one.ask(3)
    state = json.loads(json.dumps(one.state()))
    assert state["generator"]["bit_generator"] == "PCG64"
    restored = RandomPlanner.from_state(state)
    fresh = RandomPlanner(space, goal, seed=2).ask(6)[3:]
    assert_close(restored.ask(3), fresh, **SAME_COMPUTATION)  # the same stream, resumed
    assert one.ask(3)[0].id == "t0003"


def test_failed_point_is_proposed_again_first_under_a_new_id(
    space: SearchSpace, goal: Goal
) -> None:
    planner = RandomPlanner(space, goal, seed=9)
    reference = RandomPlanner(space, goal, seed=9).ask(5)
    batch = planner.ask(3)
    planner.mark_failed("t0001", reason="meter fault")
    planner.tell([Observation(candidate_id="t0002", formulation=batch[2].formulation, values={})])
    planner = _round_trip(planner)
    again = planner.ask(2)
    assert [c.id for c in again] == ["t0003", "t0004"]
    # The re-queued point mapped again, and a second planner of the same seed: same computations.
    assert_close(again[0].formulation, batch[1].formulation, **SAME_COMPUTATION)
    assert_close(again[1].formulation, reference[3].formulation, **SAME_COMPUTATION)
    with pytest.raises(PlannerError, match="t0001"):
        planner.mark_failed("t0001", "twice")


def test_corrupt_generator_state_is_rejected(space: SearchSpace, goal: Goal) -> None:
    state = RandomPlanner(space, goal, seed=0).state()
    with pytest.raises(PlannerError, match="invalid random planner state"):
        RandomPlanner.from_state({**state, "generator": {"bit_generator": "MT19937"}})
