"""The cycling kind's section of the campaign form: how long and how hard each cell cycles.

Its fields carry the bounds and descriptions of `CyclingSpec`'s own (`override_of`), so the
form refuses what the campaign would refuse, and a change there reaches the form by itself.
"""

from __future__ import annotations

from typing import Any

from pydantic import create_model

from electroloop.kinds.cycling.spec import CyclingSpec
from electroloop.kinds.form import KindForm, override_of

__all__ = ["CyclingForm"]


class _CyclingFields(KindForm):
    """Cells (cycling campaigns only)."""

    def apply(self, data: dict[str, Any], kind: str) -> dict[str, Any]:
        answers = self.answers(kind, "cycling", "Cells", "cells")
        if not answers:
            return data
        return data | {"cycling": {**data.get("cycling", {}), **answers}}


CyclingForm = create_model(
    "CyclingForm",
    __base__=_CyclingFields,
    __doc__=_CyclingFields.__doc__,
    cycles=override_of(CyclingSpec, "cycles", "Cycles"),
    c_rate=override_of(CyclingSpec, "c_rate", "C-rate"),
    capacity_floor=override_of(CyclingSpec, "capacity_floor", "Capacity floor"),
)
