"""The lab under test: the file given with `--lab`, its simulators started for 'sim' entries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.settings import LabFile, load_lab
from electroloop.workflows.lab_tools import Endpoint, endpoints, simulators


@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest) -> LabFile:
    path = request.config.getoption("--lab")
    if not path:
        pytest.skip("no lab file: run `pytest -m hardware --lab lab.toml tests/hardware`")
    return load_lab(path)


@pytest.fixture(scope="session")
def bench(lab: LabFile) -> Iterator[list[Endpoint]]:
    """Every instrument of the lab with the address to reach it (simulators on loopback)."""
    spec = default_campaign()
    with simulators(lab, spec) as sim:
        yield endpoints(lab, spec, sim)
