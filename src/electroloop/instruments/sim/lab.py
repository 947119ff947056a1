"""A whole simulated bench on loopback: balance, one pump per stock, conductivity meter, and on
request the cell instruments (thermal chamber, SMU, cycler).

The composition root opens `resources()` with pyvisa-py exactly as it would open networked
hardware. Every pump has address 1 (one pump per stock bottle, each on its own link); its valve
port `INPUT_PORT` leads to the bottle and `OUTPUT_PORT` to the vial on the balance. All
simulators share one `SimClock`, and each takes the fault rules its lab file gives it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypeVar

from electroloop.instruments.sim.balance import BalanceServer
from electroloop.instruments.sim.bench import ConductivityModel, SimulatedBench
from electroloop.instruments.sim.chamber import ChamberServer
from electroloop.instruments.sim.clock import SimClock
from electroloop.instruments.sim.meter import MeterServer
from electroloop.instruments.sim.orion_meter import OrionMeterServer
from electroloop.instruments.sim.precise_flex import PreciseFlexServer
from electroloop.instruments.sim.pump import PumpServer
from electroloop.instruments.sim.server import FaultRule, LineServer
from electroloop.models import Stock

if TYPE_CHECKING:
    from electroloop.instruments.sim.cycler import CyclerServer
    from electroloop.instruments.sim.smu import SmuServer

DOSING_ROLES = ("balance", "pumps", "meter")
"""What a conductivity campaign needs; `thermal_chamber`, `smu` and `cycler` start on request."""

__all__ = ["SimulatedLab"]

_Server = TypeVar("_Server", bound=LineServer)


class SimulatedLab:
    """Starts every simulator on 127.0.0.1 around one `SimulatedBench`; `close()` stops all.

    `meter_driver` picks the meter's protocol: the SCPI meter, or ``"orion-a215"`` (Thermo
    Orion Star A215). Role ``"arm"`` starts a PreciseFlex arm that moves the bench's vials
    between the taught `arm_positions` (place -> x, y, z, yaw, pitch, roll).
    """

    INPUT_PORT = 1
    OUTPUT_PORT = 2

    def __init__(
        self,
        stocks: Sequence[Stock],
        temperature: float,
        conductivity_model: ConductivityModel,
        seed: int,
        *,
        clock: SimClock | None = None,
        roles: Collection[str] = DOSING_ROLES,
        faults: Mapping[str, Sequence[FaultRule]] | None = None,
        syringe_volume: float = 5.0,
        steps: int = 3000,
        ports: int = 6,
        capacity: float = 220.0,
        channels: int = 8,
        meter_driver: str = "scpi-conductivity",
        arm_positions: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        self.bench = SimulatedBench(stocks, temperature, conductivity_model, seed)
        self.clock = clock or SimClock()
        self._faults = faults or {}
        self._servers: list[LineServer] = []
        self.servers: dict[str, LineServer] = {}  # role (pumps: "pump-<stock>") -> simulator
        self.balance: BalanceServer | None = None
        self.meter: MeterServer | OrionMeterServer | None = None
        self.pumps: dict[str, PumpServer] = {}
        self.chamber: ChamberServer | None = None
        self.smu: SmuServer | None = None
        self.cycler: CyclerServer | None = None
        self.arm: PreciseFlexServer | None = None
        try:
            if "balance" in roles:
                self.balance = self._start(
                    "balance",
                    BalanceServer(
                        self.bench, serial=f"B{seed:09d}", capacity=capacity, clock=self.clock
                    ),
                )
            if "pumps" in roles:
                self.pumps = {
                    stock.name: self._start(
                        "pumps",
                        PumpServer(
                            self.bench,
                            stock.name,
                            syringe_volume=syringe_volume,
                            steps=steps,
                            ports=ports,
                            bottle_port=self.INPUT_PORT,
                            vial_port=self.OUTPUT_PORT,
                            clock=self.clock,
                        ),
                        f"pump-{stock.name}",
                    )
                    for stock in stocks
                }
            if "meter" in roles and meter_driver == "orion-a215":
                self.meter = self._start(
                    "meter", OrionMeterServer(self.bench, serial=f"X{seed:05d}", clock=self.clock)
                )
            elif "meter" in roles:
                self.meter = self._start(
                    "meter", MeterServer(self.bench, serial=f"CM{seed:06d}", clock=self.clock)
                )
            if "thermal_chamber" in roles:
                self.chamber = self._start(
                    "thermal_chamber",
                    ChamberServer(clock=self.clock, serial=f"TC{seed:06d}", seed=seed),
                )
            # The cell instruments import PyBaMM (for the OCV table) only when asked for.
            if "smu" in roles:
                from electroloop.instruments.sim.smu import SmuServer

                self.smu = self._start(
                    "smu", SmuServer(clock=self.clock, serial=f"{seed:08d}", seed=seed)
                )
            if "cycler" in roles:
                from electroloop.instruments.sim.cycler import CyclerServer

                self.cycler = self._start(
                    "cycler",
                    CyclerServer(channels, clock=self.clock, serial=f"CY{seed:06d}", seed=seed),
                )
            if "arm" in roles:  # after the balance: it takes the hand-fed bench's vial off the pan
                self.arm = self._start(
                    "arm",
                    PreciseFlexServer(self.bench, arm_positions or {}, clock=self.clock, seed=seed),
                )
        except BaseException:
            self.close()
            raise

    def _start(self, role: str, server: _Server, name: str | None = None) -> _Server:
        self._servers.append(server)
        self.servers[name or role] = server
        for rule in self._faults.get(role, ()):
            server.schedule(rule)
        return server

    def resources(self) -> dict[str, str]:
        """VISA resource name of every simulator, by role (pumps: ``pump-<stock>``)."""
        return {name: server.resource_name for name, server in self.servers.items()}

    @property
    def balance_resource(self) -> str:
        return self.servers["balance"].resource_name

    @property
    def pump_resources(self) -> dict[str, str]:
        return {name: server.resource_name for name, server in self.pumps.items()}

    @property
    def meter_resource(self) -> str:
        return self.servers["meter"].resource_name

    def close(self) -> None:
        """Stop every simulator (joins their threads, frees their ports). Idempotent."""
        self.clock.stop()
        while self._servers:
            self._servers.pop().close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
