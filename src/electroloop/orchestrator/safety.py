"""Safety rules a campaign must pass before anything is dispatched, and who may override them.

A kind finds the hazards of a campaign (`CampaignSpec.hazards`: a fluorinated salt with a protic
solvent, a temperature near a solvent's boiling point, ...). A hazard that refuses stops the
campaign at validation, naming its rule, unless the campaign file carries an override of that
rule by a named person with a reason; a caution only goes on record. Overrides and cautions are
recorded in the event log when the campaign starts and tagged on its MLflow run.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from electroloop.models import FrozenModel

__all__ = ["Hazard", "SafetyOverride", "refusal"]


@dataclass(frozen=True)
class Hazard:
    """One rule a campaign trips: its id, what is wrong, and whether it stops the campaign."""

    rule: str
    message: str
    refuse: bool = True
    """False: a caution, recorded but not stopping anything."""


class SafetyOverride(FrozenModel):
    """A named person takes responsibility for running despite one refusing rule."""

    rule: str = Field(min_length=1, description="The rule overridden, e.g. 'hf-hazard'.")
    by: str = Field(
        min_length=3,
        max_length=120,
        pattern=r"^[^\x00-\x1f]*\S[^\x00-\x1f]*$",
        description="Who takes responsibility (full name).",
    )
    reason: str = Field(
        min_length=10,
        max_length=2000,
        description="Why it is safe to run anyway (e.g. the closed apparatus it runs in).",
    )


def refusal(hazards: list[Hazard], overrides: tuple[SafetyOverride, ...]) -> str | None:
    """The error for the refusing hazards no override covers (None: the campaign may run)."""
    overridden = {o.rule for o in overrides}
    refused = [h for h in hazards if h.refuse and h.rule not in overridden]
    if not refused:
        return None
    lines = "; ".join(f"{h.rule}: {h.message}" for h in refused)
    first = refused[0].rule
    return (
        f"refused for safety: {lines}. To run anyway, a named person adds to the campaign file "
        f'[[safety_overrides]] rule = "{first}", by = "<full name>", reason = "<why it is safe>"'
    )
