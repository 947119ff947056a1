"""A lab whose meter is a Thermo Orion Star A215: `lab check` finds it, and a short dry-run
conductivity campaign (check standard included) runs on it unchanged, without Prefect."""

from __future__ import annotations

from pathlib import Path

import pytest

from electroloop.cli import main
from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.kinds.electrolyte.recipes import as_dosed
from electroloop.kinds.registry import parse_campaign
from electroloop.orchestrator.events import (
    CampaignStarted,
    MeasurementRecorded,
    StandardChecked,
)
from electroloop.settings import Settings, default_lab_text
from electroloop.simulations.optimum import true_value
from electroloop.workflows.build import assemble, lab_for, simulated_stocks


def orion_lab(tmp_path: Path) -> Path:
    """The simulated lab with the Orion meter, and only what a conductivity campaign uses."""
    text = default_lab_text()
    text = text[: text.index("[thermal_chamber]")]  # no chamber, SMU or cycler: not needed here
    assert 'driver = "scpi-conductivity"' in text
    path = tmp_path / "lab.toml"
    path.write_text(
        text.replace('driver = "scpi-conductivity"', 'driver = "orion-a215"'), encoding="utf-8"
    )
    return path


def test_lab_check_shows_the_orion_meter_ok(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lab", "check", "--lab", str(orion_lab(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "8 of 8 instruments answered" in out  # balance, 6 pumps, meter
    meter = out[out.index("\nmeter") :]
    assert "OK  Thermo Scientific Orion Star A215, serial X" in meter
    assert "cell constant 0.475 cm-1, no temperature compensation" in meter


def test_a_dry_run_campaign_measures_with_the_orion_meter(tmp_path: Path) -> None:
    data = default_campaign().model_dump(mode="json")
    data |= {"planner": "sobol", "budget": 3, "batch_size": 3, "lab": str(orion_lab(tmp_path))}
    spec = parse_campaign(data, "orion campaign test")
    with assemble(spec, Settings(home=tmp_path / "home"), "orion", []) as assembly:
        state = assembly.campaign.run()
        events = assembly.campaign.store.events("orion")
    assert len(state.observations) == 3 and not state.failures

    # The check standard ran through the Orion meter, unchanged: KCl 1.413 mS/cm within 2 %.
    (check,) = [e for e in events if isinstance(e, StandardChecked)]
    assert check.passed and len(check.readings) == 3
    assert all(r == pytest.approx(1.413, rel=0.02) for r in check.readings)

    # Each reading follows what was dosed (weighed masses), within the meter's noise.
    stocks = simulated_stocks(spec.space, lab_for(spec))
    for candidate_id, observation in state.observations.items():
        dosing = state.dosings[candidate_id]
        dosed = as_dosed(
            dosing.dosed_masses, stocks, spec.salt.name, spec.salt.molar_mass, spec.temperature
        )
        assert observation.values["conductivity"] == pytest.approx(
            true_value(spec.space, dosed), rel=0.03
        )

    # Provenance names the Orion parser; each measurement keeps the meter's own traffic.
    (started,) = [e for e in events if isinstance(e, CampaignStarted)]
    assert started.versions["parser.OrionStarA215"] == "1"
    measured = [e.measurement for e in events if isinstance(e, MeasurementRecorded)]
    assert len(measured) == 3
    for measurement in measured:
        assert measurement.parser_version == "1" and "OrionStarA215" in measurement.parser
        assert "> GETMEAS" in measurement.transcript.text
        assert measurement.transcript.instrument == "conductivity-meter"
