"""Which plots a campaign leaves, from its folded event log."""

from __future__ import annotations

from pathlib import Path

from matplotlib.image import imread

from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign, default_campaign
from electroloop.kinds.registry import load_campaign
from electroloop.models import Candidate, Estimate, Formulation, Observation
from electroloop.orchestrator.campaign_plots import campaign_plots, primary_values
from electroloop.orchestrator.events import (
    CampaignStarted,
    CampaignState,
    CandidateFailed,
    CandidatesProposed,
    ObservationAdded,
    fold,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "campaigns"
MIX = Formulation(fractions={"EC": 0.3, "EMC": 0.7}, salt="LiPF6", molality=1.0, temperature=25)


def folded(
    spec: ElectrolyteCampaign, values: list[dict[str, float] | None], predicted: bool
) -> CampaignState:
    """A campaign state with one trial per entry of `values` (None: the trial failed)."""
    estimate = Estimate(mean=9.0, std=0.5) if predicted else None
    candidates = tuple(
        Candidate(id=f"c{i}", formulation=MIX, planner="t", predicted=estimate)
        for i in range(len(values))
    )
    events = [
        CampaignStarted(spec=spec.model_dump(mode="json"), planner="t"),
        CandidatesProposed(iteration=0, candidates=candidates),
    ]
    for candidate, value in zip(candidates, values, strict=True):
        if value is None:
            events.append(CandidateFailed(candidate_id=candidate.id, reason="meter fault"))
        else:
            observation = Observation(candidate_id=candidate.id, formulation=MIX, values=value)
            events.append(ObservationAdded(observation=observation))
    return fold(events)


def test_single_objective_without_predictions_gets_only_the_convergence_plot(
    tmp_path: Path,
) -> None:
    spec = default_campaign()
    state = folded(spec, [{"conductivity": 9.0}, None, {"conductivity": 10.0}], predicted=False)
    assert primary_values(state, spec) == [9.0, None, 10.0]
    plots = campaign_plots(state, spec, tmp_path, title="t", optimum=12.0)
    assert [p.name for p in plots] == ["convergence.png"]
    assert imread(plots[0]).shape[0] > 100


def test_two_objectives_and_predictions_add_pareto_and_parity(tmp_path: Path) -> None:
    spec = load_campaign(EXAMPLES / "conductivity_cost.toml")
    values = [
        {"conductivity": 7.0, "cost": 3.0},  # infeasible: below the 8 mS/cm floor
        {"conductivity": 9.0, "cost": 4.0},
        {"conductivity": 10.0, "cost": 5.0},
    ]
    state = folded(spec, values, predicted=True)
    assert primary_values(state, spec) == [None, 9.0, 10.0]  # infeasible is not a result
    plots = campaign_plots(state, spec, tmp_path, title="t", optimum=None)
    assert [p.name for p in plots] == ["convergence.png", "pareto.png", "parity.png"]
    assert all(imread(p).shape[0] > 100 for p in plots)
