"""The composition root of kinds whose trials run on a physics twin, not a bench.

An electrode campaign needs no lab, no lease and no simulator: its experiment is the twin
(`kinds.electrode.experiment`), its results are cached by content under
``<home>/cache/electrode`` (shared by every campaign, so no cube or solve is ever computed
twice) and each trial's pictures and metrics go to ``<home>/<campaign>/twin``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from electroloop import __version__
from electroloop.kinds.electrode.campaign import ElectrodeCampaign
from electroloop.kinds.electrode.evaluation import TWIN_VERSION, ContentCache
from electroloop.kinds.electrode.experiment import ElectrodeTwinExperiment
from electroloop.kinds.registry import KINDS, design_types
from electroloop.orchestrator.closed_loop import Campaign, TrialObserver
from electroloop.orchestrator.store import CampaignStore
from electroloop.settings import Settings


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
    with CampaignStore(settings.store_path, designs=design_types()) as store:
        earlier = store.state(campaign_id) if campaign_id in store.campaign_ids() else None
        planner, model = make_planner(spec, store, earlier)
        experiment = ElectrodeTwinExperiment(
            spec, twin_cache(settings), settings.resolved_home / campaign_id / "twin"
        )
        kind = KINDS[spec.kind]
        versions = {
            "electroloop": __version__,
            "kind": f"{kind.name}/{kind.version}",
            "planner": model,
            "twin": TWIN_VERSION,
        }
        yield Campaign(campaign_id, spec, store, planner, experiment, observers, versions=versions)
