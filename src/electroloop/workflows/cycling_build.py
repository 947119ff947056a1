"""The lab side of a cycling campaign: the cycler, the cell line, and where cells' files go.

A simulated cycler runs as its own process (`cycler_service`): cycle-life tests outlive the
orchestrator, as on real hardware, so killing and restarting a campaign re-attaches to the same
running cells (the BioLogic cycler's stand-in, a fake of aurora-biologic's API, runs inside the
campaign's process instead). The simulated cell line fills each cell with what the dosed vial
really holds: its true conductivity (the simulated lab's physics) and the SEI growth multiplier
of its additives (`simulations.sei`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from aurora_neware import NewareAPI
from rdkit import Chem

from electroloop.clocks import WallClock
from electroloop.errors import ConfigError
from electroloop.instruments.biologic import BiologicApi, BiologicCycler, connect_biologic
from electroloop.instruments.cycler import MultichannelCycler
from electroloop.instruments.neware import NewareCycler
from electroloop.instruments.sim.biologic_fake import FakeBiologicAPI
from electroloop.instruments.sim.cell_line import fill_over_link
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.neware import fill_over_api
from electroloop.instruments.transport import MessageResource, ReconnectingResource, open_resource
from electroloop.kinds.cycling.bdf import BdfMetadata, cell_metadata, export_bdf
from electroloop.kinds.cycling.campaign import CyclingCampaign
from electroloop.kinds.cycling.cell_plots import plot_cell
from electroloop.kinds.cycling.cellpy_export import export_cell
from electroloop.kinds.cycling.loop import CellArtifacts, CellCycler, CellLine, CyclingRig
from electroloop.kinds.cycling.records import CellRecordStore
from electroloop.kinds.cycling.summary import PhaseData
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign
from electroloop.models import DosingRecord, Measurement, SearchSpace
from electroloop.orchestrator.leases import LeaseBook
from electroloop.orchestrator.store import CampaignStore
from electroloop.protocols import Clock
from electroloop.settings import InstrumentSpec, LabFile, Settings
from electroloop.simulations.cell_circuit import CellSpec
from electroloop.simulations.physics import conductivity
from electroloop.simulations.sei import ADDITIVES, COMPONENTS, sei_rate
from electroloop.workflows.cycler_service import ensure_cycler

SIMULATED_CYCLER_CURRENT = 0.1
"""A, the simulated cycler's channel range (its hardware limit; the chemistry's is lower)."""


@dataclass
class SimulatedCellLine:
    """Fills a simulated cell with a dosed electrolyte and clips it onto a channel."""

    resource: MessageResource
    space: SearchSpace
    temperature: float

    def spec_for(self, dosing: DosingRecord, capacity: float) -> CellSpec:
        """The cell the vial makes: true σ at the cell temperature and the SEI multiplier."""
        return filled_cell(self.space, self.temperature, dosing, capacity)

    def assemble(
        self, channel: int, dosing: DosingRecord, measurement: Measurement, capacity: float
    ) -> None:
        fill_over_link(self.resource, channel, self.spec_for(dosing, capacity))


def filled_cell(
    space: SearchSpace, temperature: float, dosing: DosingRecord, capacity: float
) -> CellSpec:
    """The cell a dosed vial makes: true σ at the cell temperature and the SEI multiplier."""
    dosed = dosing.as_dosed
    fractions = space.fractions_by_smiles(dosed)
    sigma = conductivity(fractions, space.salt.canonical_smiles, dosed.molality, temperature)
    return CellSpec(
        capacity=capacity,
        electrolyte_conductivity=sigma,
        temperature=temperature,
        sei_multiplier=sei_rate(fractions).multiplier,
    )


@dataclass
class FakeBiologicCellLine:
    """The simulated cell line of the in-process BioLogic fake: the cells `SimulatedCellLine`
    makes, clipped on through the fake's technician call `fill`."""

    fake: FakeBiologicAPI
    space: SearchSpace
    temperature: float

    def assemble(
        self, channel: int, dosing: DosingRecord, measurement: Measurement, capacity: float
    ) -> None:
        self.fake.fill(channel, filled_cell(self.space, self.temperature, dosing, capacity))


def check_cycling_space(spec: ElectrolyteCampaign) -> None:
    """Refuse, before anything moves, what the simulated cells' SEI rule does not cover."""
    known = {Chem.CanonSmiles(smiles) for smiles in COMPONENTS.values()} | set(COMPONENTS)
    for index, solvent in enumerate(spec.solvents):
        if solvent.canonical_smiles not in known:
            raise ConfigError(
                f"solvents[{index}] ({solvent.name}): the simulated cell's SEI rule does not "
                f"know it; allowed: {sorted(COMPONENTS)}"
            )
        effect = ADDITIVES.get(_BY_NAME.get(solvent.canonical_smiles, ""))
        if effect is not None and solvent.max_fraction > effect.max_fraction:
            raise ConfigError(
                f"solvents[{index}].max_fraction {solvent.max_fraction} ({solvent.name}); "
                f"allowed: 0..{effect.max_fraction} in the simulated cell"
            )


_BY_NAME = {Chem.CanonSmiles(smiles): name for name, smiles in COMPONENTS.items()}


def cell_artifacts(
    folder: Path, campaign_id: str, describe: Callable[[str], BdfMetadata] | None = None
) -> CellArtifacts:
    """Writes each ended cell's cellpy-style and Battery Data Format exports and plots under
    `folder/<cell id>/`; `describe`: cell id -> what its BDF sidecar says of it."""

    def write(cell_id: str, phases: Sequence[PhaseData]) -> list[Path]:
        target = folder / cell_id
        title = f"{campaign_id}\ncell {cell_id.removeprefix(campaign_id + '-')}"  # fits the plot
        files = list(export_cell(phases, target, cell_id).values())
        meta = describe(cell_id) if describe else BdfMetadata(campaign_id=campaign_id)
        files += list(export_bdf(phases, target, cell_id, meta).values())
        return files + plot_cell(phases, target, cell_id, title=title)

    return write


def describe_cell(
    store: str | Path, campaign_id: str, base: BdfMetadata, cell_id: str
) -> BdfMetadata:
    """`base` with what the campaign's log holds of the cell (formulation, channel, protocols)."""
    with CampaignStore(store) as log:
        return cell_metadata(log.state(campaign_id), cell_id, base)


CYCLER_FORMATS = {
    "electroloop-cycler": "scpi",
    "neware-bts": "neware",
    "biologic-eclab": "biologic",
}
"""Cycler driver -> the protocol format it loads (`instruments.protocol_export.TARGETS`)."""


def check_protocols(spec: CyclingCampaign, cycler: InstrumentSpec) -> None:
    """Every phase fits the chemistry's window and exports to the lab's cycler and to the cell
    twin (PyBaMM); raises naming the phase and the step, before anything moves."""
    formats = ["scpi", CYCLER_FORMATS.get(cycler.driver, "scpi"), "pybamm"]
    spec.cycling.check_protocols(list(dict.fromkeys(formats)), cycler.limits.get("max_current"))


RigCycler = tuple[CellCycler, CellLine | None, str, Clock]
"""A lab's cycler as the loop drives it: the driver, the cell line (simulated: None for a
person), the address a channel lease names, and the clock its tests run on."""


def scpi_cycler(
    spec: CyclingCampaign, lab: LabFile, settings: Settings, stack: ExitStack
) -> RigCycler:
    """The SCPI cycler (started as its own process if simulated, with its cell line)."""
    assert lab.cycler is not None
    chosen = lab.cycler
    channels = int(chosen.limits.get("channels", 8))
    if chosen.simulated:
        process = ensure_cycler(
            settings.resolved_home,
            channels=channels,
            speedup=lab.cycler_speedup,
            seed=lab.seed,
            max_current=SIMULATED_CYCLER_CURRENT,
        )
        address = process.resource
        clock: SimClock | WallClock = SimClock(lab.cycler_speedup)
    else:
        assert isinstance(chosen.address, str)
        address, clock = chosen.address, WallClock()
    opener = partial(
        open_resource, address, timeout=chosen.timeout, **MultichannelCycler.TERMINATIONS
    )
    resource = ReconnectingResource(opener)
    stack.callback(resource.close)
    cycler = MultichannelCycler(
        resource, limits=spec.cycling.limits(chosen.limits.get("max_current")), clock=clock
    )
    cells = SimulatedCellLine(resource, spec.space, spec.temperature) if chosen.simulated else None
    return cycler, cells, address, clock


@dataclass
class SimulatedNewareCellLine:
    """Fills a simulated cell and clips it onto a simulated Neware BTS channel (simfill)."""

    cycler: NewareCycler
    space: SearchSpace
    temperature: float

    def assemble(
        self, channel: int, dosing: DosingRecord, measurement: Measurement, capacity: float
    ) -> None:
        spec = filled_cell(self.space, self.temperature, dosing, capacity)
        with NewareAPI(self.cycler.host, self.cycler.port) as api:
            fill_over_api(api, self.cycler.pipeline(channel), spec)


def neware_cycler(
    spec: CyclingCampaign, lab: LabFile, settings: Settings, stack: ExitStack
) -> RigCycler:
    """A Neware BTS through aurora-neware (simulated: its own process, as the SCPI cycler);
    step files go to ``<home>/neware-steps``, which the BTS PC must be able to read. Its link
    closes with `stack`."""
    assert lab.cycler is not None
    chosen = lab.cycler
    clock: Clock = WallClock()
    if chosen.simulated:
        process = ensure_cycler(
            settings.resolved_home,
            channels=int(chosen.limits.get("channels", 8)),
            speedup=lab.cycler_speedup,
            seed=lab.seed,
            max_current=SIMULATED_CYCLER_CURRENT,
            driver="neware-bts",
        )
        address, clock = process.resource, SimClock(lab.cycler_speedup)
    else:
        assert isinstance(chosen.address, str)
        address = chosen.address
    cycler = NewareCycler(
        address,
        step_folder=settings.resolved_home / "neware-steps",
        limits=spec.cycling.limits(chosen.limits.get("max_current")),
        clock=clock,
        capacity_ah=spec.cycling.cell_capacity,
        temperature=spec.temperature,
        timeout=chosen.timeout,
    )
    stack.callback(cycler.close)
    cells = (
        SimulatedNewareCellLine(cycler, spec.space, spec.temperature) if chosen.simulated else None
    )
    return cycler, cells, f"neware-bts:{address}", clock


BIOLOGIC_LOCAL = "local"
"""The BioLogic cycler's address for EC-Lab on this PC (aurora-biologic talks to it over COM)."""


def biologic_api(chosen: InstrumentSpec, clock: Clock, seed: int) -> BiologicApi:
    """EC-Lab on this PC (address 'local', Windows), or for 'sim' the in-process fake of
    aurora-biologic's API (its channels run the SCPI simulator's cell engine)."""
    if chosen.simulated:
        channels = int(chosen.limits.get("channels", 8))
        return FakeBiologicAPI(
            channels, clock=clock, seed=seed, max_current=SIMULATED_CYCLER_CURRENT
        )
    if chosen.address != BIOLOGIC_LOCAL:
        raise ConfigError(
            f"cycler.address is {chosen.address!r} for driver 'biologic-eclab'; allowed: "
            f"{BIOLOGIC_LOCAL!r} (EC-Lab on this Windows PC) or 'sim' (a fake for dry runs)"
        )
    return connect_biologic()


def biologic_cycler(
    spec: CyclingCampaign, lab: LabFile, settings: Settings, campaign_id: str
) -> RigCycler:
    """A BioLogic cycler through aurora-biologic; simulated, the fake lives in this process
    (a restarted campaign finds its channels stopped) and keeps its files with the campaign."""
    assert lab.cycler is not None
    chosen = lab.cycler
    clock: Clock = SimClock(lab.cycler_speedup) if chosen.simulated else WallClock()
    api = biologic_api(chosen, clock, lab.seed)
    folder = settings.resolved_home / (campaign_id if chosen.simulated else "") / "eclab"
    cycler = BiologicCycler(
        api,
        folder=folder,
        capacity=spec.cycling.cell_capacity,
        limits=spec.cycling.limits(chosen.limits.get("max_current")),
        clock=clock,
    )
    cells: CellLine | None = None
    if isinstance(api, FakeBiologicAPI):
        cells = FakeBiologicCellLine(api, spec.space, spec.temperature)
    return cycler, cells, f"biologic-eclab:{chosen.address}", clock


def check_cycler(spec: CyclingCampaign, lab: LabFile) -> InstrumentSpec:
    """The lab's cycler, once the campaign's protocols fit it and the twin (and, simulated,
    its cell line the campaign's space): `assemble` calls this before anything moves."""
    if lab.cycler is None:
        raise ConfigError(f"lab {lab.name!r} has no [cycler]; a cycling campaign needs one")
    check_protocols(spec, lab.cycler)
    if lab.cycler.simulated:
        check_cycling_space(spec)
    return lab.cycler


def cycling_rig(
    spec: CyclingCampaign, lab: LabFile, settings: Settings, campaign_id: str, stack: ExitStack
) -> CyclingRig:
    """The cycler (started as its own process if simulated), cell line, record store, leases;
    `check_cycler` has passed."""
    cycling = spec.cycling
    chosen = lab.cycler
    assert chosen is not None  # `assemble` ran `check_cycler` before anything moved
    if chosen.driver == "biologic-eclab":
        cycler, cells, address, clock = biologic_cycler(spec, lab, settings, campaign_id)
    elif chosen.driver == "neware-bts":
        cycler, cells, address, clock = neware_cycler(spec, lab, settings, stack)
    else:
        cycler, cells, address, clock = scpi_cycler(spec, lab, settings, stack)
    records = stack.enter_context(CellRecordStore(settings.store))
    leases = stack.enter_context(LeaseBook(settings.store))
    return CyclingRig(
        cycler=cycler,
        cycler_address=address,
        cells=cells,
        records=records,
        leases=leases,
        clock=clock,
        artifacts=cell_artifacts(
            settings.resolved_home / campaign_id / "cells",
            campaign_id,
            partial(
                describe_cell,
                settings.store,
                campaign_id,
                BdfMetadata(
                    campaign_id=campaign_id,
                    chemistry=cycling.chemistry,
                    nominal_capacity=cycling.cell_capacity,
                    cycler_driver=chosen.driver,
                    cycler_address=str(address),
                ),
            ),
        ),
        confirm_assembly=not chosen.simulated,
    )
