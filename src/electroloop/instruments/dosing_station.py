"""Gravimetric dosing: syringe pumps deliver stock solutions into a vial on a balance.

The balance, not the pump, is the measurement: every stock is weighed after it is dosed and
the weighed masses are what the station reports. Nominal densities only size the volumetric
first pass; a weighed top-up then corrects for syringe error and density mismatch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from electroloop.errors import LimitViolation
from electroloop.instruments.balance import MettlerToledoBalance
from electroloop.instruments.syringe_pump import SyringePump
from electroloop.models import Stock

__all__ = ["DosingChannel", "DosingStation"]


@dataclass(frozen=True)
class DosingChannel:
    """One stock bottle and the pump that draws from it (`input_port`) into the vial
    (`output_port`)."""

    pump: SyringePump
    stock: Stock
    input_port: int
    output_port: int


class DosingStation:
    """Doses target masses (g) of stocks into the vial on `balance`.

    Per stock: tare, deliver `first_pass` × target by volume (target / nominal density, in
    equal strokes no larger than the syringe), weigh, then one top-up stroke for the weighed
    shortfall if it exceeds `tolerance`; the top-up is rounded to the nearest pump increment,
    so it aims at most half an increment above the target. Remaining stock is booked from
    `Stock.initial_mass` minus what was weighed (`taken` restores earlier withdrawals, e.g.
    replayed from a campaign log).
    """

    def __init__(
        self,
        balance: MettlerToledoBalance,
        channels: Mapping[str, DosingChannel],
        tolerance: float = 0.002,
        *,
        first_pass: float = 0.99,
        taken: Mapping[str, float] | None = None,
    ) -> None:
        if not 0.0 < first_pass <= 1.0:
            raise LimitViolation(f"first_pass {first_pass}; allowed: 0 < first_pass <= 1")
        if tolerance <= 0.0:
            raise LimitViolation(f"tolerance {tolerance} g; allowed: > 0 g")
        for name, channel in channels.items():
            if name != channel.stock.name:
                raise LimitViolation(f"channel {name!r} holds stock {channel.stock.name!r}")
            for port in (channel.input_port, channel.output_port):
                if not 1 <= port <= channel.pump.ports:
                    raise LimitViolation(
                        f"channel {name!r} port {port}; allowed: 1..{channel.pump.ports}"
                    )
        self.balance = balance
        self.channels = dict(channels)
        self.tolerance = tolerance
        self.first_pass = first_pass
        taken = dict(taken or {})
        self._remaining = {
            name: channel.stock.initial_mass - taken.get(name, 0.0)
            for name, channel in self.channels.items()
        }

    @property
    def remaining(self) -> dict[str, float]:
        """Stock name -> mass left in the bottle by the station's bookkeeping, g."""
        return dict(self._remaining)

    def initialize(self) -> None:
        """Home every pump (plunger and valve) so dosing starts from an empty syringe."""
        for channel in self.channels.values():
            channel.pump.initialize()

    def check(self, targets: Mapping[str, float]) -> None:
        """Raise `LimitViolation` if `targets` cannot be dosed; nothing moves."""
        for name, target in targets.items():
            if name not in self.channels:
                raise LimitViolation(f"unknown stock {name!r}; allowed: {sorted(self.channels)}")
            if not math.isfinite(target) or target < 0.0:
                raise LimitViolation(f"target for {name!r} is {target} g; allowed: >= 0 g")
            if target > self._remaining[name]:
                raise LimitViolation(
                    f"target for {name!r} is {target} g; allowed: up to the "
                    f"{self._remaining[name]:.4f} g left in the bottle"
                )
        total = math.fsum(targets.values())
        if total > self.balance.capacity:
            raise LimitViolation(
                f"targets sum to {total} g; allowed: up to the balance capacity "
                f"{self.balance.capacity} g"
            )

    def dose(self, targets: Mapping[str, float]) -> dict[str, float]:
        """Dose every stock with a positive target; return stock name -> weighed grams."""
        self.check(targets)
        weighed: dict[str, float] = {}
        for name, target in targets.items():
            if target > 0.0:
                weighed[name] = self._dose_one(self.channels[name], target)
                self._remaining[name] -= weighed[name]
        return weighed

    def _dose_one(self, channel: DosingChannel, target: float) -> float:
        self.balance.tare()
        self._deliver(channel, self.first_pass * target)
        mass = self.balance.weight(stable=True)
        shortfall = target - mass
        if shortfall > self.tolerance and self._deliver(channel, shortfall):
            mass = self.balance.weight(stable=True)
        return mass

    def _deliver(self, channel: DosingChannel, mass: float) -> bool:
        """Pump `mass` g by volume in equal strokes; False if it rounds to no increment."""
        pump = channel.pump
        step_mass = pump.step_volume * channel.stock.density
        total = round(mass / step_mass)
        if total <= 0:
            return False
        strokes = math.ceil(total / pump.steps)
        base, extra = divmod(total, strokes)
        for index in range(strokes):
            steps = base + (1 if index < extra else 0)
            volume = steps * pump.step_volume
            pump.select_port(channel.input_port)
            pump.aspirate(volume)
            pump.select_port(channel.output_port)
            pump.dispense(volume)
        return True
