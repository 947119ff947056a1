"""The electrode kind's section of the campaign form: what the cells are judged at, and how many
cubes each design gets.

Its fields carry the bounds and descriptions of the campaign's own (`override_of`), so the form
refuses what the campaign would refuse. A power given here replaces the file's C-rate and the
other way round (a discharge is one or the other).
"""

from __future__ import annotations

from typing import Any

from pydantic import create_model

from electroloop.errors import ConfigError
from electroloop.kinds.electrode.campaign import DischargeCondition, MicrostructureSettings
from electroloop.kinds.form import KindForm, override_of

__all__ = ["ElectrodeForm"]


class _ElectrodeFields(KindForm):
    """Electrode designs (electrode campaigns only)."""

    def apply(self, data: dict[str, Any], kind: str) -> dict[str, Any]:
        answers = self.answers(kind, "electrode", "Electrode designs", "designs to score")
        if not answers:
            return data
        if "power_w" in answers and "c_rate" in answers:
            raise ConfigError(
                "electrode.power_w and electrode.c_rate: a discharge is one or the other; "
                "allowed: fill in at most one"
            )
        out = dict(data)
        if "power_w" in answers:
            out["discharge"] = {"power_w": answers["power_w"]}
        if "c_rate" in answers:
            out["discharge"] = {"c_rate": answers["c_rate"]}
        if "realisations" in answers:
            micro = out.get("microstructure", {})
            out["microstructure"] = {**micro, "realisations": answers["realisations"]}
        return out


ElectrodeForm = create_model(
    "ElectrodeForm",
    __base__=_ElectrodeFields,
    __doc__=_ElectrodeFields.__doc__,
    power_w=override_of(DischargeCondition, "power_w", "Power (W)"),
    c_rate=override_of(DischargeCondition, "c_rate", "C-rate"),
    realisations=override_of(MicrostructureSettings, "realisations", "Cubes per design"),
)
