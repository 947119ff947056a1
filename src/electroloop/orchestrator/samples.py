"""Vials through a campaign: the next label and slot, each move done and then recorded, and
the technician as a sample handler for a bench without a robot.

The log is the vial register: a move is recorded once it is done, so a crash during a move
repeats that move (same vial, same places) and never invents a second vial.
"""

from __future__ import annotations

from collections.abc import Mapping

from electroloop.orchestrator.closed_loop import Campaign, ManualStep, ManualSteps
from electroloop.orchestrator.events import VialMoved
from electroloop.orchestrator.rack import RackSlots, own_rack
from electroloop.protocols import SampleHandler
from electroloop.samples import vial_id

__all__ = ["Technician", "move_vial", "new_vial"]


def new_vial(campaign: Campaign, rack: RackSlots = own_rack) -> tuple[str, str]:
    """Label and rack slot of the campaign's next unused vial (`rack` says where it stands)."""
    label = vial_id(campaign.id, len(campaign.state.vials) + 1)
    return label, rack(label, campaign.id)


def move_vial(
    campaign: Campaign,
    handler: SampleHandler,
    vial: str,
    target: str,
    candidate_id: str,
    *,
    source: str | None = None,
) -> None:
    """Have `handler` carry `vial` to `target` (from where the log has it, or from its rack
    slot, `source`, if the log has it nowhere yet), then record the move."""
    track = campaign.state.vials.get(vial)
    if track is not None and track.place == target:
        return
    if track is not None:
        source = track.place
    elif source is None:
        source = own_rack(vial, campaign.id)
    handler.move(vial, source, target)
    campaign.record(
        VialMoved(
            vial=vial, candidate_id=candidate_id, source=source, target=target, by=handler.name
        )
    )


class Technician:
    """A person moves the vials: each move is a manual step (the flow pauses with the vial's
    label and both places, and goes on once they tick Done)."""

    name = "technician"

    def __init__(self, manual: ManualSteps) -> None:
        self.manual = manual

    def move(self, vial: str, source: str, target: str) -> None:
        self.manual(
            ManualStep(
                key=f"move-{vial}-{target}",
                title=f"Move vial {vial} to the {target}",
                instructions=(
                    f"Take vial **{vial}** from **{source}** and put it on the **{target}**. "
                    "Check the label against the vial before you tick Done."
                ),
                fields={},
            )
        )

    def find(self, vial: str, place: str, masses: Mapping[str, float]) -> bool:
        dosed = ", ".join(f"{stock} {mass:.3f} g" for stock, mass in masses.items())
        answer = self.manual(
            ManualStep(
                key=f"find-{vial}",
                title=f"Is vial {vial} still there?",
                instructions=(
                    f"The run stopped after vial **{vial}** was dosed ({dosed}). If it is still "
                    f"intact, put it on the **{place}** and enter found = 1; if it is gone or "
                    "spilt, enter found = 0 (its trial then fails and is not dosed again)."
                ),
                fields={"found": (1.0, 0.0, 1.0)},
            )
        )
        return answer["found"] >= 0.5
