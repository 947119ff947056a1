"""The composition root: the one place that turns settings and a campaign into concrete objects.

Nothing else chooses between simulators and hardware. A simulated lab starts protocol-true
servers on loopback and the very same drivers reach them over TCP, exactly as they would reach
networked instruments.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from electroloop.errors import ConfigError
from electroloop.instruments.balance import MettlerToledoBalance
from electroloop.instruments.conductivity_meter import ConductivityMeter
from electroloop.instruments.dosing_station import DosingChannel, DosingStation
from electroloop.instruments.syringe_pump import SyringePump
from electroloop.instruments.transport import RecordingResource, open_resource
from electroloop.models import SearchSpace, Stock
from electroloop.orchestrator.campaign import CampaignSpec
from electroloop.orchestrator.closed_loop import Campaign, TrialObserver
from electroloop.orchestrator.experiment import ConductivityExperiment
from electroloop.orchestrator.procedures import stocks_for
from electroloop.orchestrator.progress import Oracle
from electroloop.orchestrator.store import CampaignStore
from electroloop.planners.base import Planner
from electroloop.planners.registry import resolve_planner
from electroloop.settings import Settings, SimulatedLabSpec
from electroloop.simulations.conductivity import MODEL, conductivity
from electroloop.simulations.density import density
from electroloop.simulations.optimum import true_optimum, true_value

if TYPE_CHECKING:
    from electroloop.instruments.sim.lab import SimulatedLab


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


def simulated_stocks(space: SearchSpace, lab: SimulatedLabSpec) -> list[Stock]:
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
    if spec.lab != "simulated":
        return None
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


@contextmanager
def assemble(
    spec: CampaignSpec,
    settings: Settings,
    campaign_id: str,
    observers: list[TrialObserver],
    oracle: Oracle | None = None,
) -> Iterator[Assembly]:
    """Wire store, planner, instruments and experiment; shut everything down on exit."""
    from electroloop.instruments.sim.lab import SimulatedLab  # only when a simulated lab is asked

    lab = SimulatedLabSpec(seed=spec.seed)
    stocks = simulated_stocks(spec.space, lab)
    with ExitStack() as stack:
        store = stack.enter_context(CampaignStore(settings.store_path))
        planner = build_planner(spec, store)  # bad planner options fail before anything moves
        sim = stack.enter_context(
            SimulatedLab(stocks, spec.temperature, conductivity, seed=lab.seed)
        )

        def recorded(name: str, instrument: str, terminations: dict[str, str]) -> RecordingResource:
            resource = RecordingResource(
                open_resource(name, timeout=settings.instrument_timeout, **terminations),
                instrument,
            )
            stack.callback(resource.close)
            return resource

        balance_io = recorded(sim.balance_resource, "balance", MettlerToledoBalance.TERMINATIONS)
        pump_io = {
            s.name: recorded(sim.pump_resources[s.name], f"pump-{s.name}", SyringePump.TERMINATIONS)
            for s in stocks
        }
        meter_io = recorded(
            sim.meter_resource, "conductivity-meter", ConductivityMeter.TERMINATIONS
        )
        channels = {
            s.name: DosingChannel(SyringePump(pump_io[s.name]), s, sim.INPUT_PORT, sim.OUTPUT_PORT)
            for s in stocks
        }
        station = DosingStation(MettlerToledoBalance(balance_io), channels)
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
