"""The meter's check standard: its certificate, the checks a campaign makes, and a drifting meter
stopping the campaign (resumable) before any drifted reading reaches the planner."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from electroloop.errors import CampaignHalted, ConfigError
from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.kinds.electrolyte.check_standard import KCL_1413
from electroloop.kinds.registry import parse_campaign
from electroloop.orchestrator.events import DosingRecorded, ObservationAdded, StandardChecked
from electroloop.settings import Settings, default_lab_text
from electroloop.workflows.build import assemble, preflight

DRIFT = '\n[[meter.faults]]\nfault = "drift"\nafter = 5\n'
"""The meter drifts from its 5th command on (0.2 % more each command): after the first check
(four commands), so the second check finds it."""


def _spec(tmp_path: Path, faults: str = "", **changes: object):
    lab = tmp_path / "lab.toml"
    lab.write_text(default_lab_text() + faults, encoding="utf-8")
    data = default_campaign().model_dump(mode="json")
    data |= {"planner": "sobol", "budget": 8, "batch_size": 4, "lab": str(lab), **changes}
    return parse_campaign(data, "check standard test")


def test_the_certificate_is_read_between_its_rows_and_only_inside_them() -> None:
    assert KCL_1413.conductivity(25.0) == pytest.approx(1.413, abs=1e-9)
    assert KCL_1413.conductivity(22.5) == pytest.approx((1.278 + 1.413) / 2, abs=1e-9)
    with pytest.raises(ConfigError, match=r"check_standard: .* certified from 10 to 30 °C"):
        KCL_1413.conductivity(35.0)


def test_a_campaign_checks_its_meter_before_the_first_and_every_fourth_sample(
    tmp_path: Path,
) -> None:
    spec = _spec(tmp_path)
    with assemble(spec, Settings(home=tmp_path / "home"), "checked", []) as assembly:
        assembly.campaign.run()
        events = assembly.campaign.store.events("checked")
    checks = [e for e in events if isinstance(e, StandardChecked)]
    assert [c.measured_before for c in checks] == [0, 4]
    for check in checks:
        assert check.passed and len(check.readings) == 3
        # the simulated meter's 0.5 % noise: each reading within 2 % of the certificate
        assert all(r == pytest.approx(check.expected, rel=0.02) for r in check.readings)
    observed = sum(isinstance(e, ObservationAdded) for e in events)
    assert observed == 8


def test_a_drifting_meter_stops_the_campaign_and_resume_reads_the_waiting_sample(
    tmp_path: Path,
) -> None:
    home = Settings(home=tmp_path / "home")
    with assemble(_spec(tmp_path, DRIFT), home, "drift", []) as assembly:
        with pytest.raises(CampaignHalted, match=r"meter-drift\.md, then resume it"):
            assembly.campaign.run()
        state = assembly.campaign.state
    failed = state.standard_checks[-1]
    assert not failed.passed
    assert abs(sum(failed.readings) / len(failed.readings) / failed.expected - 1) > 0.01
    (alert,) = state.alerts
    assert (alert.rule, alert.severity) == ("meter-drift", "ticket")
    assert alert.runbook == "docs/runbooks/meter-drift.md"
    assert (Path(__file__).parents[4] / alert.runbook).is_file()
    # no reading taken after the failed check reached the planner
    assert len(state.observations) == failed.measured_before
    waiting = [c for c in state.dosings if c not in state.measurements]
    assert len(waiting) == 1  # dosed, waiting for a meter that reads true

    with assemble(_spec(tmp_path), home, "drift", []) as assembly:  # the meter recalibrated
        assembly.campaign.run()
        events = assembly.campaign.store.events("drift")
        state = assembly.campaign.state
    assert len(state.observations) == 8 and not state.failures
    assert waiting[0] in state.observations
    dosed = Counter(e.record.candidate_id for e in events if isinstance(e, DosingRecorded))
    assert set(dosed.values()) == {1}  # the waiting sample was read, not dosed again
    assert state.standard_checks[-1].passed


def test_a_campaign_outside_the_certificate_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    spec = _spec(tmp_path, temperature=35.0)
    with pytest.raises(ConfigError, match="check_standard"):
        preflight(spec)
    without = _spec(tmp_path, temperature=35.0)
    lab = Path(without.lab)
    lab.write_text(default_lab_text().replace("every = 4", "every = 0"), encoding="utf-8")
    preflight(without)  # a lab that runs without checks may go ahead
