"""One cycling protocol, exported to each cycler's format and the cell twin's (aurora-unicycler)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from aurora_unicycler import (
    ConstantCurrent,
    ConstantVoltage,
    CyclingProtocol,
    ImpedanceSpectroscopy,
    Loop,
    OpenCircuitVoltage,
    RecordParams,
    SampleParams,
    Tag,
)

from electroloop.errors import ConfigError
from electroloop.instruments.protocol_export import (
    UnsupportedStep,
    biologic_mps,
    check_exports,
    neware_xml,
    pybamm_experiment,
    scpi_protocol,
    to_unicycler,
)
from electroloop.kinds.cycling.spec import CyclingSpec

SPEC = CyclingSpec(cycles=5, checkpoints=(3,))
LIMITS = SPEC.limits()


@pytest.mark.parametrize("phase", SPEC.phases(), ids=lambda p: p.name)
def test_every_phase_survives_the_round_trip_through_unicycler(phase) -> None:
    unicycler = to_unicycler(
        phase.protocol, limits=LIMITS, capacity_ah=SPEC.cell_capacity, sample="cell-1"
    )
    assert scpi_protocol(unicycler, limits=LIMITS).wire() == phase.protocol.wire()


def test_neware_step_file_carries_the_steps_in_its_units() -> None:
    phase = SPEC.phases()[-1]  # cycling: 6 steps looped 5 times
    root = ET.fromstring(neware_xml(phase.protocol, limits=LIMITS, capacity_ah=0.005))
    steps = root.find("config/Step_Info")
    assert steps is not None
    types = [child.get("Step_Type") for child in steps]
    # CC charge, CV, rest, CC discharge (pulse), CC discharge, rest, loop, end
    assert types == ["1", "3", "4", "2", "2", "4", "5", "6"]
    charge = phase.protocol.steps[0]
    main = steps[0].find("Limit/Main")
    assert main is not None
    assert float(main.find("Curr").get("Value")) == pytest.approx(charge.current * 1000, rel=1e-6)
    assert float(main.find("Stop_Volt").get("Value")) == pytest.approx(
        charge.voltage * 10_000, rel=1e-9
    )
    loop = steps[6].find("Limit/Other/Cycle_Count")
    assert loop is not None and loop.get("Value") == "5"
    upper = root.find("config/Whole_Prt/Protect/Main/Volt/Upper")
    assert upper is not None
    assert float(upper.get("Value")) == pytest.approx(
        (LIMITS.max_voltage + LIMITS.safety_margin) * 10_000, rel=1e-9
    )


def test_biologic_settings_hold_every_step_in_one_modulo_bat_technique() -> None:
    phase = SPEC.phases()[0]
    mps = biologic_mps(phase.protocol, limits=LIMITS, capacity_ah=0.005)
    lines = mps.splitlines()
    assert "Modulo Bat" in lines and "Number of linked techniques : 1" in lines
    ctrl = next(line for line in lines if line.startswith("ctrl_type")).split()[1:]
    assert ctrl == ["CC", "CV", "Rest", "CC", "CC", "Rest", "Loop"]
    assert any(
        line.strip() == f"Ewe max = {LIMITS.max_voltage + LIMITS.safety_margin:.5f} V"
        for line in lines
    )


def test_pybamm_experiment_unrolls_the_loop_and_pybamm_accepts_it() -> None:
    import pybamm

    phase = SPEC.phases()[-1]
    unicycler = to_unicycler(phase.protocol, limits=LIMITS, capacity_ah=0.005)
    steps = pybamm_experiment(unicycler)
    assert len(steps) == len(phase.protocol.steps) * phase.protocol.cycles
    experiment = pybamm.Experiment(steps)
    assert len(experiment.steps) == len(steps)


def _with_eis() -> CyclingProtocol:
    return CyclingProtocol(
        sample=SampleParams(name="cell", capacity_mAh=5.0),
        record=RecordParams(time_s=10),
        method=[
            OpenCircuitVoltage(until_time_s=60),
            ImpedanceSpectroscopy(amplitude_V=0.01, start_frequency_Hz=1e5, end_frequency_Hz=1),
        ],
    )


@pytest.mark.parametrize("target", ["scpi", "neware", "pybamm"])
def test_a_step_a_target_cannot_run_is_refused_by_name(target: str) -> None:
    with pytest.raises(UnsupportedStep, match=r"step 2 \(impedance_spectroscopy\)") as caught:
        check_exports(_with_eis(), [target], limits=LIMITS)
    assert caught.value.target == target


def test_biologic_runs_an_impedance_sweep() -> None:
    check_exports(_with_eis(), ["biologic"], limits=LIMITS)


def test_scpi_cycler_refuses_a_loop_that_does_not_return_to_the_start() -> None:
    protocol = CyclingProtocol(
        sample=SampleParams(name="cell", capacity_mAh=5.0),
        record=RecordParams(time_s=10),
        method=[
            OpenCircuitVoltage(until_time_s=60),
            Tag(tag="inner"),
            ConstantCurrent(rate_C=0.5, until_voltage_V=4.2),
            ConstantVoltage(voltage_V=4.2, until_rate_C=0.05),
            Loop(loop_to="inner", cycle_count=3),
        ],
    )
    with pytest.raises(UnsupportedStep, match="step 2 \\(tag\\)"):
        scpi_protocol(protocol, limits=LIMITS)
    check_exports(protocol, ["neware", "biologic", "pybamm"], limits=LIMITS)


def test_c_rates_become_currents_from_the_capacity() -> None:
    protocol = CyclingProtocol(
        sample=SampleParams(name="cell", capacity_mAh=5.0),
        record=RecordParams(time_s=30),
        method=[
            ConstantCurrent(rate_C=0.5, until_voltage_V=4.2),
            ConstantVoltage(voltage_V=4.2, until_rate_C=0.05),
            ConstantCurrent(rate_C=-1.0, until_time_s=600),
        ],
    )
    steps = scpi_protocol(protocol, limits=LIMITS).steps
    assert steps[0].current == pytest.approx(0.0025, rel=1e-12)
    assert steps[1].cutoff_current == pytest.approx(0.00025, rel=1e-12)
    assert steps[2].current == pytest.approx(-0.005, rel=1e-12)
    assert steps[2].voltage == pytest.approx(LIMITS.min_voltage)  # no cut-off: the chemistry's


def test_an_unknown_target_names_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match="allowed: scpi, neware, biologic, pybamm"):
        check_exports(_with_eis(), ["maccor"], limits=LIMITS)


def test_the_cell_twin_runs_the_protocol_the_cycler_runs() -> None:
    from electroloop.kinds.cycling.spec import twin_protocol
    from electroloop.simulations.cell_twin import CellTwin, Electrolyte

    spec = CyclingSpec(formation_cycles=1, cycles=5, checkpoints=(3,))
    formation = spec.unicycler_phases()["formation"]
    protocol = twin_protocol(formation, "formation")
    assert len(protocol.cycles) == 1
    assert protocol.cycles[0][0] == "Charge at 0.1C for 15 hours or until 4.2 V"
    run = CellTwin().run(protocol, Electrolyte({"EC": 0.3, "EMC": 0.7}, conductivity=10.0))
    (cycle,) = run.cycles
    assert cycle.discharge_c_rate == pytest.approx(0.1, rel=1e-12)  # the discharge, not the pulse
    # Chen2020's LG M50 holds 5 Ah nominal (Chen et al. 2020); C/10 after a CV charge reaches it
    assert cycle.discharge_capacity == pytest.approx(5.0, rel=0.05)
