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

from electroloop.errors import ConfigError, DeviceFault, ElectroloopError, InstrumentError
from electroloop.instruments.balance import MettlerToledoBalance
from electroloop.instruments.biologic import eclab_identity
from electroloop.instruments.conductivity_meter import ConductivityMeter
from electroloop.instruments.cycler import MultichannelCycler
from electroloop.instruments.deck import parse_slot
from electroloop.instruments.neware import TimedNewareAPI, parse_address
from electroloop.instruments.orion_meter import OrionNoReading, OrionStarA215
from electroloop.instruments.precise_flex import PreciseFlexArm, arm_address
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.lab import SimulatedLab
from electroloop.instruments.sim.neware import NewareServer
from electroloop.instruments.smu import Keithley2450
from electroloop.instruments.syringe_pump import SyringePump
from electroloop.instruments.thermal_chamber import ThermalChamber
from electroloop.instruments.transport import ReconnectingResource, open_resource
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign
from electroloop.settings import ARM_PLACES, SIM, ArmSpec, InstrumentSpec, LabFile
from electroloop.workflows.build import simulated_lab, simulated_stocks
from electroloop.workflows.cycling_build import biologic_api


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
            server = sim.servers.get(role)  # none: a simulator its check starts (Neware, BioLogic)
            address = server.resource_name if server is not None else SIM
            found.append(Endpoint(role, role, address, True))
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
        if not endpoint.simulated or section.get("driver") in ("biologic-eclab", "neware-bts"):
            continue  # the BioLogic fake runs inside whichever process uses it, the simulated
            # Neware BTS in the campaign's own detached process (`cycler_service`): both 'sim'
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


def _orion(resource: Any, chosen: InstrumentSpec) -> tuple[str, str]:
    meter = OrionStarA215(resource, measurement_timeout=chosen.timeout)
    identity = meter.identity()
    try:
        reading = meter.reading()
        shown = f"{reading.conductivity:.4g} mS/cm at {reading.temperature:.1f} °C"
    except OrionNoReading:  # the meter answers, but its cell stands dry or out of range
        shown = "no reading (cell dry or out of range)"
    calibration = meter.calibration()
    state = f"{shown}, " + (
        "not calibrated"
        if calibration is None
        else f"cell constant {calibration.cell_constant:g} cm-1, "
        + (
            f"compensation {calibration.coefficient:g} %/K to {calibration.reference:g} °C"
            if calibration.coefficient > 0
            else "no temperature compensation"
        )
    )
    return str(identity), state


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


def _arm(address: str, chosen: InstrumentSpec) -> tuple[str, str]:
    """Connect without homing (power on, attach), ask the version, power and pose."""
    host, port = arm_address(address)
    positions = chosen.positions if isinstance(chosen, ArmSpec) else {}
    arm = PreciseFlexArm(host, port, positions, timeout=chosen.timeout, home=False)
    try:
        version, power, at = arm.version(), arm.power(), arm.where()
    finally:
        arm.close()
    pose = f"x {at.x:.1f} y {at.y:.1f} z {at.z:.1f} mm, yaw {at.yaw:.1f} deg"
    return version, f"power {'on' if power else 'off'}; at {pose}; {len(positions)} places taught"


TEACHABLE = (*ARM_PLACES, "standards")
"""Places an arm is taught besides the rack slots (`rack-<n>:<row><column>`)."""


def taught_line(lab: LabFile, place: str) -> str:
    """The `[arm.positions]` line for `place`: where the arm's gripper is now (``wherec``).
    Nothing moves: the arm is powered and attached, not homed."""
    if place not in TEACHABLE and parse_slot(place) is None:
        raise ConfigError(
            f"place {place!r}; allowed: a rack slot 'rack-<n>:<A-D><1-6>' or one of "
            f"{', '.join(TEACHABLE)}"
        )
    if lab.arm is None or lab.arm.simulated:
        raise ConfigError(
            f"lab {lab.name!r} has no real arm to teach (arm.address must be its TCS address, "
            "'TCPIP::<host>::10100::SOCKET'; a simulated arm's poses are the lab file's)"
        )
    assert isinstance(lab.arm.address, str)
    host, port = arm_address(lab.arm.address)
    arm = PreciseFlexArm(host, port, lab.arm.positions, timeout=lab.arm.timeout, home=False)
    try:
        at = arm.where()
    finally:
        arm.close()
    values = ", ".join(f"{v:.3f}" for v in (at.x, at.y, at.z, at.yaw, at.pitch, at.roll))
    return f'"{place}" = [{values}, {at.config}]'


def _biologic(address: str, chosen: InstrumentSpec) -> tuple[str, str]:
    """EC-Lab's pipelines and their run states through aurora-biologic (address 'local'), or
    the fake of its API for 'sim' (the simulator's own address is not used)."""
    api = biologic_api(chosen, SimClock(), seed=0)
    states = [str(info.get("Status")) for info in api.get_status().values()]
    summary = ", ".join(f"{states.count(s)} {s.lower()}" for s in dict.fromkeys(states))
    return eclab_identity(api), f"{len(states)} channels: {summary}"


def _neware(address: str, chosen: InstrumentSpec) -> tuple[str, str]:
    """Log in with aurora-neware's `NewareAPI` (address 'host:port'; 'sim': a simulated BTS
    started for the check) and report getdevinfo's pipelines and getchlstatus's states."""
    with ExitStack() as stack:
        if chosen.simulated:
            channels = int(chosen.limits.get("channels", 8))
            server = stack.enter_context(NewareServer(channels))
            address = f"{server.host}:{server.port}"
        host, port = parse_address(address)
        api = TimedNewareAPI(host, port, chosen.timeout)
        try:
            api.connect()
            states = [str(s.get("status")) for s in api.getchlstatus().values()]
        except OSError as exc:  # refused, reset or silent: the BTS is not reachable
            raise InstrumentError(f"Neware BTS {host}:{port}: {exc!r}") from None
        except (ValueError, KeyError, SyntaxError) as exc:  # no pipelines, unreadable replies
            raise DeviceFault(f"Neware BTS {host}:{port}: {exc}") from None
        finally:
            api.disconnect()
    if not api.channel_map:
        raise DeviceFault(f"Neware BTS {host}:{port}: getdevinfo lists no channels")
    first = next(iter(api.channel_map.values()))
    summary = ", ".join(f"{states.count(s)} {s}" for s in dict.fromkeys(states))
    identity = f"Neware BTS devtype {first['devtype']} unit {first['devid']} at {host}:{port}"
    return identity, f"{len(states)} pipelines ({', '.join(api.channel_map)}): {summary}"


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
    "orion-a215": over_visa(_orion, OrionStarA215.TERMINATIONS),
    "scpi-chamber": over_visa(_chamber, ThermalChamber.TERMINATIONS),
    "keithley-2450": over_visa(_smu, Keithley2450.TERMINATIONS),
    "electroloop-cycler": over_visa(_cycler, MultichannelCycler.TERMINATIONS),
    "biologic-eclab": _biologic,
    "neware-bts": _neware,
    "precise-flex": _arm,
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
    "taught_line",
]
