"""The technician's form for electrode campaigns: the discharge and the cubes per design."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from electroloop.errors import ConfigError
from electroloop.kinds.electrode.campaign import ElectrodeCampaign
from electroloop.kinds.electrode.form import ElectrodeForm
from electroloop.workflows.deployments import CampaignForm

ROOT = Path(__file__).resolve().parents[4]
CASE3 = "examples/campaigns/electrode/case3_energy_cell.toml"


def test_a_technician_judges_the_designs_at_another_power_with_more_cubes() -> None:
    form = CampaignForm(campaign_file=CASE3, electrode=ElectrodeForm(power_w=300.0, realisations=4))
    spec = form.to_spec(ROOT)
    assert isinstance(spec, ElectrodeCampaign)
    assert spec.discharge.power_w == pytest.approx(300.0, abs=1e-12)
    assert spec.microstructure.realisations == 4
    assert spec.microstructure.size == 64  # the file's, untouched
    at_rate = CampaignForm(campaign_file=CASE3, electrode=ElectrodeForm(c_rate=2.0)).to_spec(ROOT)
    assert at_rate.discharge.power_w is None and at_rate.discharge.c_rate == pytest.approx(2.0)


def test_the_form_refuses_what_the_campaign_would() -> None:
    with pytest.raises(ValidationError, match="realisations"):
        ElectrodeForm(realisations=1)  # each design needs >= 2 cubes for its standard error
    with pytest.raises(ConfigError, match="one or the other"):
        CampaignForm(
            campaign_file=CASE3, electrode=ElectrodeForm(power_w=10.0, c_rate=1.0)
        ).to_spec(ROOT)
    with pytest.raises(ConfigError, match="only an electrode campaign file"):
        CampaignForm(
            campaign_file="examples/campaigns/conductivity.toml",
            electrode=ElectrodeForm(power_w=10.0),
        ).to_spec(ROOT)
