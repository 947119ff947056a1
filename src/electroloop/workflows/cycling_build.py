"""The lab side of a cycling campaign: the cycler, the cell line, and where cells' files go.

A simulated cycler runs as its own process (`cycler_service`): cycle-life tests outlive the
orchestrator, as on real hardware, so killing and restarting a campaign re-attaches to the same
running cells. The simulated cell line fills each cell with what the dosed vial really holds:
its true conductivity (the simulated lab's physics) and the SEI growth multiplier of its
additives (`simulations.sei`).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from rdkit import Chem

from electroloop.clocks import WallClock
from electroloop.errors import ConfigError
from electroloop.instruments.cycler import MultichannelCycler
from electroloop.instruments.sim.cell_line import fill_over_link
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.transport import MessageResource, ReconnectingResource, open_resource
from electroloop.kinds.cycling.campaign import CyclingCampaign
from electroloop.kinds.cycling.cell_plots import plot_cell
from electroloop.kinds.cycling.cellpy_export import export_cell
from electroloop.kinds.cycling.loop import CellArtifacts, CyclingRig
from electroloop.kinds.cycling.records import CellRecordStore
from electroloop.kinds.cycling.summary import PhaseData
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign
from electroloop.models import DosingRecord, Measurement, SearchSpace
from electroloop.orchestrator.leases import LeaseBook
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
        dosed = dosing.as_dosed
        fractions = self.space.fractions_by_smiles(dosed)
        sigma = conductivity(
            fractions, self.space.salt.canonical_smiles, dosed.molality, self.temperature
        )
        return CellSpec(
            capacity=capacity,
            electrolyte_conductivity=sigma,
            temperature=self.temperature,
            sei_multiplier=sei_rate(fractions).multiplier,
        )

    def assemble(
        self, channel: int, dosing: DosingRecord, measurement: Measurement, capacity: float
    ) -> None:
        fill_over_link(self.resource, channel, self.spec_for(dosing, capacity))


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


def cell_artifacts(folder: Path, campaign_id: str) -> CellArtifacts:
    """Writes each ended cell's cellpy-style exports and plots under `folder/<cell id>/`."""

    def write(cell_id: str, phases: Sequence[PhaseData]) -> list[Path]:
        target = folder / cell_id
        title = f"{campaign_id}\ncell {cell_id.removeprefix(campaign_id + '-')}"  # fits the plot
        files = list(export_cell(phases, target, cell_id).values())
        return files + plot_cell(phases, target, cell_id, title=title)

    return write


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


def cycling_rig(
    spec: CyclingCampaign, lab: LabFile, settings: Settings, campaign_id: str, stack: ExitStack
) -> CyclingRig:
    """The cycler (started as its own process if simulated), cell line, record store, leases."""
    cycling = spec.cycling
    if lab.cycler is None:
        raise ConfigError(f"lab {lab.name!r} has no [cycler]; a cycling campaign needs one")
    chosen = lab.cycler
    check_protocols(spec, chosen)
    channels = int(chosen.limits.get("channels", 8))
    if chosen.simulated:
        check_cycling_space(spec)
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
        resource, limits=cycling.limits(chosen.limits.get("max_current")), clock=clock
    )
    records = stack.enter_context(CellRecordStore(settings.store_path))
    leases = stack.enter_context(LeaseBook(settings.store_path))
    cells = SimulatedCellLine(resource, spec.space, spec.temperature) if chosen.simulated else None
    return CyclingRig(
        cycler=cycler,
        cycler_address=address,
        cells=cells,
        records=records,
        leases=leases,
        clock=clock,
        artifacts=cell_artifacts(settings.resolved_home / campaign_id / "cells", campaign_id),
        confirm_assembly=not chosen.simulated,
    )
