"""The plots a finished (or failed) campaign leaves behind, drawn from its event-log state.

Convergence always; a Pareto front when there are several objectives; a parity plot when the
planner predicted what it proposed. They are files first (written beside the event log) and
MLflow artifacts second, so a tracking outage loses no figure.
"""

from __future__ import annotations

from pathlib import Path

from electroloop.orchestrator.campaign import CampaignSpec
from electroloop.orchestrator.events import CampaignState
from electroloop.orchestrator.reporting import convergence_plot, pareto_plot, parity_plot


def primary_values(state: CampaignState, spec: CampaignSpec) -> list[float | None]:
    """The primary objective per trial in trial order; None for failed or infeasible trials."""
    goal = spec.goal
    name = goal.primary.name
    values: list[float | None] = []
    for candidate_id in state.candidates:
        observation = state.observations.get(candidate_id)
        feasible = observation is not None and goal.feasible(observation.values)
        values.append(observation.values.get(name) if observation and feasible else None)
    return values


def campaign_plots(
    state: CampaignState, spec: CampaignSpec, folder: Path, *, title: str, optimum: float | None
) -> list[Path]:
    """Write the campaign's plots into `folder` and return their paths."""
    goal = spec.goal
    primary = goal.primary
    plots = [
        convergence_plot(
            primary_values(state, spec),
            folder / "convergence.png",
            title=title,
            ylabel=f"{primary.name} [{spec.unit(primary.name)}]",
            maximize=primary.direction == "maximize",
            optimum=optimum,
        )
    ]
    observations = [state.observations[c] for c in state.candidates if c in state.observations]
    if len(goal.objectives) > 1:
        first, second = goal.objectives[:2]
        pair = [
            ((o.values[first.name], o.values[second.name]), goal.feasible(o.values))
            for o in observations
            if first.name in o.values and second.name in o.values
        ]
        reference = goal.reference_point()
        plots.append(
            pareto_plot(
                [point for point, ok in pair if ok],
                folder / "pareto.png",
                names=(first.name, second.name),
                units=(spec.unit(first.name), spec.unit(second.name)),
                maximize=(first.direction == "maximize", second.direction == "maximize"),
                reference=(reference[first.name], reference[second.name]) if reference else None,
                title=title,
                infeasible=[point for point, ok in pair if not ok],
            )
        )
    predicted = [
        (state.candidates[o.candidate_id].predicted, o.values[primary.name])
        for o in observations
        if state.candidates[o.candidate_id].predicted is not None and primary.name in o.values
    ]
    if predicted:
        plots.append(
            parity_plot(
                [(p.mean, p.std) for p, _ in predicted if p is not None],
                [measured for _, measured in predicted],
                folder / "parity.png",
                name=primary.name,
                unit=spec.unit(primary.name),
                title=title,
            )
        )
    return plots
