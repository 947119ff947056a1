"""The campaign kinds this build knows, and reading a campaign of any of them.

Adding a kind is one package under `electroloop.kinds` and one entry in `KINDS` (and in
`AnyCampaign`, the type flows take). A campaign file names its kind with ``kind = "..."``;
files written before kinds existed have none, and are a cycling campaign when they have a
``[cycling]`` table, else an electrolyte campaign.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Discriminator, Tag

from electroloop.errors import ConfigError
from electroloop.kinds.cycling.campaign import CyclingCampaign
from electroloop.kinds.cycling.form import CyclingForm
from electroloop.kinds.electrode.campaign import ElectrodeCampaign
from electroloop.kinds.electrode.form import ElectrodeForm
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign
from electroloop.kinds.electrolyte.form import ElectrolyteForm
from electroloop.kinds.form import KindForm
from electroloop.models import Design
from electroloop.orchestrator.campaign import CampaignSpec, read_campaign_file, validate_spec


@dataclass(frozen=True)
class Kind:
    """One campaign kind: its name, its version (stored with its designs) and its spec."""

    name: str
    version: str
    spec: type[CampaignSpec]
    summary: str
    designs: Mapping[str, type[Design]] = field(default_factory=dict)
    """Design types of its own (`Design.type` -> class); formulations are always known."""
    form: type[KindForm] | None = None
    """Its section of the technician's campaign form (None: the common fields suffice)."""


KINDS: Mapping[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            "electrolyte",
            "1",
            ElectrolyteCampaign,
            "conductivity of dosed formulations",
            form=ElectrolyteForm,
        ),
        Kind(
            "cycling",
            "1",
            CyclingCampaign,
            "cells built from dosed formulations, cycled",
            form=CyclingForm,
        ),
        Kind(
            "electrode",
            "1",
            ElectrodeCampaign,
            "electrode designs scored by the physics twin in a 4680 cell",
            form=ElectrodeForm,
        ),
    )
}


def design_types(kinds: Mapping[str, Kind] = KINDS) -> dict[str, type[Design]]:
    """Every design type the kinds bring, for the campaign store to read them back."""
    return {name: cls for kind in kinds.values() for name, cls in kind.designs.items()}


def kind_name(data: Any) -> str:
    """The kind a campaign (a spec, or its data) belongs to; see the module docstring."""
    if isinstance(data, CampaignSpec):
        return data.kind
    if isinstance(data, Mapping):
        named = data.get("kind")
        if named is not None:
            return str(named)
        return "cycling" if "cycling" in data else "electrolyte"
    return "electrolyte"


AnyCampaign = Annotated[
    Annotated[ElectrolyteCampaign, Tag("electrolyte")]
    | Annotated[CyclingCampaign, Tag("cycling")]
    | Annotated[ElectrodeCampaign, Tag("electrode")],
    Discriminator(kind_name),
]
"""A campaign of any kind, as flows take it (Prefect renders and validates it by kind)."""


def kind_of(
    data: Mapping[str, Any] | CampaignSpec,
    source: str = "<campaign>",
    kinds: Mapping[str, Kind] = KINDS,
) -> Kind:
    """The registered kind of a campaign; ConfigError naming the allowed kinds otherwise."""
    name = kind_name(data)
    if name not in kinds:
        raise ConfigError(f"{source}: kind {name!r}; allowed: {', '.join(sorted(kinds))}")
    return kinds[name]


def parse_campaign(
    data: Mapping[str, Any], source: str = "<campaign>", kinds: Mapping[str, Kind] = KINDS
) -> CampaignSpec:
    """Validate a campaign of any kind given as a mapping; ConfigError listing every problem.
    `kinds` is this build's registry unless a caller (a test) adds one."""
    kind = kind_of(data, source, kinds)
    return validate_spec(kind.spec, {**data, "kind": kind.name}, source)


def load_campaign(path: str | Path) -> CampaignSpec:
    """Read and validate a campaign TOML file of any kind."""
    return parse_campaign(read_campaign_file(path), str(path))
