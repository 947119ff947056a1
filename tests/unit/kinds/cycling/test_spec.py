"""A cycling campaign's protocols stay inside the chemistry's window, or the file is refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from electroloop.errors import ConfigError, LimitViolation
from electroloop.instruments.cycler import MultichannelCycler
from electroloop.kinds.cycling.spec import ROLES, CyclingSpec
from electroloop.kinds.registry import load_campaign, parse_campaign

EXAMPLE = "examples/campaigns/cycling.toml"


def test_the_example_is_a_valid_cycling_campaign() -> None:
    spec = load_campaign(EXAMPLE)
    assert spec.cycling is not None and spec.goal.primary.name == "retention"
    phases = spec.cycling.phases()
    assert [p.name for p in phases] == [
        "formation",
        "rate-0.2C",
        "rate-0.5C",
        "rate-1C",
        "rate-2C",
        "cycling",
    ]
    assert phases[-1].protocol.cycles == 100 and phases[0].protocol.cycles == 2
    assert all(len(p.protocol.steps) == len(ROLES) for p in phases)
    limits = spec.cycling.limits(cycler_max_current=0.01)
    cycler = MultichannelCycler(resource=None, limits=limits)  # type: ignore[arg-type]
    for phase in phases:  # every step inside the window, checked before anything is sent
        cycler.validate(phase.protocol)
    discharge = [p.protocol.steps[4].current for p in phases]
    # C-rate x capacity, A: one multiplication each, rounding only
    assert discharge[1:5] == pytest.approx([-0.001, -0.0025, -0.005, -0.01], rel=1e-12, abs=0.0)


def test_a_rate_beyond_the_chemistry_names_the_field_and_range() -> None:
    with pytest.raises(ValidationError, match=r"rate_c_rates 4\.0; allowed: 0\.02\.\.3\.0 C"):
        CyclingSpec(rate_c_rates=(0.2, 4.0))
    with pytest.raises(ValidationError, match=r"c_rate\n.*less than or equal to 3"):
        CyclingSpec(c_rate=5.0)
    with pytest.raises(ValidationError, match="chemistry 'lco'; allowed"):
        CyclingSpec(chemistry="lco")
    with pytest.raises(ValidationError, match="checkpoints"):
        CyclingSpec(cycles=20, checkpoints=(10, 25))


def test_a_current_the_lab_cannot_source_is_refused_before_loading() -> None:
    spec = CyclingSpec(cell_capacity=0.05)  # 50 mAh: 2C is 100 mA
    cycler = MultichannelCycler(resource=None, limits=spec.limits(cycler_max_current=0.01))  # type: ignore[arg-type]
    with pytest.raises(LimitViolation, match=r"current .* allowed \|I\| <= 0.01 A"):
        cycler.validate(spec.phases()[1].protocol)


def test_cell_metrics_need_a_cycling_table() -> None:
    data = load_campaign(EXAMPLE).model_dump(mode="json", exclude_none=True)
    del data["cycling"]
    with pytest.raises(ConfigError, match=r"cycling: required but missing"):
        parse_campaign(data)  # it still says it is a cycling campaign
    del data["kind"]  # a file that never said: an electrolyte campaign, which has no cells
    with pytest.raises(ConfigError, match=r"retention.*come from cycling cells"):
        parse_campaign(data)


def test_cells_hotter_than_their_chemistry_allows_are_refused_before_anything_moves() -> None:
    data = load_campaign(EXAMPLE).model_dump(mode="json", exclude_none=True)
    with pytest.raises(Exception, match=r"temperature 50.0 °C; allowed: <= 45.0 °C for graphite"):
        parse_campaign(data | {"temperature": 50.0})


# -- a campaign's own cycle, as aurora-unicycler steps ---------------------------------------

CUSTOM_CYCLE = (
    {"step": "constant_current", "rate_C": 1, "until_voltage_V": 4.2},
    {"step": "constant_voltage", "voltage_V": 4.2, "until_rate_C": 0.05},
    {"step": "open_circuit_voltage", "until_time_s": 600},
    {"step": "constant_current", "rate_C": -2, "until_voltage_V": 2.5},
)


def test_a_custom_cycle_replaces_the_cycling_template() -> None:
    spec = CyclingSpec(cycles=10, checkpoints=(5,), cycle=CUSTOM_CYCLE)
    cycling = spec.phases()[-1]
    assert cycling.roles == ("charge", "cv", "rest", "discharge")
    assert cycling.discharge_c_rate == pytest.approx(2.0, rel=1e-12)
    assert cycling.protocol.cycles == 10
    assert cycling.protocol.steps[3].current == pytest.approx(-2 * spec.cell_capacity, rel=1e-12)
    spec.check_protocols(["scpi", "neware", "biologic", "pybamm"])


def test_every_phase_has_one_unicycler_description() -> None:
    spec = CyclingSpec(cycles=10, checkpoints=(5,))
    phases = spec.unicycler_phases(sample="cell-7")
    assert list(phases) == [phase.name for phase in spec.phases()]
    assert all(p.sample.name == "cell-7" for p in phases.values())
    assert phases["cycling"].sample.capacity_mAh == pytest.approx(5.0, rel=1e-12)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            {
                "step": "impedance_spectroscopy",
                "amplitude_V": 0.01,
                "start_frequency_Hz": 1e5,
                "end_frequency_Hz": 1,
            },
            r"cycle\[1\] \(impedance_spectroscopy\) cannot run",
        ),
        ({"step": "constant_current", "until_voltage_V": 2.5}, r"cycle\[1\]: Either rate_C"),
        ({"step": "loop", "loop_to": 1, "cycle_count": 2}, r"cycle\[1\]: a 'loop' step"),
        ({"step": "open_circuit_voltage", "until_time_s": 60}, "needs a charge .* and a discharge"),
    ],
)
def test_a_cycle_step_nothing_can_run_is_refused_naming_it(step: dict, message: str) -> None:
    cycle = ({"step": "constant_current", "rate_C": 1, "until_voltage_V": 4.2}, step)
    with pytest.raises(ValidationError, match=message):
        CyclingSpec(cycles=10, checkpoints=(5,), cycle=cycle)


def test_a_cycle_beyond_the_chemistry_is_refused_before_anything_moves() -> None:
    too_fast = ({"step": "constant_current", "rate_C": 5, "until_voltage_V": 4.2}, *CUSTOM_CYCLE)
    spec = CyclingSpec(cycles=10, checkpoints=(5,), cycle=too_fast)
    with pytest.raises(LimitViolation, match=r"phase 'cycling', cycle\[0\] \(cc\): current"):
        spec.check_protocols(["scpi"])
