"""The composition root: the one place that turns settings and a campaign into concrete objects.

Nothing else chooses between simulators and hardware. A simulated lab starts protocol-true
servers on loopback and the very same drivers reach them over TCP, exactly as they would reach
networked instruments.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from electroloop.errors import ConfigError
from electroloop.instruments.balance import MettlerToledoBalance
from electroloop.instruments.conductivity_meter import ConductivityMeter
from electroloop.instruments.dosing_station import DosingChannel, DosingStation
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.lab import DOSING_ROLES, SimulatedLab
from electroloop.instruments.sim.server import Fault, FaultRule
from electroloop.instruments.syringe_pump import SyringePump
from electroloop.instruments.transport import (
    ReconnectingResource,
    RecordingResource,
    open_resource,
)
from electroloop.models import SearchSpace, Stock
from electroloop.orchestrator.campaign import CampaignSpec
from electroloop.orchestrator.closed_loop import Campaign, TrialObserver
from electroloop.orchestrator.experiment import ConductivityExperiment
from electroloop.orchestrator.procedures import stocks_for
from electroloop.orchestrator.progress import Oracle
from electroloop.orchestrator.store import CampaignStore
from electroloop.planners.base import Planner
from electroloop.planners.registry import resolve_planner
from electroloop.settings import LabFile, Settings, load_lab
from electroloop.simulations.density import density
from electroloop.simulations.optimum import true_optimum, true_value
from electroloop.simulations.physics import MODEL, conductivity


def build_planner(spec: CampaignSpec, store: CampaignStore) -> Planner:
    """The planner the campaign names, seeded, warm-started and time-boxed as it asks."""
    planner_class = resolve_planner(spec.planner)
    options: dict[str, Any] = {}
    if spec.warm_start:
        options["warm_start"] = [
            observation
            for campaign_id in spec.warm_start
            for observation in store.state(campaign_id).observations.values()
        ]
    if spec.ask_timeout is not None:
        options["ask_timeout"] = spec.ask_timeout
    accepted = inspect.signature(planner_class).parameters
    refused = sorted(name for name in options if name not in accepted)
    if refused:
        raise ConfigError(
            f"planner {spec.planner!r} does not accept {refused}; allowed: a planner whose "
            "constructor takes them (e.g. 'ax'), or remove them from the campaign"
        )
    planner: Planner = planner_class(spec.space, spec.goal, spec.seed, **options)
    return planner


def lab_for(spec: CampaignSpec) -> LabFile:
    """The lab file the campaign names ('simulated': the embedded lab.sim.toml)."""
    return load_lab(None if spec.lab == "simulated" else spec.lab)


def simulated_stocks(space: SearchSpace, lab: LabFile) -> list[Stock]:
    """Pure and salt stocks for every solvent, with densities from the physics model."""
    salt = space.salt.canonical_smiles
    densities = {
        s.name: (
            density({s.canonical_smiles: 1.0}, salt, 0.0, 25.0),
            density({s.canonical_smiles: 1.0}, salt, lab.stock_molality, 25.0),
        )
        for s in space.solvents
    }
    return stocks_for(space, lab.stock_molality, densities, lab.stock_mass)


def simulator_oracle(spec: CampaignSpec) -> Oracle | None:
    """What the simulated lab's physics knows (true σ and its optimum); None for a real lab.

    Raises `SimulationError` for a space outside the physics, before anything moves.
    """
    if not lab_for(spec).meter.simulated:
        return None  # a real meter: nobody knows the true σ
    space = spec.space
    optimum_at, optimum = true_optimum(space)
    return Oracle(
        objective="conductivity",
        optimum=optimum,
        optimum_at=optimum_at,
        true_value=partial(true_value, space),
        model=MODEL,
    )


@dataclass
class Assembly:
    """A ready-to-run campaign and what the caller may want to look at besides."""

    campaign: Campaign
    simulator: SimulatedLab | None
    """The simulators and their bench (physical truth) when the lab is simulated, else None."""


def fault_rules(lab: LabFile) -> dict[str, list[FaultRule]]:
    """The lab file's faults per role, as the simulators take them."""
    return {
        role: [
            FaultRule(Fault(f.fault), after=f.after, probability=f.probability, times=f.times)
            for f in spec.faults
        ]
        for role, spec in lab.instruments().items()
        if spec.faults
    }


def pump_addresses(
    lab: LabFile, stocks: Sequence[Stock], sim: SimulatedLab | None
) -> dict[str, str]:
    """Stock -> VISA resource of its pump; a real pump bank must name a pump for every stock."""
    if lab.pumps.simulated:
        assert sim is not None
        return sim.pump_resources
    table = lab.pumps.address
    if not isinstance(table, dict):
        raise ConfigError("pumps.address: a table stock name -> VISA address, or 'sim'")
    missing = sorted(s.name for s in stocks if s.name not in table)
    if missing:
        raise ConfigError(
            f"pumps.address names no pump for stocks {missing}; this campaign needs "
            f"{[s.name for s in stocks]}"
        )
    return {s.name: table[s.name] for s in stocks}


def simulated_lab(lab: LabFile, spec: CampaignSpec, roles: Collection[str]) -> SimulatedLab:
    """The lab file's simulators for `roles`, on one bench and one clock, with their faults."""
    return SimulatedLab(
        simulated_stocks(spec.space, lab),
        spec.temperature,
        conductivity,
        seed=spec.seed + lab.seed,
        clock=SimClock(lab.speedup),
        roles=roles,
        faults=fault_rules(lab),
        capacity=lab.balance.limits.get("capacity", 220.0),
        syringe_volume=lab.pumps.limits.get("syringe_volume", 5.0),
        channels=int(lab.cycler.limits.get("channels", 8)) if lab.cycler else 8,
    )


@contextmanager
def assemble(
    spec: CampaignSpec,
    settings: Settings,
    campaign_id: str,
    observers: list[TrialObserver],
    oracle: Oracle | None = None,
) -> Iterator[Assembly]:
    """Wire store, planner, instruments and experiment; shut everything down on exit.

    Instruments the lab file marks 'sim' are started here as simulators on loopback (all on
    one bench and one clock); the drivers reach simulated and real instruments the same way.
    """
    lab = lab_for(spec)
    stocks = simulated_stocks(spec.space, lab)
    if not lab.balance.simulated:
        raise ConfigError(
            "balance.address: a real balance needs someone to put a fresh vial on it for each "
            "sample, and electroloop has no vial robot or manual-step pause yet; use 'sim' for "
            "campaigns (lab check works with the real balance)"
        )
    with ExitStack() as stack:
        store = stack.enter_context(CampaignStore(settings.store_path))
        planner = build_planner(spec, store)  # bad planner options fail before anything moves
        dosing = [r for r in DOSING_ROLES if lab.instruments()[r].simulated]  # balance, at least
        sim = stack.enter_context(simulated_lab(lab, spec, dosing))

        def address(role: str) -> str:
            chosen = lab.instruments()[role]
            if chosen.simulated:
                return sim.servers[role].resource_name
            assert isinstance(chosen.address, str)
            return chosen.address

        def recorded(
            name: str, instrument: str, role: str, terminations: dict[str, str]
        ) -> RecordingResource:
            opener = partial(
                open_resource, name, timeout=lab.instruments()[role].timeout, **terminations
            )
            resource = RecordingResource(ReconnectingResource(opener), instrument)
            stack.callback(resource.close)
            return resource

        balance_io = recorded(
            address("balance"), "balance", "balance", MettlerToledoBalance.TERMINATIONS
        )
        pump_io = {
            name: recorded(resource, f"pump-{name}", "pumps", SyringePump.TERMINATIONS)
            for name, resource in pump_addresses(lab, stocks, sim).items()
        }
        meter_io = recorded(
            address("meter"), "conductivity-meter", "meter", ConductivityMeter.TERMINATIONS
        )
        channels = {
            s.name: DosingChannel(
                SyringePump(pump_io[s.name]), s, SimulatedLab.INPUT_PORT, SimulatedLab.OUTPUT_PORT
            )
            for s in stocks
        }
        station = DosingStation(
            MettlerToledoBalance(balance_io, lab.balance.limits.get("capacity", 220.0)), channels
        )
        station.initialize()
        experiment = ConductivityExperiment(
            dosing=station,
            probe=ConductivityMeter(meter_io),
            vials=sim.bench,
            stocks=stocks,
            salt_molar_mass=spec.salt.molar_mass,
            sample_mass=lab.sample_mass,
            dosing_traffic=[balance_io, *pump_io.values()],
            probe_traffic=meter_io,
        )
        campaign = Campaign(campaign_id, spec, store, planner, experiment, observers, oracle)
        yield Assembly(campaign=campaign, simulator=sim)
