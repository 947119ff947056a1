"""Approvals and manual steps: the flow pauses with a typed form in the Prefect UI.

A technician approves, edits or rejects each proposed candidate before anything is dosed, and
does what the robot cannot (refill a bottle) when the flow asks. Each pause shows a Markdown
description and a form Prefect renders from a pydantic model, pre-filled with the proposal.
A pause nobody answers in time raises `PauseTimedOut`: the flow stops before moving anything,
its leases are released, and the campaign can be resumed from its event log.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from pydantic import BaseModel, Field, create_model

from electroloop.errors import CampaignError, ElectroloopError
from electroloop.models import Candidate, Formulation, FrozenModel, SearchSpace
from electroloop.orchestrator.closed_loop import Campaign, Decision, ManualStep


class PauseTimedOut(ElectroloopError):
    """Nobody answered a pause in time; the flow stops in a safe state."""


class ApprovalPolicy(FrozenModel):
    """Whether a person reviews each batch, and how long a pause waits for anyone."""

    required: bool = Field(
        False,
        title="Approval required",
        description="Pause before dosing each batch until a technician approves, edits or "
        "rejects every proposed formulation.",
    )
    timeout_minutes: float = Field(
        60.0,
        gt=0.0,
        le=7 * 24 * 60,
        title="Pause timeout (minutes)",
        description="A pause (approval or manual step) nobody answers within this time ends "
        "the run safely: nothing more is dosed, instruments are released, and the campaign "
        "can be resumed later.",
    )
    poll_seconds: int = Field(
        5, ge=1, le=60, title="Poll interval (s)", description="How often a pause checks."
    )


def _field_name(solvent: str) -> str:
    """A solvent name as a form field name (letters, digits and underscores)."""
    return re.sub(r"\W", "_", solvent)


def _describe(formulation: Formulation) -> str:
    mix = " / ".join(f"{k} {v:.3f}" for k, v in formulation.fractions.items())
    return f"{mix}, {formulation.molality:.2f} mol/kg"


def candidate_form(space: SearchSpace, candidate: Candidate) -> type[BaseModel]:
    """The form of one candidate: approve / edit / reject, its fractions and molality."""
    fields: dict[str, Any] = {
        "action": (
            Literal["approve", "edit", "reject"],
            Field("approve", title="Decision", description="Edit uses the values below."),
        )
    }
    for solvent in space.solvents:
        fields[_field_name(solvent.name)] = (
            float,
            Field(
                round(candidate.formulation.fractions[solvent.name], 4),
                ge=solvent.min_fraction,
                le=solvent.max_fraction,
                title=f"{solvent.name} mass fraction",
                description="Edits are rescaled so the fractions sum to 1.",
            ),
        )
    fields["molality"] = (
        float,
        Field(
            round(candidate.formulation.molality, 4),
            ge=space.salt.min_molality,
            le=space.salt.max_molality,
            title=f"{space.salt.name} molality (mol/kg)",
        ),
    )
    fields["reason"] = (str, Field("", title="Reason (for the record)"))
    title = f"{candidate.id}: {_describe(candidate.formulation)}"
    return create_model(f"Candidate_{_field_name(candidate.id)}", __doc__=title, **fields)


def review_form(space: SearchSpace, batch: list[Candidate]) -> type[RunInput]:
    """The whole batch's form: one section per candidate, plus 'stop the campaign'."""
    fields: dict[str, Any] = {}
    for candidate in batch:
        section = candidate_form(space, candidate)
        fields[_field_name(candidate.id)] = (
            section,
            Field(default_factory=section, title=_title(candidate)),
        )
    fields["stop_campaign"] = (
        bool,
        Field(
            False,
            title="Stop the campaign",
            description="Reject the whole batch and end the campaign now.",
        ),
    )
    return create_model("BatchReview", __base__=RunInput, **fields)


def _title(candidate: Candidate) -> str:
    predicted = candidate.predicted
    guess = f" — predicted {predicted.mean:.2f} ± {predicted.std:.2f}" if predicted else ""
    return f"{candidate.id}: {_describe(candidate.formulation)}{guess}"


def review_description(objective: str, batch: list[Candidate], problem: str = "") -> str:
    """Markdown shown above the form: the proposals with the planner's prediction."""
    rows = "\n".join(
        f"| {c.id} | {_describe(c.formulation)} | "
        + (f"{c.predicted.mean:.2f} ± {c.predicted.std:.2f}" if c.predicted else "–")
        + f" | {c.scored_by or c.planner} |"
        for c in batch
    )
    warning = f"**Not accepted: {problem}** Fix it or reject that candidate.\n\n" if problem else ""
    return (
        f"{warning}### Approve this batch before it is dosed\n\n"
        f"| candidate | formulation (mass fractions, salt) | predicted {objective} | by |\n"
        f"|---|---|---|---|\n{rows}\n\n"
        "For each candidate choose **approve**, **edit** (change its values below) or "
        "**reject** (never dosed; the planner will not propose it again)."
    )


def decisions_from(
    space: SearchSpace, batch: list[Candidate], answer: BaseModel
) -> dict[str, Decision]:
    """The form's answer as `Decision`s; edited fractions are rescaled to sum to 1."""
    decisions: dict[str, Decision] = {}
    for candidate in batch:
        section = getattr(answer, _field_name(candidate.id))
        if section.action != "edit":
            decisions[candidate.id] = Decision(action=section.action, reason=section.reason)
            continue
        raw = {s.name: float(getattr(section, _field_name(s.name))) for s in space.solvents}
        total = sum(raw.values())
        if total <= 0.0:
            raise CampaignError(f"{candidate.id}: the edited fractions sum to 0; allowed: > 0")
        formulation = candidate.formulation.model_copy(
            update={
                "fractions": {k: v / total for k, v in raw.items()},
                "molality": float(section.molality),
            }
        )
        decisions[candidate.id] = Decision(
            action="edit",
            design=Formulation.model_validate(formulation.model_dump()),
            reason=section.reason,
        )
    return decisions


def _pause(form: type[RunInput], description: str, policy: ApprovalPolicy, what: str) -> Any:
    from prefect.exceptions import FlowPauseTimeout

    try:
        return pause_flow_run(
            wait_for_input=form.with_initial_data(description=description),
            timeout=max(1, round(policy.timeout_minutes * 60)),
            poll_interval=policy.poll_seconds,
        )
    except FlowPauseTimeout:
        raise PauseTimedOut(
            f"nobody answered '{what}' within {policy.timeout_minutes:g} min; stopped before "
            "dosing anything more. Resume the campaign when someone is there."
        ) from None


def review_batch(campaign: Campaign, batch: list[Candidate], policy: ApprovalPolicy) -> None:
    """Pause until a technician decides on every candidate of the batch, then record it.

    An edit outside the search space is refused and the form shown again with the reason.
    """
    space = campaign.spec.space
    objective = campaign.spec.goal.primary.name
    what = f"approve batch {', '.join(c.id for c in batch)}"
    problem = ""
    while True:
        print(f"waiting to {what}: open this run in the Prefect UI, ⋮ → Resume")
        answer = _pause(
            review_form(space, batch), review_description(objective, batch, problem), policy, what
        )
        reviewer = answer.metadata.sender or ""
        try:
            if answer.stop_campaign:
                everything = {
                    c.id: Decision(action="reject", reason="campaign stopped") for c in batch
                }
                campaign.review(batch, everything, reviewer)
                campaign.finish("stopped by the reviewer")
                return
            campaign.review(batch, decisions_from(space, batch, answer), reviewer)
            return
        except (CampaignError, ValueError) as exc:
            problem = str(exc)
            print(f"review not accepted: {problem}; asking again")


class PauseForManualSteps:
    """`ManualSteps` for a flow: each step pauses with its instructions and a typed form."""

    def __init__(self, policy: ApprovalPolicy) -> None:
        self.policy = policy

    def __call__(self, step: ManualStep) -> dict[str, float]:
        fields: dict[str, Any] = {
            name: (float, Field(default, ge=low, le=high, title=name.replace("_", " ")))
            for name, (default, low, high) in step.fields.items()
        }
        fields["done"] = (
            bool,
            Field(False, title="Done", description="Tick when the step is done, then submit."),
        )
        form = create_model(f"ManualStep_{_field_name(step.key)}", __base__=RunInput, **fields)
        description = f"### {step.title}\n\n{step.instructions}"
        while True:
            print(f"manual step: {step.title}; waiting for a technician")
            answer = _pause(form, description, self.policy, step.title)
            if answer.done:
                return {name: float(getattr(answer, name)) for name in step.fields}
            description = (
                f"**Tick 'Done' once the step is done.**\n\n### {step.title}\n\n{step.instructions}"
            )
