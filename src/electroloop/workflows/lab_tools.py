"""`electroloop sim up` and `electroloop lab check`: start a lab's simulators, and look at every
instrument of a lab (real or simulated) before a campaign relies on it.

`lab check` asks each instrument who it is and what state it is in, through the same drivers a
campaign uses; one unreachable instrument is reported, not fatal to the check of the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import tomli_w

from electroloop.errors import ElectroloopError
from electroloop.instruments.balance import MettlerToledoBalance
from electroloop.instruments.conductivity_meter import ConductivityMeter
from electroloop.instruments.cycler import MultichannelCycler
from electroloop.instruments.sim.lab import SimulatedLab
from electroloop.instruments.smu import Keithley2450
from electroloop.instruments.syringe_pump import SyringePump
from electroloop.instruments.thermal_chamber import ThermalChamber
from electroloop.instruments.transport import ReconnectingResource, open_resource
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign
from electroloop.settings import InstrumentSpec, LabFile
from electroloop.workflows.build import simulated_lab, simulated_stocks


@dataclass(frozen=True)
class Endpoint:
    """One instrument to talk to: its role, its name in the lab, and its VISA address."""

    role: str
    name: str
    address: str
    simulated: bool


@dataclass(frozen=True)
class InstrumentCheck:
    """What `lab check` found at one endpoint."""

    endpoint: Endpoint
    identity: str
    state: str
    error: str | None = None


@contextmanager
def simulators(lab: LabFile, spec: ElectrolyteCampaign) -> Iterator[SimulatedLab | None]:
    """Every simulator the lab file asks for (address 'sim'), on one bench and one clock."""
    roles = [role for role, chosen in lab.instruments().items() if chosen.simulated]
    if not roles:
        yield None
        return
    with simulated_lab(lab, spec, roles) as sim:
        yield sim


def endpoints(lab: LabFile, spec: ElectrolyteCampaign, sim: SimulatedLab | None) -> list[Endpoint]:
    """Every instrument of the lab with the address to reach it (simulators: on loopback)."""
    found: list[Endpoint] = []
    for role, chosen in lab.instruments().items():
        if role == "pumps":
            for stock in simulated_stocks(spec.space, lab):
                name = f"pump-{stock.name}"
                if chosen.simulated:
                    assert sim is not None
                    found.append(Endpoint(role, name, sim.pump_resources[stock.name], True))
                elif isinstance(chosen.address, dict) and stock.name in chosen.address:
                    found.append(Endpoint(role, name, chosen.address[stock.name], False))
                else:
                    found.append(Endpoint(role, name, "(no address for this stock)", False))
        elif chosen.simulated:
            assert sim is not None
            found.append(Endpoint(role, role, sim.servers[role].resource_name, True))
        else:
            assert isinstance(chosen.address, str)
            found.append(Endpoint(role, role, chosen.address, False))
    return found


def local_lab_toml(lab: LabFile, spec: ElectrolyteCampaign, sim: SimulatedLab | None) -> str:
    """The lab file with each simulator's loopback address in place of 'sim' (and no faults:
    they live in the running simulators), so other processes reach them as real instruments.

    Its meter is never checked against the standard (`check_standard.every = 0`): the vials
    move by a person's hand there, which the simulators in `sim up`'s process cannot see, so
    the standard would never reach their meter cell."""
    data = lab.model_dump(mode="json", exclude_none=True)
    data["check_standard"]["every"] = 0
    for endpoint in endpoints(lab, spec, sim):
        section = data[endpoint.role]
        section["faults"] = []
        if not endpoint.simulated:
            continue
        if endpoint.role == "pumps":
            table = section["address"] if isinstance(section["address"], dict) else {}
            table[endpoint.name.removeprefix("pump-")] = endpoint.address
            section["address"] = table
        else:
            section["address"] = endpoint.address
    return tomli_w.dumps(data)


# -- probing one instrument ---------------------------------------------------------------

Probe = Callable[[Any, InstrumentSpec], tuple[str, str]]
"""Asks an open VISA resource for (identity, state)."""
Check = Callable[[str, InstrumentSpec], tuple[str, str]]
"""Asks the instrument at an address for (identity, state)."""


def _balance(resource: Any, chosen: InstrumentSpec) -> tuple[str, str]:
    balance = MettlerToledoBalance(resource, chosen.limits.get("capacity", 220.0))
    reading = balance.reading(stable=False)
    state = f"{reading.grams:.4f} g, {'stable' if reading.stable else 'not yet stable'}"
    return str(balance.identity()), state


def _pump(resource: Any, chosen: InstrumentSpec) -> tuple[str, str]:
    pump = SyringePump(resource, syringe_volume=chosen.limits.get("syringe_volume", 5.0))
    status = pump.status()
    state = f"plunger at {pump.position():.3f} mL, valve {pump.valve()}, " + (
        "ready" if status.ready else "busy"
    )
    if status.error:
        state += f", error code {status.error}"
    return pump.firmware(), state


def _meter(resource: Any, chosen: InstrumentSpec) -> tuple[str, str]:
    meter = ConductivityMeter(resource)
    compensation = meter.compensation()
    state = (
        f"probe {meter.temperature():.2f} °C, cell constant {meter.cell_constant():g} cm-1, "
        + (
            f"compensation {compensation.coefficient:g} %/K to {compensation.reference:g} °C"
            if compensation.enabled
            else "no temperature compensation"
        )
    )
    return meter.identity(), state


def _chamber(resource: Any, chosen: InstrumentSpec) -> tuple[str, str]:
    chamber = ThermalChamber(resource)
    s = chamber.status()
    state = (
        f"{s.temperature:.2f} °C (setpoint {s.setpoint:g} °C at {s.ramp_rate:g} K/min), "
        f"output {'on' if s.output else 'off'}, door {s.door.lower()}, alarm {s.alarm.lower()}"
    )
    return chamber.identity(), state


def _smu(resource: Any, chosen: InstrumentSpec) -> tuple[str, str]:
    smu = Keithley2450(resource)
    state = f"output {'on' if smu.output_enabled() else 'off'}"
    return smu.identity(), state


def _cycler(resource: Any, chosen: InstrumentSpec) -> tuple[str, str]:
    cycler = MultichannelCycler(resource)
    count = cycler.channel_count()
    states = [cycler.status(channel).state for channel in range(1, count + 1)]
    summary = ", ".join(f"{states.count(s)} {s.lower()}" for s in dict.fromkeys(states))
    return cycler.identity(), f"{count} channels: {summary}"


def over_visa(probe: Probe, terminations: dict[str, str]) -> Check:
    """A check that opens the instrument's VISA address with its protocol's line endings."""

    def run(address: str, chosen: InstrumentSpec) -> tuple[str, str]:
        with ExitStack() as stack:
            opener = partial(open_resource, address, timeout=chosen.timeout, **terminations)
            resource = ReconnectingResource(opener)
            stack.callback(resource.close)
            return probe(resource, chosen)

    return run


CHECKS: dict[str, Check] = {
    "mt-sics": over_visa(_balance, MettlerToledoBalance.TERMINATIONS),
    "cavro-dt": over_visa(_pump, SyringePump.TERMINATIONS),
    "scpi-conductivity": over_visa(_meter, ConductivityMeter.TERMINATIONS),
    "scpi-chamber": over_visa(_chamber, ThermalChamber.TERMINATIONS),
    "keithley-2450": over_visa(_smu, Keithley2450.TERMINATIONS),
    "electroloop-cycler": over_visa(_cycler, MultichannelCycler.TERMINATIONS),
}
"""Driver name -> how to ask its instrument who it is and what state it is in. A driver that
does not speak through VISA (a vendor package with its own socket) opens its own link."""


def check(lab: LabFile, points: Sequence[Endpoint]) -> list[InstrumentCheck]:
    """Identity and state of every endpoint; a failure is reported for that instrument only."""
    results = []
    for endpoint in points:
        chosen = lab.instruments()[endpoint.role]
        try:
            identity, state = CHECKS[chosen.driver](endpoint.address, chosen)
            results.append(InstrumentCheck(endpoint, identity, state))
        except ElectroloopError as exc:
            results.append(InstrumentCheck(endpoint, "-", "-", f"{type(exc).__name__}: {exc}"))
    return results


def describe(results: Sequence[InstrumentCheck]) -> str:
    """The check as a table a technician reads: one instrument per line, problems last."""
    lines = []
    width = max((len(r.endpoint.name) for r in results), default=0)
    for r in results:
        where = f"{r.endpoint.address}{' (simulated)' if r.endpoint.simulated else ''}"
        head = f"{r.endpoint.name:<{width}}  {where}"
        if r.error is None:
            lines.append(f"{head}\n{'':<{width}}  OK  {r.identity}; {r.state}")
        else:
            lines.append(f"{head}\n{'':<{width}}  FAILED  {r.error}")
    failed = sum(r.error is not None for r in results)
    lines.append(f"{len(results) - failed} of {len(results)} instruments answered")
    return "\n".join(lines)


__all__ = [
    "CHECKS",
    "Endpoint",
    "InstrumentCheck",
    "check",
    "describe",
    "endpoints",
    "local_lab_toml",
    "over_visa",
    "simulators",
]
