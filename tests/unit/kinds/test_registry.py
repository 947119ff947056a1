"""The registry of campaign kinds: which kind a campaign is, and a campaign of any kind."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import TypeAdapter

from electroloop.errors import ConfigError
from electroloop.kinds.cycling.campaign import CyclingCampaign
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign, default_campaign
from electroloop.kinds.registry import KINDS, AnyCampaign, kind_of, load_campaign, parse_campaign

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "campaigns"


def test_every_kind_is_registered_under_its_own_name_with_a_version() -> None:
    assert set(KINDS) == {"electrolyte", "cycling", "electrode"}
    for name, kind in KINDS.items():
        assert kind.spec.model_fields["kind"].default == name
        assert kind.version and kind.summary


def test_a_file_that_names_no_kind_is_told_by_its_cycling_table() -> None:
    conductivity = load_campaign(EXAMPLES / "conductivity.toml")
    cycling = load_campaign(EXAMPLES / "cycling.toml")
    assert type(conductivity) is ElectrolyteCampaign and conductivity.kind == "electrolyte"
    assert type(cycling) is CyclingCampaign and cycling.kind == "cycling"
    # the kind is kept with the spec, so a stored campaign comes back as the same kind
    again = parse_campaign(cycling.model_dump(mode="json"))
    assert type(again) is CyclingCampaign and again == cycling


def test_an_unknown_kind_is_refused_naming_the_allowed_ones() -> None:
    data = default_campaign().model_dump(mode="json") | {"kind": "crystal"}
    with pytest.raises(
        ConfigError, match="kind 'crystal'; allowed: cycling, electrode, electrolyte"
    ):
        parse_campaign(data, "x.toml")
    with pytest.raises(ConfigError, match="kind 'crystal'"):
        kind_of(data)


def test_a_flow_parameter_of_any_kind_validates_to_that_kind() -> None:
    adapter = TypeAdapter(AnyCampaign)
    cycling = load_campaign(EXAMPLES / "cycling.toml")
    as_json = cycling.model_dump(mode="json")
    assert type(adapter.validate_python(as_json)) is CyclingCampaign
    del as_json["kind"]  # as an older caller sends it: the [cycling] table decides
    assert type(adapter.validate_python(as_json)) is CyclingCampaign
    plain = default_campaign()
    assert adapter.validate_python(plain) is plain  # an instance passes as it is
