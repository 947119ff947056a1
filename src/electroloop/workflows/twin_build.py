"""The composition root of kinds whose trials run on a physics twin, not a bench.

An electrode campaign needs no bench and no lease: its experiment is the twin
(`kinds.electrode.experiment`), its results are cached by content under
``<home>/cache/electrode`` (shared by every campaign, so no cube or solve is ever computed
twice) and each trial's pictures and metrics go to ``<home>/<campaign>/twin``. With a
`[calibration]` plan, the dry-run lab's built cells and cycler (`simulated_built_cells`) give
the measured curves the twin is recalibrated against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from electroloop import __version__
from electroloop.errors import ConfigError
from electroloop.instruments.cycler import ChannelLimits, MultichannelCycler
from electroloop.instruments.sim.built_cell import BuiltCell, HiddenOffsets
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.cycler import CyclerServer
from electroloop.instruments.transport import open_resource
from electroloop.kinds.electrode.campaign import ElectrodeCampaign
from electroloop.kinds.electrode.evaluation import TWIN_VERSION, ContentCache
from electroloop.kinds.electrode.experiment import CellMeasurer, ElectrodeTwinExperiment
from electroloop.kinds.electrode.recalibration import measure_built_cells
from electroloop.kinds.registry import KINDS, design_types
from electroloop.orchestrator.closed_loop import Campaign, TrialObserver
from electroloop.orchestrator.store import CampaignStore
from electroloop.settings import Settings
from electroloop.simulations.calibration import DischargeCurve
from electroloop.simulations.electrode_cell import ElectrodeProperties, parameter_values
from electroloop.workflows.compute import cluster

BUILT_CELL_SPEEDUP = 1e5
"""How much faster than real time the simulated cycler runs the built cells' discharges."""


def simulated_built_cells(
    offsets: HiddenOffsets = HiddenOffsets(),  # noqa: B008  a frozen dataclass
    seed: int = 0,
) -> CellMeasurer:
    """The dry-run lab's cell line and cycler: cells built with an electrode carry `offsets`
    the twin does not know (`sim.built_cell`), sit one per channel of the SCPI cycler simulator
    on loopback, and are discharged through the `MultichannelCycler` driver
    (`recalibration.measure_built_cells`)."""

    def measure(
        props: ElectrodeProperties, c_rates: Sequence[float]
    ) -> tuple[list[DischargeCurve], list[str]]:
        capacity = float(parameter_values(props)["Nominal cell capacity [A.h]"])
        current = 1.2 * max(c_rates) * capacity
        clock = SimClock(speedup=BUILT_CELL_SPEEDUP)
        with CyclerServer(len(c_rates), clock=clock, max_current=1.2 * current, seed=seed) as sim:
            for channel in range(1, len(c_rates) + 1):
                sim.connect(channel, BuiltCell(props, offsets))
            resource = open_resource(
                sim.resource_name, timeout=10.0, **MultichannelCycler.TERMINATIONS
            )
            driver = MultichannelCycler(
                resource, limits=ChannelLimits(2.5, 4.2, max_current=current), clock=clock
            )
            try:
                curves = measure_built_cells(driver, props, c_rates, temperature_c=25.0)
            finally:
                driver.close()
            names = [f"{sim.serial}/ch{channel}" for channel in range(1, len(c_rates) + 1)]
        return curves, names

    return measure


def twin_cache(settings: Settings) -> ContentCache:
    """The content cache every electrode campaign of this home shares."""
    return ContentCache(settings.resolved_home / "cache" / "electrode")


@contextmanager
def assemble_twin(
    spec: ElectrodeCampaign,
    settings: Settings,
    campaign_id: str,
    observers: list[TrialObserver],
    make_planner: Callable[..., Any],
) -> Iterator[Campaign]:
    """Store, planner (`make_planner`: `build.build_planner`) and twin experiment, wired into
    the engine's `Campaign`; a campaign already in the store continues from its last snapshot."""
    if spec.calibration is not None and spec.lab != "simulated":
        raise ConfigError(
            f"calibration with lab {spec.lab!r}: built cells are measured only in the "
            "simulated lab so far; allowed: lab = 'simulated', or no [calibration]"
        )
    with (
        CampaignStore(settings.store, designs=design_types()) as store,
        cluster(settings) as executor,
    ):
        earlier = store.state(campaign_id) if campaign_id in store.campaign_ids() else None
        planner, model = make_planner(spec, store, earlier)
        experiment = ElectrodeTwinExperiment(
            spec,
            twin_cache(settings),
            settings.resolved_home / campaign_id / "twin",
            simulated_built_cells(seed=spec.seed) if spec.calibration is not None else None,
            executor,
        )
        kind = KINDS[spec.kind]
        versions = {
            "electroloop": __version__,
            "kind": f"{kind.name}/{kind.version}",
            "planner": model,
            "twin": TWIN_VERSION,
        }
        yield Campaign(campaign_id, spec, store, planner, experiment, observers, versions=versions)
