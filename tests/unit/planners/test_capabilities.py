"""`PlannerPort`: a planner's optional abilities decided once, with their fallbacks."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from electroloop.models import Estimate, Observation
from electroloop.planners.capabilities import PlannerPort
from electroloop.protocols import AbandonsCandidates, LearnsInterim, LearnsUnplanned, Planner


class Minimal:
    """Only what every planner must have: ask, tell, mark_failed, state."""

    name = "minimal"

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def ask(self, n: int) -> list:
        return []

    def tell(self, observations: Sequence[Observation]) -> None:
        self.calls.append(("tell", observations))

    def mark_failed(self, candidate_id: str, reason: str) -> None:
        self.calls.append(("mark_failed", (candidate_id, reason)))

    def state(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Minimal:
        return cls()


class Full(Minimal):
    name = "full"

    def mark_abandoned(self, candidate_id: str, reason: str) -> None:
        self.calls.append(("mark_abandoned", (candidate_id, reason)))

    def tell_unplanned(self, observations: Sequence[Observation]) -> None:
        self.calls.append(("tell_unplanned", observations))

    def tell_interim(self, candidate_id: str, values: Mapping[str, Estimate]) -> None:
        self.calls.append(("tell_interim", (candidate_id, dict(values))))


OBSERVED = [Observation.model_construct(candidate_id="t0000-edit", values={"conductivity": 9.0})]
INTERIM = {"retention": Estimate(mean=0.95, std=0.01)}


def test_a_minimal_planner_gets_the_fallbacks_and_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    planner = Minimal()
    assert isinstance(planner, Planner) and not isinstance(planner, AbandonsCandidates)
    with caplog.at_level(logging.INFO, logger="electroloop.planners.capabilities"):
        port = PlannerPort(planner)
    (line,) = caplog.messages
    assert "minimal cannot tell a veto from a fault" in line
    assert "learn from reviewers' edits" in line and "take interim results" in line
    port.mark_abandoned("t0001", "cloudy")
    port.tell_unplanned(OBSERVED)
    port.tell_interim("t0002", INTERIM)
    assert planner.calls == [("mark_failed", ("t0001", "abandoned: cloudy"))]


def test_a_full_planner_is_told_everything_and_nothing_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    planner = Full()
    assert isinstance(planner, LearnsUnplanned) and isinstance(planner, LearnsInterim)
    with caplog.at_level(logging.INFO, logger="electroloop.planners.capabilities"):
        port = PlannerPort(planner)
    assert caplog.messages == []
    port.mark_abandoned("t0001", "cloudy")
    port.tell_unplanned([])  # nothing to tell: not called
    port.tell_unplanned(OBSERVED)
    port.tell_interim("t0002", INTERIM)
    assert planner.calls == [
        ("mark_abandoned", ("t0001", "cloudy")),
        ("tell_unplanned", OBSERVED),
        ("tell_interim", ("t0002", INTERIM)),
    ]
