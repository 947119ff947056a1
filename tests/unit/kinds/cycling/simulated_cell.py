"""A cell's phases as the loopback cycler simulator records them (for export/import tests), and
the example cycling campaign shrunk to minutes of instrument time (for campaign tests)."""

from __future__ import annotations

from pathlib import Path

from electroloop.instruments.cycler import (
    ChannelLimits,
    CyclingProtocol,
    MultichannelCycler,
    ProtocolStep,
)
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.cycler import CyclerServer
from electroloop.instruments.transport import open_resource
from electroloop.kinds.cycling.spec import PULSE, ROLES
from electroloop.kinds.cycling.summary import PhaseData
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign
from electroloop.kinds.registry import load_campaign

Q = 0.005  # Ah, the simulator's default cell; 1C = 5 mA
LIMITS = ChannelLimits(min_voltage=2.5, max_voltage=4.2, max_current=0.02)
REST = 300.0  # s, shorter than the campaign's 10 min to keep the run brief
EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "campaigns" / "cycling.toml"


def template(c_rate: float, cycles: int) -> CyclingProtocol:
    """The campaign's cycle template (`spec.ROLES`): CC charge, CV hold to C/20, rest, 10 s
    pulse at 1C, CC discharge, rest; a record a minute."""
    return CyclingProtocol(
        steps=(
            ProtocolStep.cc(c_rate * Q, 4.2),
            ProtocolStep.cv(4.2, Q / 20),
            ProtocolStep.rest(REST),
            ProtocolStep.cc(-Q, 2.5, max_duration=PULSE),
            ProtocolStep.cc(-c_rate * Q, 2.5),
            ProtocolStep.rest(REST),
        ),
        cycles=cycles,
        record_interval=60.0,
    )


def simulated_phases() -> tuple[PhaseData, ...]:
    """A formation cycle at C/2, then two cycling cycles at 1C, run one after the other on
    channel 1 of a `CyclerServer` (accelerated clock), as `CyclingLoop` runs a cell's phases."""
    clock = SimClock(speedup=40000.0)
    phases = []
    with CyclerServer(2, clock=clock, seed=7) as server:
        resource = open_resource(
            server.resource_name, timeout=2.0, **MultichannelCycler.TERMINATIONS
        )
        cycler = MultichannelCycler(resource, limits=LIMITS, clock=clock)
        try:
            since = 0
            for name, protocol in (("formation", template(0.5, 1)), ("cycling", template(1, 2))):
                cycler.load(1, protocol)
                cycler.start(1)
                cycler.wait(1, timeout=20 * 3600.0, poll_interval=600.0)
                records, since = cycler.fetch_all(1, since)
                phases.append(PhaseData(name, ROLES, tuple(records), done=True))
        finally:
            cycler.close()
    return tuple(phases)


def small_campaign(**cycling: object) -> ElectrolyteCampaign:
    """The example, shrunk to minutes of instrument time per phase."""
    spec = load_campaign(EXAMPLE)
    assert spec.cycling is not None
    short = spec.cycling.model_copy(
        update={
            "formation_cycles": 1,
            "formation_c_rate": 1.0,
            "rate_c_rates": (1.0, 2.0),
            "cycles": 8,
            "checkpoints": (4,),
            "record_interval": 300.0,
            **cycling,
        }
    )
    return spec.model_copy(update={"budget": 1, "batch_size": 1, "cycling": short})
