"""A campaign that uses a registered surrogate: to choose which solvents to search, and to make
its first proposals (`planners.surrogate_guided`).

Choosing solvents is a discrete pre-screen: for every combination of `choose` of the campaign's
solvents, the surrogate scores a Sobol' pool of that sub-space and the combination whose best
point has the highest upper confidence bound wins. The ranking, with the model name and version
that produced it, goes into the event log (`LibraryScreened`).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from electroloop.errors import ConfigError
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign
from electroloop.kinds.registry import parse_campaign
from electroloop.planners.sobol import SobolPlanner
from electroloop.settings import Settings
from electroloop.surrogates.surrogate import Surrogate
from electroloop.workflows.surrogate_registry import load
from electroloop.workflows.surrogate_training import mixture_scorer


def campaign_surrogate(spec: ElectrolyteCampaign, settings: Settings) -> Surrogate | None:
    """The registered surrogate the campaign names (None if it names none), checked to predict
    the campaign's primary objective before anything moves."""
    use = getattr(spec, "surrogate", None)  # kinds without mixtures have none
    if use is None:
        return None
    surrogate = load(use.name, use.version, settings.resolved_tracking_uri)
    primary = spec.goal.primary.name
    if surrogate.kind != "mixture" or surrogate.target != primary:
        raise ConfigError(
            f"surrogate.name {use.name!r} v{surrogate.version} predicts {surrogate.target} of "
            f"{surrogate.kind}s; allowed: a mixture surrogate of {primary!r}"
        )
    return surrogate


def choose_solvents(
    spec: ElectrolyteCampaign, surrogate: Surrogate, pool: int = 256
) -> tuple[ElectrolyteCampaign, list[dict[str, Any]]]:
    """The campaign narrowed to its best `surrogate.choose` solvents, and every option scored.

    Combinations whose bounds cannot sum to 1 (or that break a linear constraint's names) are
    skipped. The narrowed spec keeps `picks` and drops `choose`, so it is not screened again.
    """
    use = getattr(spec, "surrogate", None)
    if use is None or use.choose is None:
        return spec, []
    data = spec.model_dump(mode="json")
    maximize = spec.goal.primary.direction == "maximize"
    options: list[dict[str, Any]] = []
    for combination in itertools.combinations(data["solvents"], use.choose):
        try:
            sub = parse_campaign(data | {"solvents": list(combination)}, "a solvent combination")
        except ConfigError:
            continue
        drawn = [c.formulation for c in SobolPlanner(sub.space, sub.goal, spec.seed).ask(pool)]
        mean, std = mixture_scorer(surrogate, sub.space)(drawn)
        ucb = (mean if maximize else -mean) + use.kappa * std
        best = int(np.argmax(ucb))
        options.append(
            {
                "solvents": [s["name"] for s in combination],
                "mean": float(mean[best]),
                "std": float(std[best]),
                "ucb": float(ucb[best]),
                "formulation": drawn[best].model_dump(mode="json"),
            }
        )
    if not options:
        raise ConfigError(
            f"surrogate.choose {use.choose}: no combination of the campaign's solvents is a "
            "valid search space (bounds cannot sum to 1); allowed: looser bounds or more solvents"
        )
    options.sort(key=lambda o: -o["ucb"])
    chosen = set(options[0]["solvents"])
    narrowed = data | {
        "solvents": [s for s in data["solvents"] if s["name"] in chosen],
        "surrogate": data["surrogate"] | {"choose": None},
    }
    return parse_campaign(narrowed, "the screened campaign"), options
