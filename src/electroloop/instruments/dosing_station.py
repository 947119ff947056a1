"""Gravimetric dosing: syringe pumps deliver stock solutions into a vial on a balance.

The balance, not the pump, is the measurement: every stock is weighed after it is dosed and
the weighed masses are what the station reports. Nominal densities and a per-stock
calibration (weighed / pumped mass, learned from every dose) only size the volumetric passes;
weighed top-ups then correct for syringe error, density mismatch and drift. This is the usual
closed loop of gravimetric liquid dosing (e.g. Mettler-Toledo Quantos, Chemspeed GDU): a
conservative first pass, then top-ups for the weighed shortfall until within tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from electroloop.errors import DeviceFault, InstrumentError, LimitViolation
from electroloop.instruments.balance import MettlerToledoBalance
from electroloop.instruments.syringe_pump import PumpNotInitialized, PumpOverload, SyringePump
from electroloop.models import Stock

__all__ = ["DoseOutOfTolerance", "DosingChannel", "DosingError", "DosingStation"]

_PLAUSIBLE = (0.5, 1.5)  # weighed / pumped mass outside this: the liquid is not arriving


@dataclass(frozen=True)
class DosingChannel:
    """One stock bottle and the pump that draws from it (`input_port`) into the vial
    (`output_port`).

    `waste_port` (priming and rinsing go there) and `rinse_port` (a rinse-solvent reservoir)
    are optional; `prime_volume` (mL) fills the line from the bottle through the valve.
    """

    pump: SyringePump
    stock: Stock
    input_port: int
    output_port: int
    waste_port: int | None = None
    rinse_port: int | None = None
    prime_volume: float = 1.0


class DosingError(DeviceFault):
    """A dose went wrong after liquid moved; `dosed` holds every stock weighed so far (g)."""

    def __init__(
        self, message: str, *, stock: str, target: float, weighed: float, dosed: dict[str, float]
    ) -> None:
        super().__init__(message)
        self.stock = stock
        self.target = target
        self.weighed = weighed
        self.dosed = dosed


class DoseOutOfTolerance(DosingError):
    """The weighed mass is outside target ± tolerance after the allowed top-ups (or over it:
    liquid cannot be taken back out of the vial)."""


class DosingStation:
    """Doses target masses (g) of stocks into the vial on `balance`.

    Per stock: tare, deliver `first_pass` × target by volume (target / (nominal density ×
    calibration), in equal strokes no larger than the syringe), weigh; then up to
    `max_top_ups` weighed top-ups for the shortfall, each rounded to the nearest pump
    increment. A result outside target ± `tolerance` raises `DoseOutOfTolerance`.

    Stock bookkeeping: the bottle holds `Stock.initial_mass` minus what was weighed into vials
    (minus what was drawn, when a dose failed before it could be weighed) minus what priming
    drew; `taken` restores earlier withdrawals (e.g. replayed from a campaign log). A dose or
    prime that would leave less than `reserve` g (the pick-up tube's dead volume) is refused
    with `LimitViolation` before anything moves.
    """

    def __init__(
        self,
        balance: MettlerToledoBalance,
        channels: Mapping[str, DosingChannel],
        tolerance: float = 0.002,
        *,
        first_pass: float = 0.97,
        max_top_ups: int = 3,
        reserve: float = 0.0,
        taken: Mapping[str, float] | None = None,
    ) -> None:
        if not 0.0 < first_pass <= 1.0:
            raise LimitViolation(f"first_pass {first_pass}; allowed: 0 < first_pass <= 1")
        if not tolerance > 0.0:
            raise LimitViolation(f"tolerance {tolerance} g; allowed: > 0 g")
        if max_top_ups < 0 or not reserve >= 0.0:
            raise LimitViolation(
                f"max_top_ups {max_top_ups}, reserve {reserve} g; allowed: >= 0 each"
            )
        for name, channel in channels.items():
            _check_channel(name, channel, tolerance)
        self.balance = balance
        self.channels = dict(channels)
        self.tolerance = tolerance
        self.first_pass = first_pass
        self.max_top_ups = max_top_ups
        self.reserve = reserve
        taken = dict(taken or {})
        self._remaining = {
            name: channel.stock.initial_mass - taken.get(name, 0.0)
            for name, channel in self.channels.items()
        }
        self._calibration = dict.fromkeys(self.channels, 1.0)
        self._needs_prime: set[str] = set()
        self._needs_init: set[str] = set()  # pumps to initialise before their next dose

    @property
    def remaining(self) -> dict[str, float]:
        """Stock name -> mass left in the bottle by the station's bookkeeping, g."""
        return dict(self._remaining)

    @property
    def calibration(self) -> dict[str, float]:
        """Stock name -> weighed / pumped mass of its last dose (1.0 before the first)."""
        return dict(self._calibration)

    def initialize(self) -> None:
        """Home every pump (plunger and valve) so dosing starts from an empty syringe."""
        for channel in self.channels.values():
            channel.pump.initialize()

    def refill(self, stock: str, mass: float) -> None:
        """Book `mass` g poured into the bottle of `stock`."""
        self._channel(stock)
        if not math.isfinite(mass) or mass <= 0.0:
            raise LimitViolation(f"refill of {stock!r} is {mass} g; allowed: > 0 g")
        self._remaining[stock] += mass

    def shortfall(self, targets: Mapping[str, float]) -> dict[str, float]:
        """Stock name -> grams its bottle lacks for `targets` (with tolerance and reserve)."""
        missing: dict[str, float] = {}
        for name, target in targets.items():
            self._channel(name)
            grams = target + self.tolerance + self.reserve - self._remaining[name]
            if target > 0.0 and grams > 0.0:
                missing[name] = grams
        return missing

    def check(self, targets: Mapping[str, float]) -> None:
        """Raise `LimitViolation` if `targets` cannot be dosed; nothing moves."""
        for name, target in targets.items():
            self._channel(name)
            if not math.isfinite(target) or target < 0.0:
                raise LimitViolation(f"target for {name!r} is {target} g; allowed: >= 0 g")
            if target > 0.0 and name in self._needs_prime:
                raise LimitViolation(f"channel {name!r} was rinsed; prime({name!r}) first")
            self._check_stock(name, target + self.tolerance if target > 0.0 else 0.0)
        total = math.fsum(targets.values())
        if total > self.balance.capacity:
            raise LimitViolation(
                f"targets sum to {total} g; allowed: up to the balance capacity "
                f"{self.balance.capacity} g"
            )

    def dose(self, targets: Mapping[str, float]) -> dict[str, float]:
        """Dose every stock with a positive target; return stock name -> weighed grams.

        Raises `DosingError` (with what was weighed so far) if a dose fails its tolerance or
        the liquid does not arrive; instrument errors propagate after the bookkeeping, their
        message led by the stock being dosed (which pump, for whoever reads the failure; and
        two pumps failing once each are two faults, not one failing again).
        """
        self.check(targets)
        weighed: dict[str, float] = {}
        for name, target in targets.items():
            if target > 0.0:
                try:
                    weighed[name] = self._dose_one(name, target, weighed)
                except InstrumentError as exc:
                    if exc.args and isinstance(exc.args[0], str):
                        exc.args = (f"stock {name}: {exc.args[0]}", *exc.args[1:])
                    raise
        return weighed

    def prime(self, stock: str, volume: float | None = None, *, cycles: int = 1) -> None:
        """Fill the line and syringe with `stock`: draw `volume` mL (default the channel's
        `prime_volume`) from the bottle and push it to waste, `cycles` times."""
        channel = self._channel(stock)
        volume = channel.prime_volume if volume is None else volume
        waste = self._waste(channel, "prime")
        self._check_flush(volume, cycles, channel, "prime")
        self._check_stock(stock, volume * cycles * channel.stock.density)
        self._empty_syringe(channel, waste)
        for _ in range(cycles):
            self._flush(channel, channel.input_port, waste, volume, book=True)
        self._needs_prime.discard(stock)

    def rinse(self, stock: str, volume: float | None = None, *, cycles: int = 2) -> None:
        """Flush the syringe and valve of `stock`'s channel with rinse solvent to waste.

        Draws `volume` mL (default the channel's `prime_volume`) from `rinse_port` and pushes
        it to `waste_port`, `cycles` times. The channel then holds rinse solvent, so dosing it
        is refused until `prime(stock)`.
        """
        channel = self._channel(stock)
        volume = channel.prime_volume if volume is None else volume
        waste = self._waste(channel, "rinse")
        if channel.rinse_port is None:
            raise LimitViolation(f"channel {stock!r} has no rinse_port; cannot rinse")
        self._check_flush(volume, cycles, channel, "rinse")
        self._empty_syringe(channel, waste)
        self._needs_prime.add(stock)
        for _ in range(cycles):
            self._flush(channel, channel.rinse_port, waste, volume, book=False)

    # -- dosing --------------------------------------------------------------------------

    def _recover(self, name: str) -> None:
        """Initialise a pump that overloaded or lost its initialisation before its next dose:
        it refuses moves until then (XCalibur operating manual, error codes 7, 9 and 10), so
        one fault costs one trial, not the campaign. If the cause persists (a blocked line),
        initialisation fails and so does this dose."""
        if name in self._needs_init:
            self.channels[name].pump.initialize()
            self._needs_init.discard(name)

    def _dose_one(self, name: str, target: float, weighed: dict[str, float]) -> float:
        """Dose one stock, book it and add it to `weighed`; return the weighed grams."""
        channel = self.channels[name]
        drawn = [0.0]  # nominal grams drawn from the bottle: booked if the dose breaks off
        try:
            self._recover(name)
            self._empty_syringe(channel, channel.waste_port or channel.input_port)
            self.balance.tare()
            sent = self._deliver(channel, self.first_pass * target / self._calibration[name], drawn)
            mass = self.balance.weight(stable=True)
            for _ in range(self.max_top_ups):
                if target - mass <= self.tolerance or not _plausible(mass, sent):
                    break
                ratio = mass / sent if sent > 0.0 else self._calibration[name]
                pumped = self._deliver(channel, (target - mass) / ratio, drawn)
                if pumped == 0.0:
                    break  # the shortfall rounds to no increment
                sent += pumped
                mass = self.balance.weight(stable=True)
        except InstrumentError as exc:
            self._remaining[name] -= drawn[0]
            if isinstance(exc, (PumpOverload, PumpNotInitialized)):
                self._needs_init.add(name)
            raise
        weighed[name] = mass
        if not _plausible(mass, sent):
            self._remaining[name] -= max(mass, drawn[0])  # what left the bottle went somewhere
            raise DosingError(
                f"pumped {sent:.4f} g of {name!r} by volume but the balance weighed {mass:.4f} g "
                "(blocked or leaking line, air, or an empty bottle?)",
                stock=name,
                target=target,
                weighed=mass,
                dosed=dict(weighed),
            )
        self._remaining[name] -= mass
        if sent > 0.0:
            self._calibration[name] = mass / sent
        if abs(mass - target) > self.tolerance:
            raise DoseOutOfTolerance(
                f"dosed {mass:.4f} g of {name!r} for a target of {target:.4f} ± "
                f"{self.tolerance} g after at most {self.max_top_ups} top-ups",
                stock=name,
                target=target,
                weighed=mass,
                dosed=dict(weighed),
            )
        return mass

    def _deliver(self, channel: DosingChannel, mass: float, drawn: list[float]) -> float:
        """Pump `mass` g by volume in equal strokes; the nominal grams pumped (0: no increment)."""
        pump = channel.pump
        step_mass = pump.step_volume * channel.stock.density
        total = round(mass / step_mass)
        if total <= 0:
            return 0.0
        strokes = math.ceil(total / pump.steps)
        base, extra = divmod(total, strokes)
        for index in range(strokes):
            volume = (base + (1 if index < extra else 0)) * pump.step_volume
            pump.select_port(channel.input_port)
            pump.aspirate(volume)
            drawn[0] += volume * channel.stock.density
            pump.select_port(channel.output_port)
            pump.dispense(volume)
        return total * step_mass

    # -- priming and rinsing ---------------------------------------------------------------

    def _flush(
        self, channel: DosingChannel, source: int, waste: int, volume: float, *, book: bool
    ) -> None:
        """Move `volume` mL from port `source` to port `waste` in strokes of one syringe."""
        pump = channel.pump
        left = round(volume / pump.step_volume)
        while left > 0:
            steps = min(left, pump.steps)
            pump.select_port(source)
            pump.aspirate(steps * pump.step_volume)
            if book:
                self._remaining[channel.stock.name] -= (
                    steps * pump.step_volume * channel.stock.density
                )
            pump.select_port(waste)
            pump.dispense(steps * pump.step_volume)
            left -= steps

    def _empty_syringe(self, channel: DosingChannel, port: int) -> None:
        """Push out what a failed operation left in the syringe (it was booked as drawn)."""
        pump = channel.pump
        if pump.position() > 0.0:
            pump.select_port(port)
            pump.move_to(0.0)

    # -- checks ----------------------------------------------------------------------------

    def _channel(self, name: str) -> DosingChannel:
        if name not in self.channels:
            raise LimitViolation(f"unknown stock {name!r}; allowed: {sorted(self.channels)}")
        return self.channels[name]

    def _check_stock(self, name: str, mass: float) -> None:
        left = self._remaining[name]
        if mass > 0.0 and mass + self.reserve > left:
            raise LimitViolation(
                f"{name!r} needs {mass:.4f} g; allowed: up to the {left:.4f} g left in the "
                f"bottle less its {self.reserve} g reserve"
            )

    @staticmethod
    def _waste(channel: DosingChannel, verb: str) -> int:
        if channel.waste_port is None:
            raise LimitViolation(f"channel {channel.stock.name!r} has no waste_port; cannot {verb}")
        return channel.waste_port

    @staticmethod
    def _check_flush(volume: float, cycles: int, channel: DosingChannel, verb: str) -> None:
        if not math.isfinite(volume) or volume < channel.pump.step_volume:
            raise LimitViolation(
                f"{verb} volume {volume} mL; allowed: at least one increment "
                f"({channel.pump.step_volume:.6f} mL)"
            )
        if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 1:
            raise LimitViolation(f"{verb} cycles {cycles!r}; allowed: an integer >= 1")


def _plausible(mass: float, sent: float) -> bool:
    """Whether the balance saw roughly what was pumped; far more or less means a blocked or
    leaking line, air in the syringe or an empty bottle, which more pumping would not fix."""
    return sent <= 0.0 or _PLAUSIBLE[0] <= mass / sent <= _PLAUSIBLE[1]


def _check_channel(name: str, channel: DosingChannel, tolerance: float) -> None:
    """Refuse a channel that cannot work: wrong stock, missing or shared ports, a tolerance
    finer than half a pump increment (no top-up could ever reach it)."""
    if name != channel.stock.name:
        raise LimitViolation(f"channel {name!r} holds stock {channel.stock.name!r}")
    ports = [channel.input_port, channel.output_port, channel.waste_port, channel.rinse_port]
    used = [port for port in ports if port is not None]
    for port in used:
        if not 1 <= port <= channel.pump.ports:
            raise LimitViolation(f"channel {name!r} port {port}; allowed: 1..{channel.pump.ports}")
    if len(set(used)) != len(used):
        raise LimitViolation(f"channel {name!r} uses ports {used}; allowed: distinct ports")
    if not channel.prime_volume > 0.0:
        raise LimitViolation(f"channel {name!r} prime_volume {channel.prime_volume} mL; > 0")
    half_increment = channel.pump.step_volume * channel.stock.density / 2
    if tolerance < half_increment:
        raise LimitViolation(
            f"tolerance {tolerance} g is finer than half an increment of {name!r} "
            f"({half_increment:.5f} g); allowed: >= {half_increment:.5f} g"
        )
