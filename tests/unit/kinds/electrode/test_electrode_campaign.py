"""Electrode campaign files: the design box, and every refusal before any cube or solve."""

from __future__ import annotations

from typing import Any

import pytest

from electroloop.errors import ConfigError
from electroloop.kinds.electrode import limits
from electroloop.kinds.electrode.campaign import ElectrodeCampaign, MicrostructureSettings
from electroloop.kinds.registry import parse_campaign
from electroloop.models import DesignPoint


def campaign(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "electrode",
        "name": "unit",
        "budget": 4,
        "batch_size": 2,
        "objectives": [{"name": "wh_per_l"}],
        "design": {"porosity": [0.25, 0.5], "am_share": [0.85, 0.97], "mass_loading": 20.0},
        "microstructure": {"size": 32, "particle_radius": 4, "voxel_size": 1.3},
        "discharge": {"power_w": 10.0},
    }
    for key, value in changes.items():
        data[key] = value if not isinstance(value, dict) else {**data.get(key, {}), **value}
    return data


@pytest.fixture
def no_solves(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any cube drawn or cell solved fails the test: refusals come before them."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("a solve started")

    monkeypatch.setattr("electroloop.simulations.electrode_cell.discharge", forbidden)
    monkeypatch.setattr("electroloop.simulations.microstructure.generate", forbidden)
    monkeypatch.setattr("electroloop.simulations.microstructure.measure", forbidden)


def test_a_campaign_searches_its_ranged_parameters_and_holds_the_fixed_ones(
    no_solves: None,
) -> None:
    spec = parse_campaign(campaign(), "test")
    assert isinstance(spec, ElectrodeCampaign)
    assert [p.name for p in spec.space.parameters] == ["porosity", "am_share"]
    assert spec.design.fixed() == {"cbd_adhesion": 0.5, "mass_loading": 20.0}
    assert len(spec.design.corners()) == 4
    spec.space.check(DesignPoint(values={"porosity": 0.3, "am_share": 0.9}))
    with pytest.raises(ValueError, match=r"am_share is 0\.99; allowed: 0\.85\.\.0\.97"):
        spec.space.check(DesignPoint(values={"porosity": 0.3, "am_share": 0.99}))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"design": {"am_share": [0.9, 1.0]}}, r"am_share 1\.0; allowed: 0\.5\.\.0\.99"),
        (
            {"design": {"porosity": [0.3, 0.7], "am_share": [0.9, 0.99]}},
            r"leaves the cbd 0\.0030 of the volume; allowed: every phase >= 0\.005",
        ),
        (
            {"microstructure": {"size": 32, "particle_radius": 6}},
            r"microstructure\.size 32 voxels .*allowed: size >= 48 for particle_radius 6",
        ),
        (
            {"design": {"porosity": [0.5, 0.7], "mass_loading": [40.0, 60.0]}},
            r"design corner .*thick; allowed: 10\.\.400 µm",
        ),
        ({"discharge": {"power_w": 90000.0}}, r"discharge\.power_w 90000 W; allowed: <= \d+ W"),
        ({"discharge": {"c_rate": 1.0}}, r"exactly one of power_w \(W\) or c_rate \(C\)"),
        (
            {"design": {"porosity": 0.3, "am_share": 0.9}},
            r"every parameter is fixed; allowed: at least one range",
        ),
        ({"objectives": [{"name": "conductivity"}]}, r"unknown metrics \['conductivity'\]"),
    ],
)
def test_bad_campaigns_are_refused_naming_the_field_before_any_solve(
    no_solves: None, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_campaign(campaign(**changes), "test")


def test_the_checks_raise_named_errors_when_called_directly(no_solves: None) -> None:
    with pytest.raises(limits.NoRoomForPhase):
        limits.check_phases([{"porosity": 0.7, "am_share": 0.99}])
    with pytest.raises(limits.VolumeTooSmall):
        limits.check_volume(40, 6)
    corner = {"porosity": 0.3, "am_share": 0.9, "cbd_adhesion": 0.5, "mass_loading": 20.0}
    with pytest.raises(limits.PowerBeyondDesigns):
        limits.check_power([corner], 5.0, 1e6)
    micro = MicrostructureSettings(size=64, particle_radius=6)
    limits.check_box([corner], micro, 10.0)  # a deliverable power passes


def test_a_thinner_more_porous_box_can_deliver_more_power(no_solves: None) -> None:
    from electroloop.simulations.electrode_cell import max_power

    thick = {"porosity": 0.25, "am_share": 0.95, "cbd_adhesion": 0.5, "mass_loading": 40.0}
    thin = {"porosity": 0.45, "am_share": 0.95, "cbd_adhesion": 0.5, "mass_loading": 8.0}
    assert max_power(limits.optimistic_properties(thin, 5.0)) > max_power(
        limits.optimistic_properties(thick, 5.0)
    )
