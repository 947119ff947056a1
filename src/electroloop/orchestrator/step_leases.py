"""Leases per step of a trial: a step holds its instruments while it runs, not the campaign.

Campaigns that share a bench then take turns step by step: while one measures, another doses.
A step names its instruments (`StepLeases.steps`, step name -> instrument addresses) and holds
them through `hold` (a flow waits its turn in `orchestrator.lease_queue`; without a flow nothing
is leased). If the instruments were taken over from a holder that died, `on_takeover` hears
their dead leases first, so the step reconciles them before it moves anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

from electroloop.orchestrator.leases import Lease

LeaseHook = Callable[[Sequence[str]], AbstractContextManager[Mapping[str, Lease]]]
"""Holds the instrument addresses given for a `with` block (waiting its turn); yields
address -> lease taken over from a holder that died."""

DOSE = "dose"
MEASURE = "measure"


@contextmanager
def unleased(resources: Sequence[str]) -> Iterator[Mapping[str, Lease]]:
    """Nothing to hold: a campaign run outside a flow has its bench to itself."""
    yield {}


@dataclass(frozen=True)
class StepLeases:
    """Which instruments each step holds, and how (see the module docstring)."""

    hold: LeaseHook = unleased
    steps: Mapping[str, Sequence[str]] = field(default_factory=dict)
    on_takeover: Callable[[Mapping[str, Lease]], None] | None = None

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Hold step `name`'s instruments for the `with` block (none named: hold nothing)."""
        resources = self.steps.get(name, ())
        if not resources:
            yield
            return
        with self.hold(resources) as left:
            if left and self.on_takeover is not None:
                self.on_takeover(left)
            yield
