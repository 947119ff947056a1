"""The composition root: the one place that turns settings and a campaign into concrete objects.

Nothing else chooses between simulators and hardware. A simulated lab starts protocol-true
servers on loopback and the very same drivers reach them over TCP, exactly as they would reach
networked instruments.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from electroloop import __version__
from electroloop.errors import ConfigError, InstrumentError, PlannerError
from electroloop.instruments.balance import MettlerToledoBalance
from electroloop.instruments.biologic import BiologicCycler
from electroloop.instruments.conductivity_meter import ConductivityMeter
from electroloop.instruments.cycler import MultichannelCycler
from electroloop.instruments.deck import BenchDeck, MTSICSScale, slot_number
from electroloop.instruments.dosing_station import DosingChannel, DosingStation
from electroloop.instruments.neware import NewareCycler
from electroloop.instruments.orion_meter import OrionStarA215
from electroloop.instruments.precise_flex import (
    GripSettings,
    PreciseFlexArm,
    arm_address,
    require_taught,
)
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.lab import DOSING_ROLES, SimulatedLab
from electroloop.instruments.sim.server import Fault, FaultRule
from electroloop.instruments.syringe_pump import SyringePump
from electroloop.instruments.transport import (
    ReconnectingResource,
    RecordingResource,
    open_resource,
)
from electroloop.kinds.cycling.campaign import CyclingCampaign
from electroloop.kinds.cycling.loop import CyclingRig
from electroloop.kinds.electrode.campaign import ElectrodeCampaign
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign
from electroloop.kinds.electrolyte.check_standard import KCL_1413, STANDARD_LABEL, STANDARDS
from electroloop.kinds.electrolyte.experiment import ConductivityExperiment
from electroloop.kinds.electrolyte.recipes import stocks_for
from electroloop.kinds.registry import KINDS, design_types
from electroloop.models import SearchSpace, Stock
from electroloop.orchestrator.closed_loop import (
    Campaign,
    ManualSteps,
    TrialObserver,
    checked_batch,
)
from electroloop.orchestrator.events import CampaignState
from electroloop.orchestrator.leases import Lease
from electroloop.orchestrator.progress import Oracle
from electroloop.orchestrator.rack import SharedRack, own_rack
from electroloop.orchestrator.samples import Technician
from electroloop.orchestrator.step_leases import DOSE, MEASURE, LeaseHook, StepLeases, unleased
from electroloop.orchestrator.store import CampaignStore
from electroloop.planners.registry import BUILTIN_PLANNERS, planner_version, resolve_planner
from electroloop.planners.surrogate_guided import SurrogateGuided
from electroloop.planners.transfer import RelatedTask
from electroloop.protocols import Planner, SampleHandler
from electroloop.samples import RACK_COLUMNS, RACK_ROWS, rack_slot, vial_id
from electroloop.settings import LabFile, Settings, load_lab
from electroloop.simulations.density import density
from electroloop.simulations.optimum import true_optimum, true_value
from electroloop.simulations.physics import MODEL, check_space, conductivity
from electroloop.surrogates.surrogate import Surrogate
from electroloop.workflows import notifications
from electroloop.workflows.cycling_build import check_cycler, cycling_rig
from electroloop.workflows.surrogate_training import mixture_scorer
from electroloop.workflows.twin_build import assemble_twin


def build_planner(
    spec: ElectrolyteCampaign,
    store: CampaignStore,
    resume: CampaignState | None = None,
    surrogate: Surrogate | None = None,
) -> tuple[Planner, str]:
    """The planner the campaign names, seeded, warm-started and time-boxed as it asks, behind
    the campaign's surrogate's first picks if it has one; for a campaign being resumed,
    restored from the last snapshot in its log. With it, its model version
    (`planner_version` of its class and of the settings below)."""
    planner_class = resolve_planner(spec.planner)
    accepted = inspect.signature(planner_class).parameters
    settings: dict[str, Any] = {"warm_start": list(spec.warm_start)} if spec.warm_start else {}
    learn = getattr(spec, "learn_from", None)
    if learn is not None:
        settings["learn_from"] = learn.model_dump(mode="json")
    if spec.ask_timeout is not None:
        settings["ask_timeout"] = spec.ask_timeout
    if isinstance(spec, CyclingCampaign) and "initialization_budget" in accepted:
        # Cells take days: the first batch is the whole initial design, and later batches come
        # from the model fitted on the first cells' interim results.
        settings["initialization_budget"] = spec.batch_size
    use = getattr(spec, "surrogate", None)
    surrogate_use = use.model_dump(mode="json") if use else None
    version = planner_version(
        planner_class, {**settings, "seed": spec.seed, "surrogate": surrogate_use}
    )
    if resume is not None and resume.planner_state is not None:
        state = resume.planner_state
        if state.get("planner") == "surrogate-guided":
            return SurrogateGuided.restore(state, planner_class), version
        restored: Planner = planner_class.from_state(state)
        return restored, version
    if learn is not None and "related" not in accepted:
        raise ConfigError(
            f"learn_from: planner {spec.planner!r} takes no related tasks; allowed: planner = "
            "'transfer' (or leave planner out), or remove learn_from"
        )
    refused = sorted(name for name in settings if name not in accepted and name != "learn_from")
    if refused:
        raise ConfigError(
            f"planner {spec.planner!r} does not accept {refused}; allowed: a planner whose "
            "constructor takes them (e.g. 'ax'), or remove them from the campaign"
        )
    options = {name: value for name, value in settings.items() if name != "learn_from"}
    if learn is not None:
        options["related"] = related_tasks(spec, store)
    if spec.warm_start:
        options["warm_start"] = [
            observation
            for campaign_id in spec.warm_start
            for observation in store.state(campaign_id).observations.values()
        ]
    planner: Planner = planner_class(spec.space, spec.goal, spec.seed, **options)
    use = getattr(spec, "surrogate", None)  # kinds without mixtures have no surrogate
    if use is not None and use.picks and surrogate is not None:
        score = mixture_scorer(surrogate, spec.space)
        return SurrogateGuided(planner, score, surrogate.label, use.picks, kappa=use.kappa), version
    return planner, version


def related_tasks(spec: ElectrolyteCampaign, store: CampaignStore) -> list[RelatedTask]:
    """The campaign's `learn_from` as related tasks: each earlier campaign's observations of
    the primary metric, and the CALiSol-23 conductivity model sampled over the campaign's space.
    `CampaignError` naming an earlier campaign the store does not hold."""
    learn = getattr(spec, "learn_from", None)
    if learn is None:
        return []
    metric = spec.goal.primary.name
    tasks = [
        RelatedTask.from_observations(
            f"campaign {cid}", list(store.state(cid).observations.values()), metric
        )
        for cid in learn.campaigns
    ]
    if learn.model == "calisol-23":
        space = spec.space
        tasks.append(
            RelatedTask.from_model(
                "CALiSol-23 conductivity model",
                lambda design: true_value(space, design),  # type: ignore[arg-type]
                space,
                seed=spec.seed,
            )
        )
    return tasks


def provenance(spec: ElectrolyteCampaign, planner: str, drivers: Sequence[type]) -> dict[str, str]:
    """What produces the campaign's data, by version: electroloop, the campaign's kind, the
    planner's model (`build_planner`) and each driver's reply parsing."""
    kind = KINDS[spec.kind]
    versions = {
        "electroloop": __version__,
        "kind": f"{kind.name}/{kind.version}",
        "planner": planner,
    }
    for driver in drivers:
        versions[f"parser.{driver.__name__}"] = str(driver.PARSER_VERSION)  # type: ignore[attr-defined]
    return versions


def lab_for(spec: ElectrolyteCampaign) -> LabFile:
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
    return stocks_for(space, lab.stock_molality, densities, lab.stock_mass, lab.stock_lots)


def simulator_oracle(spec: ElectrolyteCampaign) -> Oracle | None:
    """What the simulated lab's physics knows (true σ and its optimum); None for a real lab.

    Raises `SimulationError` for a space outside the physics, before anything moves.
    """
    if isinstance(spec, ElectrodeCampaign) or not lab_for(spec).meter.simulated:
        return None  # a twin's optimum is not known in closed form; a real meter's neither
    if isinstance(spec, CyclingCampaign):
        check_space(spec.space)
        return None  # cells: their optimum has no closed form to compare against
    space = spec.space
    optimum_at, optimum = true_optimum(space)
    return Oracle(
        objective="conductivity",
        optimum=optimum,
        optimum_at=optimum_at,
        true_value=partial(true_value, space),
        model=MODEL,
    )


def preflight(spec: ElectrolyteCampaign) -> None:
    """What can be checked of a campaign before anything starts (no Prefect, no lease, no
    simulator): its lab file reads and validates, a simulated meter's physics covers its
    space, and a plug-in planner's first batch is one the engine can run. Raises
    `ConfigError`, `SimulationError` or `PlannerError` naming the problem."""
    if not isinstance(spec, ElectrodeCampaign):  # the twin needs no lab
        check_standard_covers(spec, lab_for(spec))
        simulator_oracle(spec)
    if spec.planner not in BUILTIN_PLANNERS:
        probe_planner(spec)


def check_standard_covers(spec: ElectrolyteCampaign, lab: LabFile) -> None:
    """ConfigError unless the meter's check standard is certified at the campaign's
    temperature (or the lab runs without checks)."""
    if lab.check_standard.every:
        KCL_1413.conductivity(spec.temperature)


def probe_planner(spec: ElectrolyteCampaign) -> None:
    """Ask a throwaway instance of the campaign's planner for its first batch and check it
    (`checked_batch`: count, ids, space): a plug-in that raises, proposes nothing, too much,
    duplicates or points outside the space is refused before anything starts. The campaign's
    own planner is built afresh later, so the probe changes nothing it will propose."""
    planner_class = resolve_planner(spec.planner)
    try:
        planner = planner_class(spec.space, spec.goal, spec.seed)
    except Exception as exc:  # a plug-in's own error, named, instead of its traceback
        failure = f"{type(exc).__name__}: {exc}"
        raise PlannerError(f"planner {spec.planner!r} could not be built: {failure}") from exc
    checked_batch(planner, spec.batch_size, spec.space.check)


def stock_taken(state: CampaignState) -> dict[str, float]:
    """Stock -> grams its bottle lost so far by the log: weighed doses less refills.

    A dosing cut off by a crash took an unknown amount; it is not counted (the station's
    bookkeeping is then slightly optimistic, and its reserve covers that).
    """
    taken: dict[str, float] = {}
    for record in state.dosings.values():
        for stock, mass in record.dosed_masses.items():
            taken[stock] = taken.get(stock, 0.0) + mass
    for step in state.manual_steps:
        if "stock" in step.response and "added_mass" in step.response:
            stock = str(step.response["stock"])
            taken[stock] = taken.get(stock, 0.0) - float(step.response["added_mass"])
    return taken


@dataclass
class Assembly:
    """A ready-to-run campaign and what the caller may want to look at besides."""

    campaign: Campaign
    simulator: SimulatedLab | None
    """The simulators and their bench (physical truth) when the lab is simulated, else None."""
    reconciled: list[str] = field(default_factory=list)
    """What instruments a dead holder left behind reported, one line each."""
    cycling: CyclingRig | None = None
    """The cycler side of a cycling campaign (None for a conductivity campaign)."""


def reconcile(left: Mapping[str, Lease], station: DosingStation) -> list[str]:
    """Ask each instrument a dead holder left (role -> its lease) what state it is in.

    A pump still moving is let finish (its liquid goes where the dead flow sent it); the
    station then homes every pump and presents a fresh vial before the next dose.
    """
    notes: list[str] = []
    for name, channel in station.channels.items():
        lease = left.get(f"pump-{name}")
        if lease is None:
            continue
        pump = channel.pump
        status = pump.status()
        state = "moving" if not status.ready else "idle"
        if not status.ready:
            try:
                pump.wait_until_ready(timeout=60.0)
            except InstrumentError as exc:  # initialising it next clears what it reports
                state = f"moving, then {exc}"
        code = f" (status code {status.error})" if status.error else ""
        notes.append(
            f"pump {name}: {lease.describe()} left it {state}{code} at {pump.position():.3f} mL;"
            " homed"
        )
    if "balance" in left:
        load = station.balance.weight(stable=False)
        notes.append(f"balance: reads {load:.4f} g, {left['balance'].describe()}'s vial")
    if "meter" in left:
        notes.append(f"meter: {left['meter'].describe()} left it; nothing to undo")
    return notes


HAND_FILLED_SLOTS = 4 * len(RACK_ROWS) * RACK_COLUMNS
"""Rack slots of a shared bench whose vials a technician carries: four racks of 24."""


def shared_rack(
    lab: LabFile, settings: Settings, balance: str, stack: ExitStack
) -> SharedRack | None:
    """The lab-wide rack of a bench reached by address (campaigns may share it), named by its
    balance; None for simulators this campaign started for itself (its vial n, slot n). An
    arm's slots are its taught rack places, in order."""
    if lab.balance.simulated:
        return None
    slots = HAND_FILLED_SLOTS
    if lab.arm is not None:
        require_taught(lab.arm.positions, [rack_slot(1)])
        slots = next(n for n in range(1, 10_000) if rack_slot(n) not in lab.arm.positions) - 1
    rack = SharedRack(settings.store, balance, slots)
    stack.callback(rack.close)
    return rack


def sample_handler(
    lab: LabFile,
    sim: SimulatedLab,
    manual: ManualSteps | None,
    arm: str | None = None,
    balance: MettlerToledoBalance | None = None,
    shared: bool = False,
) -> SampleHandler:
    """Who moves the vials: the lab's arm (at address `arm`; its deck weighs with `balance`)
    if it has one, else the simulated bench when it holds the balance, else a technician
    answering manual steps. An arm campaigns `shared` stays powered when this one ends."""
    if lab.arm is not None:
        assert arm is not None and balance is not None
        host, port = arm_address(arm)
        return PreciseFlexArm(
            host,
            port,
            lab.arm.positions,
            grip=GripSettings.from_limits(lab.arm.limits),
            deck=BenchDeck.for_places(MTSICSScale(balance), lab.arm.positions),
            timeout=lab.arm.timeout,
            power_down=not shared,
        )
    if lab.balance.simulated:
        return sim.bench
    assert manual is not None  # `assemble` refuses a real balance with no one to ask
    return Technician(manual)


def fault_rules(lab: LabFile) -> dict[str, list[FaultRule]]:
    """The lab file's faults per role, as the simulators take them."""
    return {
        role: [
            FaultRule(Fault(f.fault), after=f.after, probability=f.probability, times=f.cap)
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


CYCLERS: dict[str, type] = {
    "electroloop-cycler": MultichannelCycler,
    "neware-bts": NewareCycler,
    "biologic-eclab": BiologicCycler,
}
"""Cycler driver name -> the class a campaign's provenance names."""
METERS: dict[str, type[ConductivityMeter] | type[OrionStarA215]] = {
    "scpi-conductivity": ConductivityMeter,
    "orion-a215": OrionStarA215,
}
"""The meter driver a lab file names -> its class (each has `TERMINATIONS` and satisfies
`ConductivityProbe`)."""


def simulated_lab(lab: LabFile, spec: ElectrolyteCampaign, roles: Collection[str]) -> SimulatedLab:
    """The lab file's simulators for `roles`, on one bench and one clock, with their faults.

    A Neware or BioLogic cycler is not among them: the simulated BTS runs as its own process
    (`cycler_service`) and the BioLogic fake inside the process that drives it."""
    if lab.cycler is not None and lab.cycler.driver != "electroloop-cycler":
        roles = [role for role in roles if role != "cycler"]
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
        meter_driver=lab.meter.driver,
        arm_positions=lab.arm.positions if lab.arm is not None else None,
    )


def _labelled(campaign_id: str, slot: str) -> str | None:
    """The label on the vial a person stood in rack slot `slot` for the campaign."""
    number = slot_number(slot)
    return vial_id(campaign_id, number) if number is not None else None


def _restore_vials(sim: SimulatedLab, state: CampaignState) -> None:
    """A resumed campaign's simulated bench: every vial where the log has it, holding what
    was weighed into it (simulators lived in the process that died)."""
    for vial, track in state.vials.items():
        dosing = state.dosings.get(track.candidate_id)
        masses = dosing.dosed_masses if dosing is not None and dosing.vial == vial else {}
        sim.bench.find(vial, track.place, masses)


@contextmanager
def assemble(
    spec: ElectrolyteCampaign,
    settings: Settings,
    campaign_id: str,
    observers: list[TrialObserver],
    oracle: Oracle | None = None,
    manual: ManualSteps | None = None,
    lease: LeaseHook | None = None,
    surrogate: Surrogate | None = None,
) -> Iterator[Assembly]:
    """Wire store, planner, instruments and experiment; shut everything down on exit.

    Instruments the lab file marks 'sim' are started here as simulators on loopback (all on
    one bench and one clock); the drivers reach simulated and real instruments the same way.
    A campaign already in the store is wired as it stood: planner from its last snapshot,
    stock bottles less what its log says was taken. `lease` holds instruments by address: the
    whole bench once before anything moves, then each step of a trial its own (`StepLeases`);
    instruments whose lease it took over from a dead holder are reconciled with what they
    report (a pump left moving finishes and is homed).
    """
    notifications.install()  # the campaign's alerts become Prefect events where Prefect runs
    if isinstance(spec, ElectrodeCampaign):
        with assemble_twin(spec, settings, campaign_id, observers, build_planner) as campaign:
            yield Assembly(campaign=campaign, simulator=None)
        return
    lab = lab_for(spec)
    stocks = simulated_stocks(spec.space, lab)
    check_standard_covers(spec, lab)
    if isinstance(spec, CyclingCampaign):
        check_cycler(spec, lab)  # protocols the lab's cycler or the twin cannot run
    if not lab.balance.simulated and lab.arm is None and manual is None:
        raise ConfigError(
            "balance.address: with a real balance a technician moves the vials, and this run "
            "has no one to ask (run the campaign as a flow: `electroloop run`), or use 'sim'"
        )
    with ExitStack() as stack:
        store = stack.enter_context(CampaignStore(settings.store, designs=design_types()))
        earlier = store.state(campaign_id) if campaign_id in store.campaign_ids() else None
        planner, model = build_planner(spec, store, earlier, surrogate)  # fails before moving
        taken = stock_taken(earlier) if earlier is not None else {}
        dosing = [r for r in (*DOSING_ROLES, "arm") if r in lab.instruments()]
        dosing = [r for r in dosing if lab.instruments()[r].simulated]
        sim = stack.enter_context(simulated_lab(lab, spec, dosing))
        for stock, mass in taken.items():
            sim.bench.take_from_bottle(stock, mass)

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

        pumps = pump_addresses(lab, stocks, sim)
        addresses = {
            "balance": address("balance"),
            "meter": address("meter"),
            **{f"pump-{name}": resource for name, resource in pumps.items()},
            **({"arm": address("arm")} if lab.arm is not None else {}),
        }
        if lab.arm is not None:
            GripSettings.from_limits(lab.arm.limits)
        rack = shared_rack(lab, settings, addresses["balance"], stack)
        if lab.arm is not None and rack is None:
            require_taught(lab.arm.positions, [rack_slot(n) for n in range(1, spec.budget + 1)])
        if sim.arm is not None:
            sim.arm.rack_labels = partial(_labelled, campaign_id)
            if earlier is not None:
                _restore_vials(sim, earlier)
        hold = lease or unleased
        # Before anything moves, the whole bench once: reconcile what a dead holder left, home
        # the pumps and the arm; then each step of a trial holds only its own instruments.
        setup = stack.enter_context(ExitStack())
        previous = dict(setup.enter_context(hold(list(addresses.values()))))
        balance_io = recorded(
            addresses["balance"], "balance", "balance", MettlerToledoBalance.TERMINATIONS
        )
        pump_io = {
            name: recorded(resource, f"pump-{name}", "pumps", SyringePump.TERMINATIONS)
            for name, resource in pumps.items()
        }
        meter_driver = METERS[lab.meter.driver]
        meter_io = recorded(
            addresses["meter"], "conductivity-meter", "meter", meter_driver.TERMINATIONS
        )
        move_timeout = lab.pumps.limits.get("move_timeout", 30.0)  # s a move may take
        channels = {
            s.name: DosingChannel(
                SyringePump(pump_io[s.name], move_timeout=move_timeout),
                s,
                SimulatedLab.INPUT_PORT,
                SimulatedLab.OUTPUT_PORT,
            )
            for s in stocks
        }
        station = DosingStation(
            MettlerToledoBalance(balance_io, lab.balance.limits.get("capacity", 220.0)),
            channels,
            taken=taken,
        )
        notes = reconcile(
            {role: previous[a] for role, a in addresses.items() if a in previous}, station
        )
        station.initialize()
        handler = sample_handler(
            lab, sim, manual, addresses.get("arm"), station.balance, shared=rack is not None
        )
        if isinstance(handler, PreciseFlexArm):
            stack.callback(handler.close)
        setup.close()
        if handler is sim.bench or (sim.arm is not None and lab.meter.simulated):
            sim.bench.add_standard(STANDARD_LABEL, STANDARDS, KCL_1413.conductivity)
        arm = [addresses["arm"]] if "arm" in addresses else []

        def take_over(left: Mapping[str, Lease]) -> None:
            roles = {role: left[a] for role, a in addresses.items() if a in left}
            for note in reconcile(roles, station):
                print(f"reconciled {note}")

        steps = StepLeases(
            hold,
            {
                DOSE: [addresses["balance"], *pumps.values(), *arm],
                MEASURE: [addresses["meter"], *arm],
            },
            on_takeover=take_over,
        )
        experiment = ConductivityExperiment(
            space=spec.space,
            dosing=station,
            probe=meter_driver(meter_io),
            samples=handler,
            stocks=stocks,
            salt_molar_mass=spec.salt.molar_mass,
            sample_mass=lab.sample_mass,
            dosing_traffic=[balance_io, *pump_io.values()],
            probe_traffic=meter_io,
            bottles=sim.bench if lab.pumps.simulated else None,
            bottle_capacity=lab.stock_mass,
            check_standard=lab.check_standard,
            leases=steps,
            rack=rack or own_rack,
            park_between_steps=rack is not None,
        )
        drivers: list[type] = [MettlerToledoBalance, SyringePump, meter_driver]
        if isinstance(spec, CyclingCampaign) and lab.cycler is not None:
            drivers.append(CYCLERS[lab.cycler.driver])
        campaign = Campaign(
            campaign_id,
            spec,
            store,
            planner,
            experiment,
            observers,
            oracle,
            manual=manual,
            versions=provenance(spec, model, drivers),
        )
        rig = None
        if isinstance(spec, CyclingCampaign):
            rig = cycling_rig(spec, lab, settings, campaign_id, stack)
        yield Assembly(campaign=campaign, simulator=sim, reconciled=notes, cycling=rig)
